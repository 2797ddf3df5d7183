// The foundation layers (Dense, Activation, Dropout, Flatten, Reshape, InputLayer) and the JSON
// dialect, against hand-worked values.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <cstring>

#include "kserde/error.hpp"
#include "kserde/json.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "test_support.hpp"

using namespace kserde;

namespace {

Tensor floats(Shape s, std::vector<float> v) {
  return Tensor::from_floats(std::move(s), v);
}

std::vector<float> run(Layer& l, const Tensor& x) {
  const Tensor y = l(x);
  const auto v = y.values<float>();
  return {v.begin(), v.end()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(basic_layers)

BOOST_AUTO_TEST_CASE(dense_computes_x_times_kernel_plus_bias_then_activation) {
  auto d = layers::Dense(2, "relu");
  d->build({{-1, 3}});
  BOOST_TEST_REQUIRE(d->variables().size() == 2u);
  BOOST_TEST(d->variables()[0].name == "kernel");
  BOOST_TEST((d->variables()[0].value.shape() == Shape{3, 2}));
  d->set_weights({floats({3, 2}, {1, -1, 2, -2, 3, -3}), floats({2}, {0.5f, 0.5f})});
  // [1,1,1] @ K = [6, -6]; + b = [6.5, -5.5]; relu -> [6.5, 0]
  const auto y = run(*d, floats({1, 3}, {1, 1, 1}));
  BOOST_TEST(y[0] == 6.5f);
  BOOST_TEST(y[1] == 0.0f);
  // Rank-3 input applies to the last axis.
  const Tensor y3 = (*d)(floats({1, 2, 3}, {1, 0, 0, 0, 1, 0}));
  BOOST_TEST((y3.shape() == Shape{1, 2, 2}));
  BOOST_TEST(y3.values<float>()[0] == 1.5f);  // 1 + 0.5
  BOOST_TEST(y3.values<float>()[2] == 2.5f);  // 2 + 0.5
  BOOST_CHECK_THROW(d->set_weights({floats({2, 2}, {1, 2, 3, 4}), floats({2}, {0, 0})}),
                    ShapeError);
}

BOOST_AUTO_TEST_CASE(dense_without_bias_has_only_a_kernel) {
  auto d = layers::Dense(4, "linear", false);
  d->build({{-1, 2}});
  BOOST_TEST(d->variables().size() == 1u);
  BOOST_TEST(d->count_params() == 8);
}

BOOST_AUTO_TEST_CASE(activation_dropout_flatten_reshape) {
  auto act = layers::Activation("sigmoid");
  BOOST_TEST(run(*act, floats({1, 1}, {0}))[0] == 0.5f);
  auto drop = layers::Dropout(0.5);
  BOOST_TEST(
      (run(*drop, floats({1, 2}, {3, 4})) == std::vector<float>{3, 4}));  // identity at inference
  BOOST_CHECK_THROW(layers::Dropout(1.5), ConfigError);
  auto flat = layers::Flatten();
  const Tensor f = (*flat)(floats({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}));
  BOOST_TEST((f.shape() == Shape{2, 4}));
  BOOST_TEST((flat->compute_output_shape({{-1, 3, 4}})[0] == Shape{-1, 12}));
  auto reshape = layers::Reshape({-1, 2});
  const Tensor r = (*reshape)(floats({1, 6}, {1, 2, 3, 4, 5, 6}));
  BOOST_TEST((r.shape() == Shape{1, 3, 2}));
  BOOST_TEST((reshape->compute_output_shape({{-1, 6}})[0] == Shape{-1, 3, 2}));
  BOOST_CHECK_THROW((*reshape)(floats({1, 5}, {1, 2, 3, 4, 5})), ShapeError);
}

BOOST_AUTO_TEST_CASE(channels_first_flatten_orders_like_channels_last) {
  auto flat = layers::from_config("Flatten", R"({"data_format": "channels_first"})");
  // (1, c=2, s=3): channel-major in; Keras moves channels last before flattening.
  const Tensor f = (*flat)(floats({1, 2, 3}, {1, 2, 3, 10, 20, 30}));
  const auto v = f.values<float>();
  BOOST_TEST((std::vector<float>(v.begin(), v.end()) == std::vector<float>{1, 10, 2, 20, 3, 30}));
}

BOOST_AUTO_TEST_CASE(sequential_checks_input_shapes_and_names_layers_uniquely) {
  Sequential m("m");
  m.add(layers::Input({3}));
  m.add(layers::Dense(2));
  m.add(layers::Dense(2));
  BOOST_TEST(m.layers()[0]->name() == "dense");
  BOOST_TEST(m.layers()[1]->name() == "dense_1");
  BOOST_TEST((m.output_shapes()[0] == Shape{-1, 2}));
  BOOST_CHECK_THROW(m.predict(Tensor({2, 4}, DType::Float32)), ShapeError);
  BOOST_TEST((m.predict(Tensor({5, 3}, DType::Float32)).shape() == Shape{5, 2}));
  BOOST_CHECK_THROW(m.predict(TensorList{}), ShapeError);
}

BOOST_AUTO_TEST_CASE(layer_configs_carry_keras_defaults_and_unknown_keys) {
  auto d = layers::from_config("Dense", R"({"units": 3, "future_key": {"nested": [1, 2]}})");
  const auto dict = d->to_object_dict();
  const JsonValue& c = (*dict)["config"];
  BOOST_TEST(c["future_key"]["nested"][1].GetInt() == 2);
  BOOST_TEST(std::string(c["kernel_initializer"]["class_name"].GetString()) == "GlorotUniform");
  BOOST_TEST(std::string(c["activation"].GetString()) == "linear");
  BOOST_TEST(c["use_bias"].GetBool());
  BOOST_TEST(std::string((*dict)["module"].GetString()) == "keras.layers");
}

BOOST_AUTO_TEST_CASE(json_accepts_python_dialect_and_writes_it_back) {
  auto doc = parse_json(
      R"({"a": NaN, "b": Infinity, "c": -Infinity, "d": "\u00e9", "e": 140708184542160})", "t");
  BOOST_TEST(std::isnan((*doc)["a"].GetDouble()));
  BOOST_TEST(std::isinf((*doc)["b"].GetDouble()));
  BOOST_TEST((*doc)["e"].GetInt64() == 140708184542160LL);
  BOOST_TEST(to_json(*doc) ==
             R"({"a": NaN, "b": Infinity, "c": -Infinity, "d": "\u00E9", "e": 140708184542160})");
  BOOST_CHECK_THROW(parse_json("{\"a\": ", "t"), ConfigError);
  // Python's float reprs survive parse -> write -> parse bit for bit.
  for (const char* text : {"[0.0010000000474974513]", "[0.16666666666666666]", "[1e-07]",
                           "[0.009999999776482582]", "[2.2250738585072014e-308]"}) {
    auto once = parse_json(text, "t");
    auto twice = parse_json(to_json(*once), "t");
    const double a = (*once)[0].GetDouble();
    const double b = (*twice)[0].GetDouble();
    BOOST_TEST(std::memcmp(&a, &b, sizeof a) == 0, text);
  }
  JsonLimits shallow;
  shallow.max_depth = 3;
  BOOST_CHECK_THROW(parse_json("[[[[1]]]]", "t", shallow), LimitError);
}

BOOST_AUTO_TEST_CASE(snake_case_matches_keras_examples) {
  // Examples listed in the format spec §5.2.
  BOOST_TEST(snake_case("Conv2DTranspose") == "conv2d_transpose");
  BOOST_TEST(snake_case("LSTMCell") == "lstm_cell");
  BOOST_TEST(snake_case("ReLU") == "re_lu");
  BOOST_TEST(snake_case("PReLU") == "p_re_lu");
  BOOST_TEST(snake_case("MyHTTPLayer") == "my_http_layer");
  BOOST_TEST(snake_case("AdamW") == "adam_w");
  BOOST_TEST(snake_case("GlobalAveragePooling2D") == "global_average_pooling2d");
  BOOST_TEST(snake_case("MultiHeadAttention") == "multi_head_attention");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sequential_build)

BOOST_AUTO_TEST_CASE(sequential_without_input_builds_on_first_predict) {
  Sequential m("lazy");
  m.add(layers::Dense(2));
  BOOST_TEST(!m.built());
  const Tensor y = m.predict(Tensor({3, 5}, DType::Float32));
  BOOST_TEST((y.shape() == Shape{3, 2}));
  BOOST_TEST(m.built());
  BOOST_TEST((m.layers()[0]->variables()[0].value.shape() == Shape{5, 2}));
}

BOOST_AUTO_TEST_SUITE_END()
