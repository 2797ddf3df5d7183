// Limits on untrusted input: every one is a typed error (LimitError, or ConfigError for values
// Keras forbids) naming the file, the object and the limit, configurable in LoadOptions.
#include <boost/test/unit_test.hpp>
#include <functional>
#include <string>

#include "hardening_support.hpp"
#include "kserde/error.hpp"
#include "kserde/io/archive.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

// A Sequential model of an InputLayer (batch_shape (None, *input)) and `layer`.
std::string sequential(const std::string& input, const std::string& layer,
                       const std::string& extra = "") {
  return R"({"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [)"
         R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, )" +
         input + R"(], "dtype": "float32", "name": "in"}, "registered_name": null}, )" + layer +
         extra + R"(]}, "registered_name": null, "build_config": {"input_shape": [null, )" + input +
         "]}}";
}

std::string layer(const std::string& cls, const std::string& name, const std::string& config,
                  const std::string& input) {
  return R"({"module": "keras.layers", "class_name": ")" + cls + R"(", "config": {"name": ")" +
         name + "\", " + config + R"(}, "registered_name": null, "build_config": {"input_shape": [null, )" +
         input + "]}}";
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

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(limits)

BOOST_AUTO_TEST_CASE(a_sane_config_loads) {
  auto m = model_from_json(sequential("784", layer("Dense", "d", R"("units": 32)", "784")));
  BOOST_TEST(m->count_params() == 784 * 32 + 32);
}

BOOST_AUTO_TEST_CASE(absurd_dense_units_hit_the_weight_budget_before_allocating) {
  const std::string json = sequential("784", layer("Dense", "huge_dense", R"("units": 1000000000000)", "784"));
  const std::string msg = message_of<LimitError>([&] { model_from_json(json); });
  BOOST_TEST(has(msg, "huge_dense"), msg);
  BOOST_TEST(has(msg, "max_weight_bytes"), msg);
  BOOST_TEST(has(msg, "model_from_json"), msg);
}

BOOST_AUTO_TEST_CASE(element_count_overflow_is_a_typed_error) {
  const std::string json =
      sequential("784", layer("Dense", "overflow", R"("units": 4611686018427387904)", "784"));
  BOOST_CHECK_THROW(model_from_json(json), Error);
}

BOOST_AUTO_TEST_CASE(negative_and_wrongly_typed_units_are_config_errors_naming_the_layer) {
  for (const char* units : {"-5", "0", "\"abc\"", "[1]", "null", "1.5e400"}) {
    const std::string json =
        sequential("784", layer("Dense", "bad_units", std::string(R"("units": )") + units, "784"));
    const std::string msg = message_of<Error>([&] { model_from_json(json); });
    BOOST_TEST((has(msg, "bad_units") || has(msg, "model_from_json")), units << ": " << msg);
    BOOST_TEST((!has(msg, "WRONG EXCEPTION") && !has(msg, "NO EXCEPTION")), units << ": " << msg);
  }
  const std::string neg = sequential("784", layer("Dense", "neg", R"("units": -5)", "784"));
  const std::string msg = message_of<ConfigError>([&] { model_from_json(neg); });
  BOOST_TEST(has(msg, "neg"), msg);
}

BOOST_AUTO_TEST_CASE(absurd_embedding_dims_hit_the_weight_budget) {
  const std::string json = sequential(
      "10", layer("Embedding", "huge_embedding", R"("input_dim": 100000000000, "output_dim": 1000)", "10"));
  const std::string msg = message_of<LimitError>([&] { model_from_json(json); });
  BOOST_TEST(has(msg, "huge_embedding"), msg);
  BOOST_TEST(has(msg, "max_weight_bytes"), msg);
  const std::string neg = sequential(
      "10", layer("Embedding", "neg_embedding", R"("input_dim": -3, "output_dim": 8)", "10"));
  BOOST_CHECK_THROW(model_from_json(neg), Error);
}

BOOST_AUTO_TEST_CASE(absurd_conv_filters_and_kernels_are_refused) {
  const std::string big = sequential(
      "32, 32, 3", layer("Conv2D", "huge_conv", R"("filters": 1000000000, "kernel_size": [3, 3])", "32, 32, 3"));
  const std::string msg = message_of<LimitError>([&] { model_from_json(big); });
  BOOST_TEST(has(msg, "huge_conv"), msg);
  const std::string kernel = sequential(
      "32, 32, 3", layer("Conv2D", "huge_kernel", R"("filters": 8, "kernel_size": [3000000, 3000000], "padding": "same")", "32, 32, 3"));
  BOOST_CHECK_THROW(model_from_json(kernel), Error);
  for (const char* bad : {R"("filters": -8, "kernel_size": [3, 3])", R"("filters": 8, "kernel_size": [-3, 3])",
                          R"("filters": 8, "kernel_size": [0, 3])"}) {
    const std::string json = sequential("32, 32, 3", layer("Conv2D", "bad_conv", bad, "32, 32, 3"));
    BOOST_CHECK_THROW(model_from_json(json), Error);
  }
}

BOOST_AUTO_TEST_CASE(the_budget_is_per_load_and_counts_every_layer) {
  // Two Dense(1024 -> 8192) kernels of 32 MiB each: one fits in 48 MiB, both do not.
  const std::string one = layer("Dense", "a", R"("units": 8192, "use_bias": false)", "1024");
  const std::string two = layer("Dense", "b", R"("units": 1024, "use_bias": false)", "8192");
  LoadOptions o;
  o.max_weight_bytes = 48u << 20;
  BOOST_CHECK_NO_THROW(model_from_json(sequential("1024", one), o));
  const std::string msg = message_of<LimitError>([&] { model_from_json(sequential("1024", one, ", " + two), o); });
  BOOST_TEST((has(msg, "'b'") || has(msg, "b (Dense)") || has(msg, "\"b\"")), msg);
  BOOST_TEST(has(msg, "already"), msg);
  // The same configs load again: the budget belongs to one load, not to the process.
  BOOST_CHECK_NO_THROW(model_from_json(sequential("1024", one), o));
}

BOOST_AUTO_TEST_CASE(max_weight_bytes_applies_to_whole_files_and_weight_files) {
  const fs::path mlp = test::golden_dir() / "mlp";
  LoadOptions small;
  small.max_weight_bytes = 1000;
  const std::string msg = message_of<LimitError>([&] { load_model(mlp / "model.keras", small); });
  BOOST_TEST(has(msg, "model.keras"), msg);
  BOOST_TEST(has(msg, "max_weight_bytes"), msg);

  auto model = load_model(mlp / "model.keras");
  const std::string w = message_of<LimitError>([&] { load_weights(*model, mlp / "model.weights.h5", small); });
  BOOST_TEST(has(w, "model.weights.h5"), w);
  BOOST_TEST(has(w, "max_weight_bytes"), w);

  LoadOptions rank;
  rank.max_tensor_rank = 1;  // the kernels are rank 2
  const std::string r = message_of<LimitError>([&] { load_weights(*model, mlp / "model.weights.h5", rank); });
  BOOST_TEST(has(r, "max_tensor_rank"), r);
  BOOST_CHECK_NO_THROW(load_weights(*model, mlp / "model.weights.h5"));
}

BOOST_AUTO_TEST_CASE(json_size_and_depth_limits) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  BOOST_CHECK_THROW(model_from_json(deep), LimitError);
  const std::string text = test::read_bytes(test::golden_dir() / "mlp" / "model_unzipped" / "config.json");
  LoadOptions o;
  o.json_limits.max_bytes = 100;
  const std::string msg = message_of<LimitError>([&] { model_from_json(text, o); });
  BOOST_TEST((!has(msg, "WRONG") && !has(msg, "NO EXCEPTION")), msg);
  LoadOptions d;
  d.json_limits.max_depth = 3;
  BOOST_CHECK_THROW(model_from_json(text, d), LimitError);
  BOOST_CHECK_NO_THROW(model_from_json(text));
}

BOOST_AUTO_TEST_CASE(archive_member_count_and_name_limits) {
  const fs::path keras = test::golden_dir() / "mlp" / "model.keras";
  LoadOptions members;
  members.archive_limits.max_members = 1;
  const std::string msg = message_of<LimitError>([&] { load_model(keras, members); });
  BOOST_TEST(has(msg, "model.keras"), msg);
  LoadOptions names;
  names.archive_limits.max_name_length = 4;
  const std::string n = message_of<FormatError>([&] { load_model(keras, names); });
  BOOST_TEST(has(n, "limit 4"), n);
  io::ArchiveLimits lim;
  lim.max_total_bytes = 1000;
  BOOST_CHECK_THROW(io::ArchiveReader::open(keras, lim), LimitError);
}

BOOST_AUTO_TEST_CASE(sharded_index_names_only_files_beside_it) {
  test::TempDir tmp;
  const fs::path golden = test::golden_dir() / "sharded_weights";
  auto model = load_model(golden / "model.keras");
  fs::create_directories(tmp / "sub");
  for (const auto& e : fs::directory_iterator(golden / "sharded")) {
    if (e.path().extension() == ".h5") fs::copy_file(e.path(), tmp / e.path().filename());
  }
  const std::string beside = test::read_bytes(golden / "sharded" / "model.weights.json");
  test::write_bytes(tmp / "sub" / "ok.weights.json", beside);
  // The shards lie one level up: an index in sub/ must not reach them.
  BOOST_CHECK_THROW(load_weights(*model, tmp / "sub" / "ok.weights.json"), Error);
  for (const std::string& evil : {std::string("../model_00000.weights.h5"),
                                  (tmp / "model_00000.weights.h5").string(), std::string(".."),
                                  std::string("sub\\\\x.h5")}) {
    const std::string index = R"({"metadata": {}, "weight_map": {"/layers/dense/vars": [")" + evil + R"("]}})";
    test::write_bytes(tmp / "sub" / "evil.weights.json", index);
    const std::string msg = message_of<FormatError>([&] { load_weights(*model, tmp / "sub" / "evil.weights.json"); });
    BOOST_TEST(has(msg, "refused"), evil << ": " << msg);
  }
  // The genuine index beside its shards loads.
  test::write_bytes(tmp / "model.weights.json", beside);
  BOOST_CHECK_NO_THROW(load_weights(*model, tmp / "model.weights.json"));
}

BOOST_AUTO_TEST_SUITE_END()
