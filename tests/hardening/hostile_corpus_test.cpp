// A hostile corpus generated here (bad zips, zip bombs, path tricks, hostile JSON, crafted HDF5,
// lying .npy headers): `kserde inspect` and `kserde predict` exit with status 1 and exactly one
// line on stderr, within a few seconds, in a child whose address space is limited to 2 GiB
// (outside sanitizer builds, whose shadow memory needs terabytes of address space).
#include <boost/test/unit_test.hpp>
#include <string>
#include <utility>
#include <vector>

#include "hardening_support.hpp"
#include "kserde/io/npy.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

using test::ZipEntry;

std::string golden_bytes(const std::string& rel) { return test::read_bytes(test::golden_dir() / rel); }

const std::string kMetadata = R"({"keras_version": "3.16.0", "date_saved": "2026-01-01@00:00:00"})";

// A .keras archive of config `config` and the golden MLP's weights.
std::string keras_with_config(const std::string& config) {
  return test::make_zip({{"metadata.json", kMetadata},
                         {"config.json", config},
                         {"model.weights.h5", golden_bytes("mlp/model.weights.h5"), false}});
}

std::string mlp_config() { return golden_bytes("mlp/model_unzipped/config.json"); }

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  BOOST_REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

std::string npy(const std::string& header_dict, const std::string& data) {
  std::string h = header_dict;
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  return out + h + data;
}

// name -> bytes of every hostile model file.
std::vector<std::pair<std::string, std::string>> hostile_models() {
  std::vector<std::pair<std::string, std::string>> v;
  const std::string cfg = mlp_config();
  const std::string weights = golden_bytes("mlp/model.weights.h5");
  const std::string keras = golden_bytes("mlp/model.keras");
  // Not zips.
  v.push_back({"empty.keras", ""});
  v.push_back({"text.keras", "this is not a zip file\n"});
  v.push_back({"zeros.keras", std::string(4096, '\0')});
  v.push_back({"eocd_only.keras", std::string("PK\x05\x06", 4) + std::string(18, '\0')});
  {
    std::string flipped = keras;
    for (std::size_t i = 0; i < flipped.size(); i += 97) flipped[i] = static_cast<char>(~flipped[i]);
    v.push_back({"bit_flipped.keras", flipped});
  }
  {
    std::string eocd_lies = keras;  // central directory offset pointing past the end
    const auto at = eocd_lies.rfind(std::string("PK\x05\x06", 4));
    eocd_lies[at + 16] = '\xff';
    eocd_lies[at + 17] = '\xff';
    eocd_lies[at + 18] = '\xff';
    eocd_lies[at + 19] = '\x7f';
    v.push_back({"eocd_offset_lies.keras", eocd_lies});
  }
  // Zip bombs: a member inflating 1000x, a member lying about its size, a bad CRC.
  v.push_back({"bomb_ratio.keras", test::make_zip({{"metadata.json", kMetadata},
                                                   {"config.json", std::string(64u << 20, ' ')},
                                                   {"model.weights.h5", weights, false}})});
  v.push_back({"bomb_size_lie.keras",
               test::make_zip({{"metadata.json", kMetadata},
                               {"config.json", std::string(8u << 20, ' ') + cfg, true, 100},
                               {"model.weights.h5", weights, false}})});
  v.push_back({"bad_crc.keras", test::make_zip({{"metadata.json", kMetadata},
                                                {"config.json", cfg, true, std::nullopt, 0x12345678u},
                                                {"model.weights.h5", weights, false}})});
  // Path tricks.
  for (const std::string& name : {std::string("../config.json"), std::string("/config.json"),
                                  std::string("a\\..\\config.json"), std::string("x/../../config.json"),
                                  std::string("con\0fig.json", 12)}) {
    v.push_back({"path_trick_" + std::to_string(v.size()) + ".keras",
                 test::make_zip({{"metadata.json", kMetadata}, {name, cfg}, {"model.weights.h5", weights, false}})});
  }
  v.push_back({"duplicate_config.keras",
               test::make_zip({{"metadata.json", kMetadata}, {"config.json", cfg}, {"config.json", "{}"},
                               {"model.weights.h5", weights, false}})});
  v.push_back({"no_config.keras", test::make_zip({{"metadata.json", kMetadata}})});
  // Hostile JSON.
  v.push_back({"deep_nesting.keras", keras_with_config(std::string(200000, '[') + std::string(200000, ']'))});
  v.push_back({"deep_objects.keras", [] {
                 std::string s;
                 for (int i = 0; i < 100000; ++i) s += "{\"a\": ";
                 s += "1";
                 for (int i = 0; i < 100000; ++i) s += "}";
                 return keras_with_config(s);
               }()});
  v.push_back({"not_json.keras", keras_with_config("{\"module\": \"keras\", ")});
  v.push_back({"json_array.keras", keras_with_config("[1, 2, 3]")});
  v.push_back({"huge_units.keras", keras_with_config(replace(cfg, "\"units\": 32", "\"units\": 1000000000000"))});
  v.push_back({"huge_number.keras", keras_with_config(replace(cfg, "\"units\": 32", "\"units\": 1e999"))});
  v.push_back({"bignum_units.keras",
               keras_with_config(replace(cfg, "\"units\": 32", "\"units\": 99999999999999999999999999"))});
  v.push_back({"negative_units.keras", keras_with_config(replace(cfg, "\"units\": 32", "\"units\": -32"))});
  v.push_back({"string_units.keras", keras_with_config(replace(cfg, "\"units\": 32", "\"units\": \"32\""))});
  v.push_back({"nan_shape.keras", keras_with_config(replace(cfg, "\"batch_shape\": [null, 784]", "\"batch_shape\": [null, NaN]"))});
  v.push_back({"inf_shape.keras",
               keras_with_config(replace(cfg, "\"batch_shape\": [null, 784]", "\"batch_shape\": [null, -Infinity]"))});
  v.push_back({"negative_shape.keras", keras_with_config(replace(cfg, "\"batch_shape\": [null, 784]", "\"batch_shape\": [null, -784]"))});
  v.push_back({"huge_shape.keras", [&] {  // the input layer and every build_config
                 std::string s = cfg;
                 for (std::size_t at; (at = s.find("[null, 784]")) != std::string::npos;) {
                   s.replace(at, 11, "[null, 9223372036854775807]");
                 }
                 return keras_with_config(s);
               }()});
  v.push_back({"layers_not_list.keras", keras_with_config(replace(cfg, "\"layers\": [", "\"layers\": 5, \"x\": ["))});
  v.push_back({"config_is_list.keras", keras_with_config(R"({"module": "keras", "class_name": "Sequential", "config": []})")});
  v.push_back({"class_is_number.keras", keras_with_config(R"({"module": "keras", "class_name": 7, "config": {}})")});
  v.push_back({"lambda.keras", keras_with_config(replace(cfg, "\"class_name\": \"Dense\"", "\"class_name\": \"Lambda\""))});
  v.push_back({"lambda_value.keras",
               keras_with_config(replace(cfg, "\"activation\": \"relu\"",
                                         R"("activation": {"class_name": "__lambda__", "config": {"code": "YWJj"}})"))});
  v.push_back({"unknown_module.keras",
               keras_with_config(replace(cfg, "\"class_name\": \"Dense\"", "\"class_name\": \"os.system\""))});
  v.push_back({"wrong_types_everywhere.keras", [&] {
                 std::string s = cfg;
                 for (const char* key : {"\"trainable\": true", "\"use_bias\": true", "\"activation\": \"relu\""}) {
                   s = replace(s, key, std::string(key).substr(0, std::string(key).find(':')) + ": [[{}]]");
                 }
                 return keras_with_config(s);
               }()});
  // Crafted HDF5: garbage weights, a truncated store, flipped bytes, weights of the wrong shapes.
  v.push_back({"garbage_weights.keras", test::make_zip({{"metadata.json", kMetadata}, {"config.json", cfg},
                                                        {"model.weights.h5", std::string(100000, 'x'), false}})});
  v.push_back({"truncated_weights.keras", test::make_zip({{"metadata.json", kMetadata}, {"config.json", cfg},
                                                          {"model.weights.h5", weights.substr(0, weights.size() / 2), false}})});
  {
    std::string w = weights;
    for (std::size_t i = 0; i < 4096 && i < w.size(); i += 13) w[i] = static_cast<char>(w[i] ^ 0x5a);
    v.push_back({"flipped_weights.keras", test::make_zip({{"metadata.json", kMetadata}, {"config.json", cfg},
                                                          {"model.weights.h5", w, false}})});
  }
  v.push_back({"wrong_shape_weights.keras",
               keras_with_config(replace(cfg, "\"units\": 32", "\"units\": 33"))});
  v.push_back({"hdf5_signature_only.keras",
               test::make_zip({{"metadata.json", kMetadata}, {"config.json", cfg},
                               {"model.weights.h5", std::string("\x89HDF\r\n\x1a\n", 8) + std::string(2000, '\xff'), false}})});
  // Integrity: a weight changed after the CRC was computed, repeated JSON keys, names and shapes
  // Keras never writes, a .keras archive under an HDF5 name.
  {
    std::string w = weights;
    w[w.size() / 2] = static_cast<char>(w[w.size() / 2] ^ 1);
    const auto crc = static_cast<std::uint32_t>(crc32(
        0, reinterpret_cast<const Bytef*>(weights.data()), static_cast<uInt>(weights.size())));
    v.push_back({"crc_mismatch_weights.keras",
                 test::make_zip({{"metadata.json", kMetadata},
                                 {"config.json", cfg},
                                 {"model.weights.h5", w, false, std::nullopt, crc}})});
  }
  v.push_back({"duplicate_key.keras",
               keras_with_config(replace(cfg, "\"units\": 32", "\"units\": 32, \"units\": 64"))});
  v.push_back({"slash_in_name.keras",
               keras_with_config(replace(cfg, "\"name\": \"dense\"", "\"name\": \"vars/dense\""))});
  v.push_back(
      {"input_2_31.keras", keras_with_config(replace(cfg, "\"batch_shape\": [null, 784]",
                                                     "\"batch_shape\": [null, 2147483648]"))});
  v.push_back({"keras_zip_named.h5", keras});
  // Not-a-model files with model extensions.
  v.push_back({"garbage.h5", std::string("\x89HDF\r\n\x1a\n", 8) + std::string(5000, '\x01')});
  v.push_back({"garbage.json", std::string(100000, '{')});
  v.push_back({"empty_dir_file.weights.h5", ""});
  return v;
}

// name -> bytes of every hostile .npy input (given to predict with the good golden model).
std::vector<std::pair<std::string, std::string>> hostile_inputs() {
  std::vector<std::pair<std::string, std::string>> v;
  v.push_back({"empty.npy", ""});
  v.push_back({"magic_only.npy", "\x93NUMPY"});
  v.push_back({"huge_shape.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 784), }", std::string(64, '\0'))});
  v.push_back({"overflow_shape.npy",
               npy("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 9223372036854775807), }", "")});
  v.push_back({"negative_shape.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 784), }", "")});
  v.push_back({"short_data.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 784), }", std::string(100, '\0'))});
  v.push_back({"bad_descr.npy", npy("{'descr': '|O', 'fortran_order': False, 'shape': (1, 784), }", std::string(784 * 8, '\0'))});
  v.push_back({"bad_dict.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 784, }", std::string(784 * 4, '\0'))});
  v.push_back({"nan_shape.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (nan, 784), }", "")});
  v.push_back({"deep_rank.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (" + [] {
                                      std::string s;
                                      for (int i = 0; i < 200; ++i) s += "1, ";
                                      return s;
                                    }() + "), }", std::string(4, '\0'))});
  {
    std::string lying_len = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 784), }", std::string(784 * 4, '\0'));
    lying_len[8] = '\xff';
    lying_len[9] = '\xff';
    v.push_back({"header_length_lies.npy", lying_len});
  }
  {
    std::string v3 = "\x93NUMPY";
    v3 += '\x03';
    v3 += '\x00';
    v3 += std::string("\xff\xff\xff\x7f", 4);
    v.push_back({"v3_huge_header.npy", v3 + "{"});
  }
  v.push_back({"wrong_shape.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 783), }", std::string(783 * 4, '\0'))});
  return v;
}

void expect_one_line_failure(const std::vector<std::string>& argv, const fs::path& scratch,
                             const std::string& what) {
  const auto r = test::run_child(argv, scratch, std::chrono::seconds(test::kSanitized ? 60 : 10));
  BOOST_TEST(!r.timed_out, what << ": timed out");
  BOOST_TEST(r.status == 1, what << ": status " << r.status << ", stderr: " << r.err);
  BOOST_TEST(test::count_lines(r.err) == 1u, what << ": stderr: " << r.err);
  BOOST_TEST_MESSAGE(what << " (" << r.seconds << " s): " << r.err.substr(0, 300));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_corpus)

BOOST_AUTO_TEST_CASE(inspect_and_predict_refuse_hostile_models_in_one_line) {
  test::TempDir tmp;
  const std::string input = (test::golden_dir() / "mlp" / "input.npy").string();
  for (const auto& [name, bytes] : hostile_models()) {
    const fs::path p = tmp / name;
    test::write_bytes(p, bytes);
    expect_one_line_failure({KSERDE_CLI, "inspect", p.string()}, tmp.path(), "inspect " + name);
    expect_one_line_failure({KSERDE_CLI, "predict", p.string(), "--input", input, "--output", (tmp / "y.npy").string()},
                            tmp.path(), "predict " + name);
    fs::remove(p);
  }
}

BOOST_AUTO_TEST_CASE(predict_refuses_lying_npy_inputs_in_one_line) {
  test::TempDir tmp;
  const std::string model = (test::golden_dir() / "mlp" / "model.keras").string();
  for (const auto& [name, bytes] : hostile_inputs()) {
    const fs::path p = tmp / name;
    test::write_bytes(p, bytes);
    expect_one_line_failure({KSERDE_CLI, "predict", model, "--input", p.string(), "--output", (tmp / "y.npy").string()},
                            tmp.path(), "predict --input " + name);
  }
}

BOOST_AUTO_TEST_CASE(the_good_files_still_work_under_the_same_limits) {
  test::TempDir tmp;
  const auto r = test::run_child({KSERDE_CLI, "predict", (test::golden_dir() / "mlp" / "model.keras").string(),
                                  "--input", (test::golden_dir() / "mlp" / "input.npy").string(), "--output",
                                  (tmp / "y.npy").string()},
                                 tmp.path(), std::chrono::seconds(60));
  BOOST_TEST(r.status == 0, r.err);
  std::string detail;
  BOOST_TEST(test::allclose(io::read_npy(tmp / "y.npy"), io::read_npy(test::golden_dir() / "mlp" / "expected.npy"),
                            1e-5, 1e-6, &detail), detail);
}

BOOST_AUTO_TEST_SUITE_END()
