// CategoryEncoding and Discretization against hand-worked encodings (Keras's
// encode_categorical_inputs and NumPy's digitize, worked by hand from their definitions), in
// layers and in saved models.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/json.hpp"
#include "kserde/layer.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "kserde/saving.hpp"

using namespace kserde;

namespace {

Tensor ints(const Shape& shape, const std::vector<std::int32_t>& v) {
  Tensor t(shape, DType::Int32);
  auto out = t.mutable_values<std::int32_t>();
  BOOST_TEST_REQUIRE(out.size() == v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = v[i];
  return t;
}

Tensor run(const std::string& cls, const std::string& cfg, const Tensor& x,
           const Tensor* count_weights = nullptr) {
  auto l = layers::from_config(cls, cfg);
  CallContext ctx;
  if (count_weights != nullptr) ctx.kwargs.emplace("count_weights", *count_weights);
  return l->call({x}, ctx).at(0);
}

void check_exact(const Tensor& got, const Shape& shape, DType dtype,
                 const std::vector<double>& want) {
  BOOST_TEST_REQUIRE(got.shape() == shape,
                     "shape " << shape_to_string(got.shape()) << " vs " << shape_to_string(shape));
  BOOST_TEST_REQUIRE((got.dtype() == dtype), "dtype " << dtype_name(got.dtype()));
  const Tensor d = got.to(DType::Float64);
  const auto g = d.values<double>();
  BOOST_TEST_REQUIRE(g.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    BOOST_TEST(g[i] == want[i], "index " << i << ": " << g[i] << " vs " << want[i]);
  }
}

constexpr const char* kEncodingModel =
    R"({"module": "keras", "class_name": "Sequential", "config": {"name": "encoder", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "layers": [)"
    R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 2], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_layer", "optional": false}, "registered_name": null}, )"
    R"({"module": "keras.layers", "class_name": "Discretization", "config": {"bin_boundaries": [0.0, 1.0, 2.5], "num_bins": null, "epsilon": 0.01, "output_mode": "int", "sparse": false, "name": "discretization", "dtype": "float32"}, "registered_name": null, "build_config": {"input_shape": [null, 2]}}, )"
    R"({"module": "keras.layers", "class_name": "CategoryEncoding", "config": {"name": "category_encoding", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "num_tokens": 4, "output_mode": "count", "sparse": false}, "registered_name": null, "build_config": {"input_shape": [null, 2]}})"
    R"(], "build_input_shape": [null, 2]}, "registered_name": null, "build_config": {"input_shape": [null, 2]}, "compile_config": {}})";

}  // namespace

BOOST_AUTO_TEST_SUITE(categorical_preprocessing)

BOOST_AUTO_TEST_CASE(category_encoding_one_hot_drops_a_trailing_one_and_ignores_out_of_range) {
  const Tensor y = run("CategoryEncoding", R"({"num_tokens": 4, "output_mode": "one_hot"})",
                       ints({4, 1}, {3, 0, 2, 4}));
  check_exact(y, {4, 4}, DType::Float32, {0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0});
  // Rank 2 without a trailing 1 gains an axis; -1 has no slot.
  const Tensor z = run("CategoryEncoding", R"({"num_tokens": 3, "output_mode": "one_hot"})",
                       ints({1, 2}, {-1, 1}));
  check_exact(z, {1, 2, 3}, DType::Float32, {0, 0, 0, 0, 1, 0});
}

BOOST_AUTO_TEST_CASE(category_encoding_multi_hot_and_count_reduce_each_row) {
  const Tensor x = ints({2, 3}, {0, 1, 1, 3, 3, 2});
  check_exact(run("CategoryEncoding", R"({"num_tokens": 4})", x), {2, 4}, DType::Float32,
              {1, 1, 0, 0, 0, 0, 1, 1});
  check_exact(run("CategoryEncoding", R"({"num_tokens": 4, "output_mode": "binary"})", x), {2, 4},
              DType::Float32, {1, 1, 0, 0, 0, 0, 1, 1});
  check_exact(run("CategoryEncoding", R"({"num_tokens": 4, "output_mode": "count"})", x), {2, 4},
              DType::Float32, {1, 2, 0, 0, 0, 0, 1, 2});
  // Rank 1 is one sample (Keras 3: reduce axis 0); out-of-range ids add nothing.
  check_exact(run("CategoryEncoding", R"({"num_tokens": 4})", ints({4}, {0, 2, 9, -3})), {4},
              DType::Float32, {1, 0, 1, 0});
}

BOOST_AUTO_TEST_CASE(category_encoding_count_weights_weight_each_occurrence) {
  const Tensor x = ints({2, 3}, {0, 1, 1, 3, 3, 2});
  const Tensor w =
      Tensor::from_floats({2, 3}, std::vector<float>{0.5f, 1.0f, 2.0f, 1.0f, 0.25f, 4.0f});
  const Tensor y = run("CategoryEncoding", R"({"num_tokens": 4, "output_mode": "count"})", x, &w);
  check_exact(y, {2, 4}, DType::Float32, {0.5, 3.0, 0, 0, 0, 0, 4.0, 1.25});
  BOOST_CHECK_THROW(run("CategoryEncoding", R"({"num_tokens": 4})", x, &w), ConfigError);
  const Tensor bad = Tensor::from_floats({3}, std::vector<float>{1, 1, 1});
  BOOST_CHECK_THROW(
      run("CategoryEncoding", R"({"num_tokens": 4, "output_mode": "count"})", x, &bad), ShapeError);
}

BOOST_AUTO_TEST_CASE(category_encoding_truncates_float_ids_and_keeps_them_uncast) {
  auto l = layers::from_config("CategoryEncoding", R"({"num_tokens": 3})");
  BOOST_TEST(!l->autocast());
  const Tensor x = Tensor::from_floats({1, 2}, std::vector<float>{2.7f, 0.2f});
  CallContext ctx;
  check_exact(l->call({x}, ctx).at(0), {1, 3}, DType::Float32, {1, 0, 1});
}

BOOST_AUTO_TEST_CASE(category_encoding_config_and_shapes) {
  auto l = layers::from_config("CategoryEncoding", R"({"num_tokens": 5})");
  BOOST_TEST(cfg::get_string(l->config(), "output_mode", "t") == "multi_hot");
  BOOST_TEST(!cfg::get_bool(l->config(), "sparse", "t", true));
  BOOST_TEST((l->compute_output_shape({{-1, 3}}).at(0) == Shape{-1, 5}));
  auto oh =
      layers::from_config("CategoryEncoding", R"({"num_tokens": 5, "output_mode": "one_hot"})");
  BOOST_TEST((oh->compute_output_shape({{-1, 1}}).at(0) == Shape{-1, 5}));
  BOOST_TEST((oh->compute_output_shape({{-1, 2, 3}}).at(0) == Shape{-1, 2, 3, 5}));
  // multi_hot/count on rank 3: Keras's backends disagree, so kserde refuses to pick one.
  BOOST_CHECK_THROW(l->compute_output_shape({{-1, 2, 3}}), UnsupportedError);
  BOOST_CHECK_THROW(layers::from_config("CategoryEncoding", "{}"), ConfigError);
  BOOST_CHECK_THROW(layers::from_config("CategoryEncoding", R"({"num_tokens": 0})"), ConfigError);
  BOOST_CHECK_THROW(
      layers::from_config("CategoryEncoding", R"({"num_tokens": 3, "output_mode": "tf_idf"})"),
      ConfigError);
}

BOOST_AUTO_TEST_CASE(discretization_counts_the_boundaries_at_or_below_each_value) {
  const std::string cfg = R"({"bin_boundaries": [0.0, 1.0, 2.5]})";
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = Tensor::from_floats(
      {2, 4}, std::vector<float>{-1.5f, 0.0f, 0.5f, nan, 1.0f, 2.5f, 3.0f, -0.0f});
  check_exact(run("Discretization", cfg, x), {2, 4}, DType::Int32, {0, 1, 1, 3, 2, 3, 3, 1});
  // Integer inputs are bucketed by value too.
  check_exact(run("Discretization", cfg, ints({3}, {-2, 1, 7})), {3}, DType::Int32, {0, 2, 3});
}

BOOST_AUTO_TEST_CASE(discretization_compares_in_double_like_numpy_digitize) {
  // 0.1f is 0.100000001490116...; the boundary lies just above it but rounds to 0.1f in float32,
  // so a float32 comparison would put 0.1f in bucket 1, NumPy's float64 one in bucket 0.
  const Tensor x = Tensor::from_floats({1}, std::vector<float>{0.1f});
  check_exact(run("Discretization", R"({"bin_boundaries": [0.1000000015]})", x), {1}, DType::Int32,
              {0});
  check_exact(run("Discretization", R"({"bin_boundaries": [0.1]})", x), {1}, DType::Int32, {1});
}

BOOST_AUTO_TEST_CASE(discretization_encodes_buckets_like_category_encoding) {
  const std::string b = R"("bin_boundaries": [0.0, 1.0, 2.5])";
  const Tensor x = Tensor::from_floats({2, 3}, std::vector<float>{-1, 0.5f, 0.7f, 3, 3, 1});
  // Buckets: [[0, 1, 1], [3, 3, 2]].
  check_exact(run("Discretization", "{" + b + R"(, "output_mode": "multi_hot"})", x), {2, 4},
              DType::Float32, {1, 1, 0, 0, 0, 0, 1, 1});
  check_exact(run("Discretization", "{" + b + R"(, "output_mode": "count"})", x), {2, 4},
              DType::Float32, {1, 2, 0, 0, 0, 0, 1, 2});
  check_exact(run("Discretization", "{" + b + R"(, "output_mode": "one_hot"})",
                  Tensor::from_floats({2, 1}, std::vector<float>{0.5f, 9})),
              {2, 4}, DType::Float32, {0, 1, 0, 0, 0, 0, 0, 1});
  // Rank 3 count reduces axis 1 (NumPy's and Keras's declared shape agree here):
  // x[0, :, 0] = (-1, 3) -> buckets 0, 3; x[0, :, 1] = (0.5, 0.7) -> buckets 1, 1.
  auto l = layers::from_config("Discretization", "{" + b + R"(, "output_mode": "count"})");
  BOOST_TEST((l->compute_output_shape({{-1, 2, 2}}).at(0) == Shape{-1, 2, 4}));
  CallContext ctx;
  const Tensor y =
      l->call({Tensor::from_floats({1, 2, 2}, std::vector<float>{-1, 0.5f, 3, 0.7f})}, ctx).at(0);
  check_exact(y, {1, 2, 4}, DType::Float32, {1, 0, 0, 1, 0, 2, 0, 0});
}

BOOST_AUTO_TEST_CASE(discretization_config_defaults_and_validation) {
  auto l = layers::from_config("Discretization", R"({"bin_boundaries": [1.0]})");
  BOOST_TEST(cfg::get_string(l->config(), "output_mode", "t") == "int");
  BOOST_TEST(cfg::find(l->config(), "num_bins")->IsNull());
  BOOST_TEST(cfg::get_float(l->config(), "epsilon", "t") == 0.01);
  BOOST_TEST(cfg::get_string(l->config(), "dtype", "t") == "float32");
  BOOST_TEST(cfg::find(l->config(), "trainable") == nullptr);  // Keras's get_config has none
  BOOST_CHECK_THROW(layers::from_config("Discretization", "{}"), ConfigError);
  BOOST_CHECK_THROW(layers::from_config("Discretization", R"({"bin_boundaries": [2.0, 1.0]})"),
                    ConfigError);
  BOOST_CHECK_THROW(
      layers::from_config("Discretization", R"({"bin_boundaries": [1.0], "output_mode": "bins"})"),
      ConfigError);
  // Built with num_bins and never adapted: loads (the shape is known), but cannot predict.
  auto unadapted =
      layers::from_config("Discretization", R"({"num_bins": 4, "output_mode": "one_hot"})");
  BOOST_TEST((unadapted->compute_output_shape({{-1}}).at(0) == Shape{-1, 4}));
  CallContext ctx;
  BOOST_CHECK_THROW(unadapted->call({Tensor::from_floats({1}, std::vector<float>{0.5f})}, ctx),
                    UnsupportedError);
}

BOOST_AUTO_TEST_CASE(a_saved_bucketing_model_predicts_and_saves_its_config_back) {
  auto model = model_from_json(kEncodingModel);
  // Buckets [[0, 1], [3, 3]] -> counts per row.
  const Tensor y =
      model->predict(Tensor::from_floats({2, 2}, std::vector<float>{-4, 0.5f, 2.5f, 8}));
  check_exact(y, {2, 4}, DType::Float32, {1, 1, 0, 0, 0, 0, 0, 2});
  auto original = parse_json(kEncodingModel, "original");
  auto saved = parse_json(to_json(*model), "saved");
  const JsonValue& a = (*original)["config"]["layers"];
  const JsonValue& b = (*saved)["config"]["layers"];
  BOOST_TEST_REQUIRE(a.Size() == b.Size());
  for (rapidjson::SizeType i = 1; i < a.Size(); ++i) {
    BOOST_TEST((a[i] == b[i]), "layer " << i << " saves back differently");
  }
}

BOOST_AUTO_TEST_SUITE_END()
