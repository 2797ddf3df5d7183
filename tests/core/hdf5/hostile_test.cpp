// Hostile input: truncation, random byte flips, cyclic structures, lying sizes, chunk bombs and
// links to elsewhere. Every failure must be a kserde::Error subclass (never a crash, hang or a
// foreign exception), and the specific cases must give the specific error class.
#include <zlib.h>

#include "hdf5_test_util.hpp"
#include "kserde/hdf5/writer.hpp"
#include "kserde/io/byte_sink.hpp"

using namespace h5test;
namespace kh = kserde::hdf5;
using kserde::DType;

namespace {

kh::ReadLimits tight_limits() {
  kh::ReadLimits l;
  l.max_objects_visited = 20000;
  l.max_dataset_bytes = 16 << 20;
  l.max_attribute_bytes = 1 << 20;
  return l;
}

// Reads everything; returns true when it succeeded, false for a kserde::Error. Anything else fails.
bool survives(const std::vector<std::byte>& bytes, const std::string& what) {
  try {
    kserde_read_everything(bytes, tight_limits());
    return true;
  } catch (const kserde::Error&) {
    return false;
  } catch (const std::exception& e) {
    BOOST_ERROR(what << ": non-kserde exception " << typeid(e).name() << ": " << e.what());
    return false;
  }
}

std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

// A kserde-written file: nested groups, a 100-member group (multi-level B-tree), attributes.
std::vector<std::byte> writer_file(std::vector<std::vector<float>>& keep) {
  kh::Writer w;
  keep.emplace_back(64, 0.5f);
  const auto data = std::as_bytes(std::span(keep.back()));
  auto& v = w.root().group("layers/dense/vars");
  v.attribute_string("name", "dense");
  v.dataset("0", DType::Float32, {8, 8}, data);
  v.dataset("1", DType::Float32, {8}, data.first(32));
  auto& wide = w.root().group("wide");
  for (int i = 0; i < 300; ++i) wide.dataset("m" + std::to_string(i), DType::Float32, {1}, data.first(4));
  w.root().attribute_strings("layer_names", {"dense", "x"});
  kserde::io::MemorySink s;
  w.write(s);
  return to_bytes(s.buffer());
}

// A libhdf5 latest-format file: checksummed headers, dense links and attributes, chunked data.
std::vector<std::byte> latest_file(const TempDir& dir) {
  const auto p = dir / "latest_small.h5";
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  {
    Hid f(H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose);
    Hid g(H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    std::vector<float> v(200);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
    const hsize_t dims[1] = {200}, chunk[1] = {30};
    Hid s(H5Screate_simple(1, dims, nullptr), H5Sclose);
    Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl, 1, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 6);
    Hid d(H5Dcreate2(g, "chunked", H5T_IEEE_F32LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    for (int i = 0; i < 12; ++i) {
      Hid c(H5Gcreate2(g, ("c" + std::to_string(i)).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      Hid as(H5Screate(H5S_SCALAR), H5Sclose);
      Hid a(H5Acreate2(g, ("a" + std::to_string(i)).c_str(), H5T_NATIVE_INT, as, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
      H5Awrite(a, H5T_NATIVE_INT, &i);
    }
  }
  return read_bytes(p);
}

std::uint64_t get_u64(const std::vector<std::byte>& b, std::size_t at) {
  std::uint64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}
void put_u64(std::vector<std::byte>& b, std::size_t at, std::uint64_t v) { std::memcpy(b.data() + at, &v, 8); }

std::vector<std::size_t> find_all(const std::vector<std::byte>& b, std::string_view needle) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i + needle.size() <= b.size(); ++i)
    if (std::memcmp(b.data() + i, needle.data(), needle.size()) == 0) out.push_back(i);
  return out;
}

template <class E>
std::string expect_error(const std::vector<std::byte>& bytes, const kh::ReadLimits& limits = tight_limits()) {
  try {
    kserde_read_everything(bytes, limits);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    BOOST_ERROR("wrong exception " << typeid(e).name() << ": " << e.what());
    return {};
  }
  BOOST_ERROR("no exception");
  return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hdf5_hostile)

BOOST_AUTO_TEST_CASE(truncation_at_every_offset_gives_kserde_errors) {
  TempDir dir;
  std::vector<std::vector<float>> keep;
  const std::vector<std::pair<std::string, std::vector<std::byte>>> files = {
      {"writer", writer_file(keep)}, {"latest", latest_file(dir)}};
  for (const auto& [name, full] : files) {
    BOOST_TEST(survives(full, name));
    // Every offset for the small file; a stride for the rest keeps the run short.
    const std::size_t step = full.size() > 40000 ? full.size() / 3000 : 1;
    for (std::size_t n = 0; n < full.size(); n += step) {
      const std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      BOOST_TEST(!survives(cut, name + " cut at " + std::to_string(n)));
    }
  }
  // Golden files: a few hundred spread offsets each.
  for (const char* rel : {"golden/mlp/model.weights.h5", "golden/mlp/model.h5"}) {
    const auto full = read_bytes(data_dir() / rel);
    for (std::size_t k = 0; k < 300; ++k) {
      const std::size_t n = k * full.size() / 300;
      const std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      BOOST_TEST(!survives(cut, std::string(rel) + " cut at " + std::to_string(n)));
    }
  }
}

BOOST_AUTO_TEST_CASE(random_byte_flips_give_kserde_errors_or_valid_reads) {
  TempDir dir;
  std::vector<std::vector<float>> keep;
  const std::vector<std::pair<std::string, std::vector<std::byte>>> files = {
      {"writer", writer_file(keep)},
      {"latest", latest_file(dir)},
      {"golden mlp weights", read_bytes(data_dir() / "golden/mlp/model.weights.h5")},
      {"golden legacy", read_bytes(data_dir() / "golden/mlp/model.h5")}};
  std::mt19937_64 rng(20240611);
  int failures = 0, total = 0;
  for (const auto& [name, full] : files) {
    // Metadata lives mostly in the first part of these files; bias flips there.
    const std::size_t meta = std::min<std::size_t>(full.size(), 16384);
    for (int m = 0; m < 1000; ++m) {
      std::vector<std::byte> b = full;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) {
        const std::size_t at = static_cast<std::size_t>(rng() % (rng() % 4 == 0 ? b.size() : meta));
        b[at] ^= static_cast<std::byte>(1u << (rng() % 8));
      }
      ++total;
      if (!survives(b, name + " mutation " + std::to_string(m))) ++failures;
    }
  }
  BOOST_TEST_MESSAGE(failures << " of " << total << " mutations were rejected with kserde errors");
  BOOST_TEST(failures > 0);
}

BOOST_AUTO_TEST_CASE(cyclic_btree_is_a_format_error) {
  std::vector<std::vector<float>> keep;
  const auto good = writer_file(keep);
  // The 300-member group has a two-level B-tree; its root is the level-1 "TREE" node.
  std::size_t root = 0;
  for (std::size_t at : find_all(good, "TREE"))
    if (static_cast<int>(good[at + 5]) == 1) root = at;
  BOOST_REQUIRE(root != 0);
  {
    auto b = good;
    put_u64(b, root + 24 + 8, root);  // first child -> the node itself
    const auto msg = expect_error<kserde::FormatError>(b);
    BOOST_TEST(msg.find("/wide") != std::string::npos, msg);
  }
  {
    auto b = good;
    put_u64(b, root + 24 + 8 + 16, get_u64(b, root + 24 + 8));  // two children -> the same node
    const auto msg = expect_error<kserde::FormatError>(b);
    BOOST_TEST(msg.find("cycle") != std::string::npos, msg);
  }
}

BOOST_AUTO_TEST_CASE(self_referencing_continuation_is_a_format_error) {
  std::vector<std::vector<float>> keep;
  auto b = writer_file(keep);
  const std::uint64_t root = get_u64(b, 64);  // superblock root entry: object header address
  // Turn the root's first message (symbol table, 16 bytes) into a continuation to itself.
  BOOST_REQUIRE(static_cast<int>(b[root + 16]) == 0x11);
  b[root + 16] = std::byte{0x10};
  put_u64(b, root + 24, root + 16);
  put_u64(b, root + 32, 24);
  const auto msg = expect_error<kserde::FormatError>(b);
  BOOST_TEST(msg.find("visited twice") != std::string::npos, msg);
}

BOOST_AUTO_TEST_CASE(lying_sizes_and_addresses_are_format_or_limit_errors) {
  std::vector<std::vector<float>> keep;
  const auto good = writer_file(keep);
  // Layout messages: type 8, size 24, then version 3, contiguous.
  const auto layouts = find_all(good, std::string_view("\x08\x00\x18\x00\x00\x00\x00\x00\x03\x01", 10));
  BOOST_REQUIRE(!layouts.empty());
  {
    auto b = good;
    put_u64(b, layouts[0] + 10, 0x7fff0000);
    const auto msg = expect_error<kserde::FormatError>(b);
    BOOST_TEST(msg.find("fuzz.h5: /layers/dense/vars/0: data address 0x7fff0000+256 lies past end of file") != std::string::npos, msg);
  }
  {
    auto b = good;
    put_u64(b, layouts[0] + 18, 3);  // storage smaller than the dataspace needs
    expect_error<kserde::FormatError>(b);
  }
  {
    // Dataspace dims of the first dataset claim 2^40 x 8 elements: LimitError before any allocation.
    auto b = good;
    const auto spaces = find_all(b, std::string_view("\x01\x00\x28\x00\x00\x00\x00\x00\x01\x02\x01", 11));
    BOOST_REQUIRE(!spaces.empty());
    put_u64(b, spaces[0] + 16, std::uint64_t{1} << 40);
    expect_error<kserde::LimitError>(b);
  }
  {
    auto b = good;
    put_u64(b, 40, 1ull << 40);  // superblock end-of-file address beyond the bytes
    const auto msg = expect_error<kserde::FormatError>(b);
    BOOST_TEST(msg.find("truncated") != std::string::npos, msg);
  }
  {
    auto b = good;
    b[13] = std::byte{4};  // 4-byte offsets
    expect_error<kserde::UnsupportedError>(b);
  }
}

BOOST_AUTO_TEST_CASE(chunk_bombs_are_limit_errors) {
  TempDir dir;
  const auto p = dir / "bomb.h5";
  {
    Hid f(H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    // 32 MiB of zeros in one deflated chunk (~32 KiB stored).
    const hsize_t dims[1] = {8u << 20};
    Hid s(H5Screate_simple(1, dims, nullptr), H5Sclose);
    Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl, 1, dims);
    H5Pset_deflate(dcpl, 9);
    Hid d(H5Dcreate2(f, "bomb", H5T_IEEE_F32LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose);
    const std::vector<float> zeros(8u << 20, 0.0f);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros.data());
    // Enormous dims with a huge chunk, never written.
    const hsize_t big[2] = {1u << 20, 1u << 20}, bchunk[2] = {1u << 15, 1u << 15};
    Hid s2(H5Screate_simple(2, big, nullptr), H5Sclose);
    Hid dcpl2(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    H5Pset_chunk(dcpl2, 2, bchunk);
    H5Pset_deflate(dcpl2, 1);
    Hid d2(H5Dcreate2(f, "enormous", H5T_STD_U8LE, s2, H5P_DEFAULT, dcpl2, H5P_DEFAULT), H5Dclose);
  }
  const auto bytes = read_bytes(p);
  kh::ReadLimits l;
  l.max_decompression_ratio = 100;
  const auto root = kh::File::open(source_of(bytes, "bomb.h5"), l).root();
  const auto d = root.dataset("bomb");
  std::vector<std::byte> out(d.num_elements() * 4);
  try {
    d.read(out, DType::Float32);
    BOOST_ERROR("expected LimitError");
  } catch (const kserde::LimitError& e) {
    BOOST_TEST(std::string(e.what()).find("max_decompression_ratio") != std::string::npos, e.what());
  }
  // With the default ratio the same legitimate-but-extreme chunk decodes.
  kh::ReadLimits lenient;
  lenient.max_decompression_ratio = 5000;
  const auto d_ok = kh::File::open(source_of(bytes, "bomb.h5"), lenient).root().dataset("bomb");
  BOOST_CHECK_NO_THROW(d_ok.read(out, DType::Float32));
  BOOST_CHECK_THROW((void)root.dataset("enormous"), kserde::LimitError);
}

BOOST_AUTO_TEST_CASE(soft_and_external_links_are_unsupported) {
  TempDir dir;
  for (bool latest : {false, true}) {
    const auto p = dir / "links.h5";
    {
      Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
      H5Pset_libver_bounds(fapl, latest ? H5F_LIBVER_LATEST : H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
      Hid f(H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), H5Fclose);
      Hid g(H5Gcreate2(f, "target", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      H5Lcreate_soft("/target", f, "soft", H5P_DEFAULT, H5P_DEFAULT);
      H5Lcreate_external("other.h5", "/x", f, "external", H5P_DEFAULT, H5P_DEFAULT);
    }
    const auto root = kh::File::open(source_of(read_bytes(p), "links.h5")).root();
    BOOST_TEST((root.member_names() == std::vector<std::string>{"external", "soft", "target"}));
    BOOST_TEST((root.member_kind("target") == kh::ObjectKind::Group));
    for (const char* name : {"soft", "external"}) {
      BOOST_CHECK_THROW((void)root.member_kind(name), kserde::UnsupportedError);
      BOOST_CHECK_THROW((void)root.group(name), kserde::UnsupportedError);
      try {
        (void)root.find_dataset(std::string(name) + "/x");
        BOOST_ERROR("expected UnsupportedError");
      } catch (const kserde::UnsupportedError& e) {
        BOOST_TEST(std::string(e.what()).find(std::string("links.h5: /") + name) != std::string::npos, e.what());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(not_hdf5_and_empty_inputs_are_format_errors) {
  BOOST_CHECK_THROW(kserde_read_everything({}, tight_limits()), kserde::FormatError);
  const std::string junk = "PK\x03\x04 not an hdf5 file at all, really";
  BOOST_CHECK_THROW(kserde_read_everything(to_bytes(junk), tight_limits()), kserde::FormatError);
  BOOST_TEST(!kh::has_signature(to_bytes(junk)));
  BOOST_TEST(kh::has_signature(to_bytes(std::string("\x89HDF\r\n\x1a\n", 8))));
}

BOOST_AUTO_TEST_SUITE_END()
