// Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax. Expected values are hand-worked or
// computed by direct loops here.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <vector>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/layer.hpp"
#include "kserde/layers.hpp"

using namespace kserde;

namespace {

void check_close(const Tensor& got, const Shape& shape, const std::vector<float>& want) {
  BOOST_TEST_REQUIRE(got.shape() == shape, "shape " << shape_to_string(got.shape()));
  const auto g = got.values<float>();
  BOOST_TEST_REQUIRE(g.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    BOOST_TEST(std::fabs(g[i] - want[i]) <= 1e-6 + 1e-5 * std::fabs(want[i]),
               "index " << i << ": " << g[i] << " vs " << want[i]);
  }
}

Tensor run(Layer& l, const Tensor& x, CallContext* ctx = nullptr) {
  CallContext local;
  return l.call({x}, ctx != nullptr ? *ctx : local).at(0);
}

const Tensor kX = Tensor::from_floats({1, 6}, std::vector<float>{-2.0f, -0.5f, 0.0f, 0.5f, 1.5f, 8.0f});

}  // namespace

BOOST_AUTO_TEST_SUITE(activation_layers)

BOOST_AUTO_TEST_CASE(relu_plain_max_value_threshold_and_slope) {
  check_close(run(*layers::from_config("ReLU", "{}"), kX), {1, 6}, {0, 0, 0, 0.5f, 1.5f, 8});
  check_close(run(*layers::from_config("ReLU", R"({"max_value": 6.0})"), kX), {1, 6}, {0, 0, 0, 0.5f, 1.5f, 6});
  // threshold 1: x <= 1 -> 0.
  check_close(run(*layers::from_config("ReLU", R"({"threshold": 1.0})"), kX), {1, 6}, {0, 0, 0, 0, 1.5f, 8});
  // leaky path: max(x, 0.1 x).
  check_close(run(*layers::from_config("ReLU", R"({"negative_slope": 0.1})"), kX), {1, 6},
              {-0.2f, -0.05f, 0, 0.5f, 1.5f, 8});
  // all three: x > 1 ? min(x, 4) : 0.5 * (x - 1).
  check_close(run(*layers::from_config("ReLU", R"({"negative_slope": 0.5, "threshold": 1.0, "max_value": 4.0})"), kX),
              {1, 6}, {-1.5f, -0.75f, -0.5f, -0.25f, 1.5f, 4});
  BOOST_CHECK_THROW(layers::from_config("ReLU", R"({"max_value": -1.0})"), ConfigError);
  BOOST_CHECK_THROW(layers::from_config("ReLU", R"({"negative_slope": -0.1})"), ConfigError);
  BOOST_CHECK_THROW(layers::from_config("ReLU", R"({"threshold": -0.1})"), ConfigError);
  const auto doc = layers::from_config("ReLU", "{}")->to_object_dict();
  for (const char* key : {"max_value", "negative_slope", "threshold"}) {
    BOOST_TEST(cfg::find((*doc)["config"], key) != nullptr, key);
  }
}

BOOST_AUTO_TEST_CASE(leaky_relu_default_slope_and_legacy_alpha) {
  check_close(run(*layers::from_config("LeakyReLU", "{}"), kX), {1, 6}, {-0.6f, -0.15f, 0, 0.5f, 1.5f, 8});
  check_close(run(*layers::from_config("LeakyReLU", R"({"alpha": 0.2})"), kX), {1, 6}, {-0.4f, -0.1f, 0, 0.5f, 1.5f, 8});
  check_close(run(*layers::from_config("LeakyReLU", R"({"negative_slope": 0.01})"), kX), {1, 6},
              {-0.02f, -0.005f, 0, 0.5f, 1.5f, 8});
  BOOST_CHECK_THROW(layers::from_config("LeakyReLU", R"({"negative_slope": -1})"), ConfigError);
  const auto doc = layers::from_config("LeakyReLU", "{}")->to_object_dict();
  BOOST_TEST(cfg::get_float((*doc)["config"], "negative_slope", "t") == 0.3);
}

BOOST_AUTO_TEST_CASE(elu_alpha_and_no_alpha_key_written) {
  std::vector<float> want;
  for (float v : kX.values<float>()) want.push_back(v > 0 ? v : 1.0f * std::expm1(v));
  auto elu = layers::from_config("ELU", "{}");
  check_close(run(*elu, kX), {1, 6}, want);
  BOOST_TEST(cfg::find((*elu->to_object_dict())["config"], "alpha") == nullptr);
  want.clear();
  for (float v : kX.values<float>()) want.push_back(v > 0 ? v : 0.5f * std::expm1(v));
  check_close(run(*layers::from_config("ELU", R"({"alpha": 0.5})"), kX), {1, 6}, want);
}

BOOST_AUTO_TEST_CASE(prelu_alpha_per_position_and_shared_axes) {
  auto p = layers::from_config("PReLU", "{}");
  p->build({{-1, 2, 3}});
  BOOST_TEST((p->variables()[0].value.shape() == Shape{2, 3}));
  BOOST_TEST(p->variables()[0].name == "alpha");
  const std::vector<float> alpha{0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  p->set_weights({Tensor::from_floats({2, 3}, alpha)});
  const Tensor x = Tensor::from_floats({1, 2, 3}, std::vector<float>{-1, 2, -3, 4, -5, -6});
  check_close(run(*p, x), {1, 2, 3}, {-0.1f, 2, -0.9f, 4, -2.5f, -3.6f});

  auto shared = layers::from_config("PReLU", R"({"shared_axes": [1]})");
  shared->build({{-1, -1, 3}});  // the shared axis may be unknown
  BOOST_TEST((shared->variables()[0].value.shape() == Shape{1, 3}));
  shared->set_weights({Tensor::from_floats({1, 3}, std::vector<float>{0.1f, 0.2f, 0.3f})});
  check_close(run(*shared, x), {1, 2, 3}, {-0.1f, 2, -0.9f, 4, -1.0f, -1.8f});
  BOOST_CHECK_THROW(layers::from_config("PReLU", R"({"shared_axes": [0]})"), ConfigError);
  BOOST_CHECK_THROW(layers::from_config("PReLU", "{}")->build({{-1, -1}}), ShapeError);
}

BOOST_AUTO_TEST_CASE(softmax_last_axis_other_axis_and_axis_list) {
  const Tensor x = Tensor::from_floats({1, 2, 3}, std::vector<float>{1, 2, 3, 0, 0, 1});
  auto sm = [](std::vector<double> v) {
    double s = 0;
    for (double& e : v) s += (e = std::exp(e));
    std::vector<float> out;
    for (double e : v) out.push_back(static_cast<float>(e / s));
    return out;
  };
  auto a = sm({1, 2, 3}), b = sm({0, 0, 1});
  std::vector<float> want(a);
  want.insert(want.end(), b.begin(), b.end());
  check_close(run(*layers::from_config("Softmax", "{}"), x), {1, 2, 3}, want);
  // axis 1: pairs (1, 0), (2, 0), (3, 1).
  std::vector<float> w1(6);
  for (int j = 0; j < 3; ++j) {
    auto p = sm({x.f32()[j], x.f32()[3 + j]});
    w1[j] = p[0];
    w1[3 + j] = p[1];
  }
  check_close(run(*layers::from_config("Softmax", R"({"axis": 1})"), x), {1, 2, 3}, w1);
  check_close(run(*layers::from_config("Softmax", R"({"axis": [1, 2]})"), x), {1, 2, 3}, sm({1, 2, 3, 0, 0, 1}));
}

BOOST_AUTO_TEST_CASE(softmax_mask_zeroes_masked_positions) {
  const Tensor x = Tensor::from_floats({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  CallContext ctx;
  Tensor mask({2, 3}, DType::Bool);
  auto m = mask.mutable_values<bool>();
  m[0] = m[1] = true;   // row 0 keeps the first two
  m[3] = m[4] = m[5] = false;  // row 1 fully masked -> zeros
  ctx.kwargs.emplace("mask", mask);
  const double e1 = std::exp(1.0), e2 = std::exp(2.0);
  check_close(run(*layers::from_config("Softmax", "{}"), x, &ctx), {2, 3},
              {static_cast<float>(e1 / (e1 + e2)), static_cast<float>(e2 / (e1 + e2)), 0, 0, 0, 0});
  // A float mask broadcast over rows: > 0.5 keeps.
  CallContext fctx;
  fctx.kwargs.emplace("mask", Tensor::from_floats({1, 3}, std::vector<float>{0.9f, 0.2f, 1.0f}));
  const double e3 = std::exp(3.0), e4 = std::exp(4.0), e6 = std::exp(6.0);
  check_close(run(*layers::from_config("Softmax", "{}"), x, &fctx), {2, 3},
              {static_cast<float>(e1 / (e1 + e3)), 0, static_cast<float>(e3 / (e1 + e3)),
               static_cast<float>(e4 / (e4 + e6)), 0, static_cast<float>(e6 / (e4 + e6))});
  CallContext bad;
  bad.kwargs.emplace("mask", Tensor({2, 2}, DType::Bool));
  BOOST_CHECK_THROW(run(*layers::from_config("Softmax", "{}"), x, &bad), ShapeError);
}

BOOST_AUTO_TEST_SUITE_END()
