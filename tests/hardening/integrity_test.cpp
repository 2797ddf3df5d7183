// Integrity: a corrupted or tampered file is refused, never loaded silently. Every case builds its
// hostile file from a golden file written by Keras (tests/golden) with a small STORED-zip writer
// below, whose untampered output loads (the control cases), so each refusal is caused by the one
// thing changed. CRC values come from zlib; HDF5 files with a user block from libhdf5.
#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>
#include <zlib.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "hardening_support.hpp"
#include "io/crc32.hpp"
#include "kserde/error.hpp"
#include "kserde/hdf5/reader.hpp"
#include "kserde/io/archive.hpp"
#include "kserde/io/mapped_file.hpp"
#include "kserde/model.hpp"
#include "kserde/saving.hpp"
#include "ops/thread_pool.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

std::uint32_t zlib_crc(const std::string& s) {
  return static_cast<std::uint32_t>(
      ::crc32_z(0, reinterpret_cast<const Bytef*>(s.data()), s.size()));
}

// One STORED member and every field a hostile writer might set.
struct Member {
  std::string name;
  std::string data;
  std::uint16_t flags = 0;                   // central directory flags
  std::optional<std::uint16_t> local_flags;  // default: the central ones
  std::uint16_t made_by = (3u << 8) | 20;    // Unix, as Python's zipfile on Linux
  std::uint32_t external = 0100600u << 16;   // regular file, 0600
  std::optional<std::uint32_t> crc;          // both headers; default: the true CRC
  std::optional<std::uint32_t> descriptor_crc;
  bool descriptor = false;  // sizes and CRC after the data (flag bit 3)
};

void put16(std::string& s, unsigned v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}

std::string make_stored_zip(const std::vector<Member>& members) {
  std::string out, central;
  for (Member m : members) {
    if (m.descriptor) m.flags |= 8;
    const std::uint32_t crc = m.crc.value_or(zlib_crc(m.data));
    const auto size = static_cast<std::uint32_t>(m.data.size());
    const auto offset = static_cast<std::uint32_t>(out.size());
    put32(out, 0x04034b50);
    put16(out, 20);
    put16(out, m.local_flags.value_or(m.flags));
    put16(out, 0);
    put16(out, 0);
    put16(out, 0x21);
    put32(out, m.descriptor ? 0 : crc);
    put32(out, m.descriptor ? 0 : size);
    put32(out, m.descriptor ? 0 : size);
    put16(out, static_cast<unsigned>(m.name.size()));
    put16(out, 0);
    out += m.name;
    out += m.data;
    if (m.descriptor) {
      put32(out, 0x08074b50);
      put32(out, m.descriptor_crc.value_or(crc));
      put32(out, size);
      put32(out, size);
    }
    put32(central, 0x02014b50);
    put16(central, m.made_by);
    put16(central, 20);
    put16(central, m.flags);
    put16(central, 0);
    put16(central, 0);
    put16(central, 0x21);
    put32(central, crc);
    put32(central, size);
    put32(central, size);
    put16(central, static_cast<unsigned>(m.name.size()));
    put16(central, 0);
    put16(central, 0);
    put16(central, 0);
    put16(central, 0);
    put32(central, m.external);
    put32(central, offset);
    central += m.name;
  }
  const auto cd_offset = static_cast<std::uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<unsigned>(members.size()));
  put16(out, static_cast<unsigned>(members.size()));
  put32(out, static_cast<std::uint32_t>(central.size()));
  put32(out, cd_offset);
  put16(out, 0);
  return out;
}

std::string member_of(const fs::path& keras, const std::string& name) {
  const auto zip = io::ArchiveReader::open(keras);
  const auto src = zip.member(name);
  return {reinterpret_cast<const char*>(src.bytes.data()), src.bytes.size()};
}

fs::path golden_mlp() {
  return test::golden_dir() / "mlp" / "model.keras";
}

// The golden MLP's three members, as Keras wrote them.
std::vector<Member> mlp_members() {
  std::vector<Member> m(3);
  m[0].name = "metadata.json";
  m[1].name = "config.json";
  m[2].name = "model.weights.h5";
  for (Member& x : m) x.data = member_of(golden_mlp(), x.name);
  return m;
}

fs::path write_keras(const test::TempDir& tmp, const std::string& file,
                     const std::vector<Member>& members) {
  const fs::path p = tmp / file;
  test::write_bytes(p, make_stored_zip(members));
  return p;
}

template <class E>
std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION: ") + e.what();
  }
  return "NO EXCEPTION";
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The first float of the first Dense kernel, as loaded from the golden file.
float first_kernel_value(const Model& m) {
  for (const auto& l : m.layers()) {
    if (!l->variables().empty()) return l->variables()[0].value.values<float>()[0];
  }
  throw std::runtime_error("no variables");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(integrity)

// ---- CRC-32 ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(crc32_kernels_agree_with_zlib_for_every_length_and_alignment) {
  std::mt19937 rng(7);
  std::vector<std::byte> buf(5000);
  for (auto& b : buf) b = static_cast<std::byte>(rng());
  int bad = 0;
  for (std::size_t align = 0; align < 64; align += 5) {
    for (std::size_t n = 0; n + align <= buf.size(); n += (n < 1100 ? 1 : 37)) {
      const std::span<const std::byte> s(buf.data() + align, n);
      const std::uint32_t init = (n % 3 == 0) ? 0u : static_cast<std::uint32_t>(rng());
      const auto want = static_cast<std::uint32_t>(
          ::crc32_z(init, reinterpret_cast<const Bytef*>(s.data()), s.size()));
      bad += io::detail::crc32_pclmul(s, init) != want;
      bad += io::detail::crc32_vpclmul(s, init) != want;
      bad += io::crc32(s, init) != want;
    }
  }
  BOOST_TEST(bad == 0);
  BOOST_TEST_MESSAGE("crc32 kernel on this machine: " << io::crc32_kernel());
  // The standard check value of CRC-32/ISO-HDLC.
  const std::string nine = "123456789";
  BOOST_TEST(io::crc32(std::as_bytes(std::span(nine.data(), nine.size()))) == 0xCBF43926u);
}

BOOST_AUTO_TEST_CASE(crc32_parallel_matches_zlib_for_any_thread_count) {
  std::vector<std::byte> big((std::size_t{37} << 20) + 12345);
  std::mt19937_64 rng(3);
  for (std::size_t i = 0; i < big.size(); i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(big.data() + i, &v, std::min<std::size_t>(8, big.size() - i));
  }
  const auto want = static_cast<std::uint32_t>(
      ::crc32_z(0, reinterpret_cast<const Bytef*>(big.data()), big.size()));
  const std::size_t before = ops::num_threads();
  for (std::size_t threads : {1, 2, 3, 8}) {
    ops::set_num_threads(threads);
    BOOST_TEST(io::crc32_parallel(big) == want, "threads " << threads);
  }
  ops::set_num_threads(before);
}

BOOST_AUTO_TEST_CASE(crc32_of_a_file_range_matches_zlib_and_notices_a_short_file) {
  test::TempDir tmp;
  std::string bytes((std::size_t{9} << 20) + 4321, '\0');
  std::mt19937 rng(11);
  for (char& c : bytes) c = static_cast<char>(rng());
  test::write_bytes(tmp / "f.bin", bytes);
  const int fd = ::open((tmp / "f.bin").c_str(), O_RDONLY);
  BOOST_REQUIRE(fd >= 0);
  const std::size_t before = ops::num_threads();
  for (std::size_t threads : {1, 2}) {
    ops::set_num_threads(threads);
    for (const auto& [off, len] : {std::pair<std::size_t, std::size_t>{0, bytes.size()},
                                   {123, bytes.size() - 200}, {7, 0}, {5000, 100}}) {
      const auto want = static_cast<std::uint32_t>(
          ::crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data() + off), len));
      const auto got = io::crc32_of_file(fd, off, len);
      BOOST_TEST((got && *got == want), "offset " << off << " length " << len);
    }
    BOOST_TEST(!io::crc32_of_file(fd, 100, bytes.size()).has_value());  // past the end
  }
  ops::set_num_threads(before);
  ::close(fd);
}

BOOST_AUTO_TEST_CASE(the_rebuilt_golden_archive_loads_so_each_case_below_changes_one_thing) {
  test::TempDir tmp;
  auto plain = write_keras(tmp, "plain.keras", mlp_members());
  auto golden = load_model(golden_mlp());
  BOOST_TEST(first_kernel_value(*load_model(plain)) == first_kernel_value(*golden));
  auto with_descriptor = mlp_members();
  for (Member& m : with_descriptor) m.descriptor = true;
  BOOST_CHECK_NO_THROW(load_model(write_keras(tmp, "dd.keras", with_descriptor)));
  // kserde's own writer passes every check too.
  save_model(*golden, tmp / "resaved.keras");
  BOOST_TEST(first_kernel_value(*load_model(tmp / "resaved.keras")) == first_kernel_value(*golden));
}

BOOST_AUTO_TEST_CASE(a_flipped_weight_byte_is_refused_on_every_load_path) {
  test::TempDir tmp;
  auto members = mlp_members();
  const std::uint32_t true_crc = zlib_crc(members[2].data);
  // Flip the lowest mantissa bit of the first kernel value: the HDF5 structure stays valid and
  // the file would load with a silently different weight.
  const float w = first_kernel_value(*load_model(golden_mlp()));
  std::string pattern(4, '\0');
  std::memcpy(pattern.data(), &w, 4);
  const std::size_t at = members[2].data.find(pattern);
  BOOST_REQUIRE(at != std::string::npos);
  members[2].data[at] = static_cast<char>(members[2].data[at] ^ 1);
  members[2].crc = true_crc;  // as written before the damage
  const fs::path bad = write_keras(tmp, "flipped.keras", members);

  for (bool mmap : {false, true}) {
    LoadOptions o;
    o.mmap_weights = mmap;
    const std::string msg = message_of<FormatError>([&] { load_model(bad, o); });
    BOOST_TEST(has(msg, "flipped.keras!model.weights.h5"), msg);
    BOOST_TEST(has(msg, "CRC-32 mismatch"), msg);
    BOOST_TEST(test::count_lines(msg) == 0);
  }
  auto model = load_model(golden_mlp());
  BOOST_CHECK_THROW(load_weights(*model, bad), FormatError);

  // Without the check the file loads, and the weight is wrong: what verification prevents.
  LoadOptions trusting;
  trusting.verify_checksums = false;
  BOOST_TEST(first_kernel_value(*load_model(bad, trusting)) != w);

  // The command line: convert refuses with one line and writes nothing.
  const auto r =
      test::run_child({KSERDE_CLI, "convert", bad.string(), (tmp / "out.keras").string()},
                      tmp.path(), std::chrono::seconds(60));
  BOOST_TEST(r.status == 1);
  BOOST_TEST(test::count_lines(r.err) == 1);
  BOOST_TEST(has(r.err, "CRC-32"), r.err);
  BOOST_TEST(!fs::exists(tmp / "out.keras"));
}

BOOST_AUTO_TEST_CASE(a_wrong_crc_on_config_json_is_refused) {
  test::TempDir tmp;
  auto members = mlp_members();
  members[1].crc = zlib_crc(members[1].data) ^ 0x00010000u;
  const std::string msg =
      message_of<FormatError>([&] { load_model(write_keras(tmp, "c.keras", members)); });
  BOOST_TEST(has(msg, "c.keras!config.json"), msg);
  BOOST_TEST(has(msg, "CRC-32 mismatch"), msg);
}

BOOST_AUTO_TEST_CASE(a_data_descriptor_crc_that_disagrees_is_refused) {
  test::TempDir tmp;
  auto members = mlp_members();
  members[2].descriptor = true;
  members[2].descriptor_crc = zlib_crc(members[2].data) + 1;
  const std::string msg =
      message_of<FormatError>([&] { load_model(write_keras(tmp, "d.keras", members)); });
  BOOST_TEST(has(msg, "d.keras!model.weights.h5"), msg);
  BOOST_TEST(has(msg, "data descriptor"), msg);
}

// ---- zip entries a model file never holds
// --------------------------------------------------------

BOOST_AUTO_TEST_CASE(device_fifo_and_link_entries_are_refused) {
  test::TempDir tmp;
  const std::pair<std::uint32_t, const char*> kinds[] = {{0020644u, "character device"},
                                                         {0060644u, "block device"},
                                                         {0010644u, "FIFO"},
                                                         {0120777u, "symbolic link"},
                                                         {0140644u, "socket"}};
  for (const auto& [mode, word] : kinds) {
    auto members = mlp_members();
    members.push_back({});
    members.back().name = "assets/thing";
    members.back().external = mode << 16;
    const std::string msg =
        message_of<FormatError>([&] { load_model(write_keras(tmp, "dev.keras", members)); });
    BOOST_TEST(has(msg, "dev.keras!assets/thing"), msg);
    BOOST_TEST(has(msg, word), msg);
  }
  // Controls: a regular file, and an archive made on a system without Unix modes.
  auto members = mlp_members();
  members.push_back({});
  members.back().name = "assets/thing";
  members.back().external = 0100644u << 16;
  BOOST_CHECK_NO_THROW(load_model(write_keras(tmp, "reg.keras", members)));
  members.back().made_by = 20;  // MS-DOS: the high attribute bits mean nothing
  members.back().external = 0020644u << 16;
  BOOST_CHECK_NO_THROW(load_model(write_keras(tmp, "dos.keras", members)));
}

BOOST_AUTO_TEST_CASE(the_encryption_flag_in_the_central_directory_is_refused) {
  test::TempDir tmp;
  for (std::uint16_t flag : {std::uint16_t{1}, std::uint16_t{1u << 6}, std::uint16_t{1u << 13}}) {
    auto members = mlp_members();
    members[1].flags = flag;
    members[1].local_flags = 0;  // only the central directory says so
    const std::string msg =
        message_of<UnsupportedError>([&] { load_model(write_keras(tmp, "e.keras", members)); });
    BOOST_TEST(has(msg, "e.keras!config.json"), msg);
    BOOST_TEST(has(msg, "encrypted"), msg);
  }
  auto members = mlp_members();
  members[1].local_flags = 1;  // only the local header says so
  const std::string msg =
      message_of<FormatError>([&] { load_model(write_keras(tmp, "l.keras", members)); });
  BOOST_TEST(has(msg, "disagree on encryption"), msg);
}

BOOST_AUTO_TEST_CASE(a_name_flagged_utf8_that_is_not_is_refused) {
  test::TempDir tmp;
  for (const std::string bad : {"assets/\xff.txt", "assets/\xc0\xaf.txt", "assets/\xed\xa0\x80.txt",
                                "assets/\xe2\x82.txt"}) {
    auto members = mlp_members();
    members.push_back({});
    members.back().name = bad;
    members.back().flags = 1u << 11;
    const std::string msg =
        message_of<FormatError>([&] { load_model(write_keras(tmp, "u.keras", members)); });
    BOOST_TEST(has(msg, "not valid UTF-8"), msg);
  }
  auto members = mlp_members();
  members.push_back({});
  members.back().name = "assets/caf\xc3\xa9.txt";
  members.back().flags = 1u << 11;
  BOOST_CHECK_NO_THROW(load_model(write_keras(tmp, "ok.keras", members)));
}

// ---- JSON
// ----------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(duplicate_json_keys_are_refused) {
  test::TempDir tmp;
  const std::string config = member_of(golden_mlp(), "config.json");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string c = config;
    const std::size_t at = c.find(from);
    BOOST_REQUIRE(at != std::string::npos);
    return c.replace(at, from.size(), to);
  };
  const std::pair<std::string, std::string> cases[] = {
      {with(R"("class_name": "Sequential")",
            R"("class_name": "Sequential", "class_name": "Functional")"),
       "'class_name'"},
      {with(R"("layers": [)", R"("layers": [], "layers": [)"), "'layers'"},
      {with(R"("units": 32,)", R"("units": 32, "units": 4,)"), "'units'"},
  };
  for (const auto& [text, key] : cases) {
    const std::string msg = message_of<ConfigError>([&] { model_from_json(text); });
    BOOST_TEST(has(msg, key + " appears twice"), msg);
    auto members = mlp_members();
    members[1].data = text;
    const std::string file_msg =
        message_of<ConfigError>([&] { load_model(write_keras(tmp, "dup.keras", members)); });
    BOOST_TEST(has(file_msg, "dup.keras!config.json"), file_msg);
    BOOST_TEST(has(file_msg, "appears twice"), file_msg);
  }
  // Objects with many keys take the sorted path.
  std::string many = "{";
  for (int i = 0; i < 40; ++i) many += "\"k" + std::to_string(i) + "\": 1, ";
  BOOST_TEST(has(message_of<ConfigError>([&] { parse_json(many + "\"k7\": 2}", "big.json"); }),
                 "'k7' appears twice"));
  BOOST_CHECK_NO_THROW(parse_json(many + "\"k40\": 2}", "big.json"));
}

namespace {

std::string input_then(const std::string& batch_shape, const std::string& layers) {
  return R"({"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [)"
         R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": )" +
         batch_shape + R"(, "dtype": "float32", "name": "in"}, "registered_name": null})" + layers +
         "]}}";
}

const char* kRelu =
    R"(, {"module": "keras.layers", "class_name": "Activation", "config": {"name": "act", "activation": "relu"}})";

std::string dense(const std::string& name, int units, const std::string& build_shape,
                  const std::string& extra = "") {
  return R"(, {"module": "keras.layers", "class_name": "Dense", "config": {"name": ")" + name +
         R"(", "units": )" + std::to_string(units) + R"(}, "registered_name": null)" + extra +
         R"(, "build_config": {"input_shape": )" + build_shape + "}}";
}

}  // namespace

BOOST_AUTO_TEST_CASE(input_shapes_that_cannot_be_computed_are_refused_at_load) {
  std::string rank_100000 = "[null";
  for (int i = 0; i < 100000; ++i) rank_100000 += ", 1";
  rank_100000 += "]";
  for (const std::string& shape :
       {std::string("[null, 1000000000000]"), std::string("[null, 2147483648]"),
        std::string("[null, 65536, 32768]"), rank_100000}) {
    const std::string msg =
        message_of<LimitError>([&] { model_from_json(input_then(shape, kRelu)); });
    BOOST_TEST(has(msg, "InputLayer 'in'"), msg.substr(0, 300));
    BOOST_TEST((has(msg, "2147483647") || has(msg, "rank 100001")), msg.substr(0, 300));
  }
  // The same limits hold for build_config shapes.
  BOOST_CHECK_THROW(model_from_json(input_then("[null, 4]", dense("d", 2, "[null, 4294967296]"))),
                    LimitError);
  // Just inside the limit: 46340 * 46340 < 2^31.
  BOOST_CHECK_NO_THROW(model_from_json(input_then("[null, 46340, 46340]", kRelu)));
}

BOOST_AUTO_TEST_CASE(layer_names_with_a_slash_are_refused) {
  const std::string msg = message_of<ConfigError>(
      [&] { model_from_json(input_then("[null, 4]", dense("a/b", 2, "[null, 4]"))); });
  BOOST_TEST(has(msg, "'a/b'"), msg);
  BOOST_TEST(has(msg, "cannot contain '/'"), msg);
}

BOOST_AUTO_TEST_CASE(duplicate_layer_names_are_refused) {
  const std::string seq =
      input_then("[null, 4]", dense("d", 4, "[null, 4]") + dense("d", 2, "[null, 4]"));
  BOOST_TEST(has(message_of<ConfigError>([&] { model_from_json(seq); }), "\"d\" is used 2 times"));
  const std::string functional =
      R"({"module": "keras", "class_name": "Functional", "config": {"name": "f", "layers": [
    {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 4], "dtype": "float32", "name": "in"}, "name": "in", "inbound_nodes": []},
    {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 4}, "name": "d", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 4], "dtype": "float32", "keras_history": ["in", 0, 0]}}], "kwargs": {}}]},
    {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 4}, "name": "d", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 4], "dtype": "float32", "keras_history": ["in", 0, 0]}}], "kwargs": {}}]}],
    "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}})";
  BOOST_TEST(has(message_of<ConfigError>([&] { model_from_json(functional); }), "is used 2 times"));
}

BOOST_AUTO_TEST_CASE(two_layers_sharing_one_shared_object_id_are_refused) {
  const std::string json =
      input_then("[null, 4]", dense("d1", 4, "[null, 4]", R"(, "shared_object_id": 1407)") +
                                  dense("d2", 2, "[null, 4]", R"(, "shared_object_id": 1407)"));
  const std::string msg = message_of<ConfigError>([&] { model_from_json(json); });
  BOOST_TEST(has(msg, "shared_object_id 1407"), msg);
  BOOST_TEST(has(msg, "'d2'"), msg);
}

BOOST_AUTO_TEST_CASE(a_functional_model_without_outputs_is_refused) {
  const std::string json =
      R"({"module": "keras", "class_name": "Functional", "config": {"name": "f", "layers": [
    {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 4], "dtype": "float32", "name": "in"}, "name": "in", "inbound_nodes": []}],
    "input_layers": [["in", 0, 0]], "output_layers": []}})";
  const std::string msg = message_of<ConfigError>([&] { model_from_json(json); });
  BOOST_TEST(has(msg, "model 'f'"), msg);
  BOOST_TEST(has(msg, "no outputs"), msg);
}

BOOST_AUTO_TEST_CASE(a_build_config_that_contradicts_the_layer_input_is_refused) {
  const std::string msg = message_of<ConfigError>(
      [&] { model_from_json(input_then("[null, 4]", dense("d", 2, "[null, 8]"))); });
  BOOST_TEST(has(msg, "Dense 'd'"), msg);
  BOOST_TEST(has(msg, "(None, 8)"), msg);
  BOOST_TEST(has(msg, "(None, 4)"), msg);
  const std::string functional =
      R"({"module": "keras", "class_name": "Functional", "config": {"name": "f", "layers": [
    {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 4], "dtype": "float32", "name": "in"}, "name": "in", "inbound_nodes": []},
    {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 4}, "build_config": {"input_shape": [null, 3]}, "name": "d", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 4], "dtype": "float32", "keras_history": ["in", 0, 0]}}], "kwargs": {}}]}],
    "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}})";
  BOOST_TEST(has(message_of<ConfigError>([&] { model_from_json(functional); }), "(None, 3)"));
  // Control: the same model with the right build shape loads.
  BOOST_CHECK_NO_THROW(model_from_json(input_then("[null, 4]", dense("d", 2, "[null, 4]"))));
}

// ---- HDF5
// ----------------------------------------------------------------------------------------

namespace {

// A libhdf5 file holding dataset "x" = [1, 2, 3, 4] (float32, contiguous); its data address.
std::uint64_t write_small_h5(const fs::path& p) {
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t dims[1] = {4};
  const hid_t space = H5Screate_simple(1, dims, nullptr);
  const hid_t ds = H5Dcreate2(f, "x", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const float v[4] = {1, 2, 3, 4};
  H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  const haddr_t addr = H5Dget_offset(ds);
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(f);
  return addr;
}

// Copies every object under the root of `from` into a new file with a user block of `block`
// bytes (superblock version 0, or the latest format when `latest`).
void copy_with_user_block(const fs::path& from, const fs::path& to, hsize_t block, bool latest) {
  const hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_userblock(fcpl, block);
  const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (latest) H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  const hid_t dst = H5Fcreate(to.c_str(), H5F_ACC_TRUNC, fcpl, fapl);
  const hid_t src = H5Fopen(from.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  H5G_info_t info;
  H5Gget_info(src, &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char name[256];
    H5Lget_name_by_idx(src, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
    H5Ocopy(src, name, dst, name, H5P_DEFAULT, H5P_DEFAULT);
  }
  H5Fclose(src);
  H5Fclose(dst);
  H5Pclose(fapl);
  H5Pclose(fcpl);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_contiguous_size_claiming_2_to_the_40_bytes_is_refused) {
  test::TempDir tmp;
  const fs::path p = tmp / "small.h5";
  const std::uint64_t addr = write_small_h5(p);
  {
    auto f = hdf5::File::open(io::map_file(p));
    std::vector<float> got(4);
    f.root().dataset("x").read(std::as_writable_bytes(std::span(got)), DType::Float32);
    BOOST_TEST(got == (std::vector<float>{1, 2, 3, 4}), boost::test_tools::per_element());
  }
  // The layout message (version 3, class 1 = contiguous): address (8) | size (8).
  std::string bytes = test::read_bytes(p);
  std::string pattern = "\x03\x01";
  for (int i = 0; i < 8; ++i) pattern += static_cast<char>((addr >> (8 * i)) & 0xff);
  for (int i = 0; i < 8; ++i) pattern += static_cast<char>(i == 0 ? 16 : 0);
  const std::size_t at = bytes.find(pattern);
  BOOST_REQUIRE(at != std::string::npos);
  bytes[at + 10] = 0;
  bytes[at + 15] = 1;  // 2^40
  test::write_bytes(p, bytes);
  auto src = io::map_file(p);
  src.file_name = p.string();
  const std::string msg =
      message_of<FormatError>([&] { (void)hdf5::File::open(std::move(src)).root().dataset("x"); });
  BOOST_TEST(has(msg, "small.h5: /x"), msg);
  BOOST_TEST(has(msg, "1099511627776 bytes for 16 bytes"), msg);
}

BOOST_AUTO_TEST_CASE(hdf5_files_with_a_user_block_load) {
  test::TempDir tmp;
  const fs::path golden_weights = test::golden_dir() / "mlp" / "model.weights.h5";
  auto reference = load_model(golden_mlp());
  for (const auto& [block, latest] :
       {std::pair<hsize_t, bool>{512, false}, {1024, true}, {4096, false}}) {
    const fs::path ub = tmp / ("ub" + std::to_string(block) + ".weights.h5");
    copy_with_user_block(golden_weights, ub, block, latest);
    const std::string bytes = test::read_bytes(ub);
    BOOST_REQUIRE(bytes.compare(block, 4, "\x89HDF") == 0);  // the superblock is past the block
    auto m = load_model(golden_mlp());
    for (const auto& l : m->layers()) {
      for (auto& v : l->variables()) v.value.mutable_values<float>()[0] = 42.0f;
    }
    load_weights(*m, ub);
    BOOST_TEST(first_kernel_value(*m) == first_kernel_value(*reference), "block " << block);
    // The same image as the weights member of a .keras archive.
    auto members = mlp_members();
    members[2].data = bytes;
    BOOST_TEST(first_kernel_value(*load_model(write_keras(tmp, "ub.keras", members))) ==
               first_kernel_value(*reference));
  }
}

// ---- names -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_keras_zip_named_h5_or_weights_h5_is_refused) {
  test::TempDir tmp;
  fs::copy_file(golden_mlp(), tmp / "model.h5");
  const std::string msg = message_of<FormatError>([&] { load_model(tmp / "model.h5"); });
  BOOST_TEST(has(msg, "model.h5"), msg);
  BOOST_TEST(has(msg, ".keras zip archive"), msg);
  BOOST_TEST(has(msg, "rename it to end in .keras"), msg);
  fs::copy_file(golden_mlp(), tmp / "model.weights.h5");
  auto m = load_model(golden_mlp());
  const std::string wmsg =
      message_of<FormatError>([&] { load_weights(*m, tmp / "model.weights.h5"); });
  BOOST_TEST(has(wmsg, "model.weights.h5: the file is a .keras zip archive"), wmsg);
  // An HDF5 weights file named .keras is refused as well (by the zip reader).
  fs::copy_file(test::golden_dir() / "mlp" / "model.weights.h5", tmp / "w.keras");
  BOOST_CHECK_THROW(load_model(tmp / "w.keras"), FormatError);
}

// ---- convert and opaque layers
// --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(convert_warns_for_each_opaque_layer_and_strict_refuses) {
  test::TempDir tmp;
  const fs::path in = test::golden_dir() / "custom_layer" / "model.keras";
  auto r = test::run_child({KSERDE_CLI, "convert", in.string(), (tmp / "out.keras").string()},
                           tmp.path(), std::chrono::seconds(60));
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(test::count_lines(r.err) == 1, r.err);
  BOOST_TEST(has(r.err, "warning"), r.err);
  BOOST_TEST(has(r.err, "layer 'scaled_dense' (ScaledDense)"), r.err);
  BOOST_TEST(fs::exists(tmp / "out.keras"));

  r = test::run_child(
      {KSERDE_CLI, "convert", in.string(), (tmp / "strict.keras").string(), "--strict"}, tmp.path(),
      std::chrono::seconds(60));
  BOOST_TEST(r.status == 1, r.err);
  BOOST_TEST(test::count_lines(r.err) == 1, r.err);
  BOOST_TEST(has(r.err, "--strict"), r.err);
  BOOST_TEST(has(r.err, "'scaled_dense'"), r.err);
  BOOST_TEST(!fs::exists(tmp / "strict.keras"));

  // A model kserde implements in full converts silently, --strict or not.
  r = test::run_child(
      {KSERDE_CLI, "convert", golden_mlp().string(), (tmp / "mlp.keras").string(), "--strict"},
      tmp.path(), std::chrono::seconds(60));
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(r.err.empty(), r.err);
}

BOOST_AUTO_TEST_SUITE_END()
