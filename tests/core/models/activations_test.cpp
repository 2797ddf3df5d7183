// keras.activations against hand-worked values (closed forms evaluated by hand / from tables).
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "kserde/activations.hpp"

using namespace kserde;
namespace tt = boost::test_tools;

namespace {

std::vector<float> apply(const std::string& name, std::vector<float> v, std::int64_t axis = 0) {
  auto a = builtin_activation(name);
  BOOST_TEST_REQUIRE(a.has_value(), name);
  Tensor t = Tensor::from_floats({static_cast<std::int64_t>(v.size()) / (axis ? axis : 1), axis ? axis : 1}, v);
  if (axis == 0) t = Tensor::from_floats({static_cast<std::int64_t>(v.size())}, v);
  a->apply(t);
  auto out = t.values<float>();
  return {out.begin(), out.end()};
}

float one(const std::string& name, float x) { return apply(name, {x})[0]; }

}  // namespace

BOOST_AUTO_TEST_SUITE(activations)

BOOST_AUTO_TEST_CASE(elementwise_functions_match_hand_worked_values) {
  const auto tol = tt::tolerance(2e-6f);
  BOOST_TEST(one("relu", -1.0f) == 0.0f);
  BOOST_TEST(one("relu", 2.5f) == 2.5f);
  BOOST_TEST(one("relu6", 7.0f) == 6.0f);
  BOOST_TEST(one("leaky_relu", -1.0f) == -0.2f, tol);       // default negative_slope 0.2
  BOOST_TEST(one("sigmoid", 0.0f) == 0.5f);
  BOOST_TEST(one("tanh", 0.5f) == 0.46211716f, tol);
  BOOST_TEST(one("elu", -1.0f) == -0.63212056f, tol);       // e^-1 - 1
  BOOST_TEST(one("selu", -1.0f) == -1.11133074f, tol);      // 1.0507 * 1.6733 * (e^-1 - 1)
  BOOST_TEST(one("selu", 1.0f) == 1.05070098f, tol);
  BOOST_TEST(one("softplus", 0.0f) == 0.69314718f, tol);    // ln 2
  BOOST_TEST(one("softplus", 100.0f) == 100.0f, tol);       // no overflow
  BOOST_TEST(one("softsign", 1.0f) == 0.5f);
  BOOST_TEST(one("silu", 1.0f) == 0.73105858f, tol);        // 1 / (1 + e^-1)
  BOOST_TEST(one("swish", 1.0f) == 0.73105858f, tol);
  BOOST_TEST(one("gelu", 1.0f) == 0.84134475f, tol);        // Phi(1)
  BOOST_TEST(one("gelu_approximate", 1.0f) == 0.84119199f, tol);
  BOOST_TEST(one("exponential", 1.0f) == 2.71828183f, tol);
  BOOST_TEST(one("hard_sigmoid", 1.0f) == 0.66666667f, tol);  // relu6(x + 3) / 6
  BOOST_TEST(one("hard_sigmoid", -4.0f) == 0.0f);
  BOOST_TEST(one("hard_silu", 1.0f) == 0.66666667f, tol);
  BOOST_TEST(one("hard_swish", 1.0f) == 0.66666667f, tol);
  BOOST_TEST(one("mish", 1.0f) == 0.86509839f, tol);        // tanh(ln(1 + e))
  BOOST_TEST(one("celu", -1.0f) == -0.63212056f, tol);
  BOOST_TEST(one("hard_tanh", -3.0f) == -1.0f);
  BOOST_TEST(one("soft_shrink", 2.0f) == 1.5f);
  BOOST_TEST(one("hard_shrink", 0.3f) == 0.0f);
  BOOST_TEST(one("tanh_shrink", 1.0f) == 0.23840584f, tol);  // 1 - tanh(1)
  BOOST_TEST(one("sparse_plus", 0.0f) == 0.25f);
  BOOST_TEST(one("sparse_sigmoid", 0.5f) == 0.75f);
  BOOST_TEST(one("squareplus", 0.0f) == 1.0f);               // (0 + sqrt(0 + 4)) / 2
  BOOST_TEST(one("log_sigmoid", 0.0f) == -0.69314718f, tol);
  BOOST_TEST(one("linear", -3.5f) == -3.5f);
}

BOOST_AUTO_TEST_CASE(softmax_family_reduces_over_the_last_axis) {
  const auto tol = tt::tolerance(2e-6f);
  const auto s = apply("softmax", {1, 2, 3, 1, 1, 1}, 3);
  BOOST_TEST(s[0] == 0.09003057f, tol);
  BOOST_TEST(s[1] == 0.24472847f, tol);
  BOOST_TEST(s[2] == 0.66524096f, tol);
  BOOST_TEST(s[3] == 1.0f / 3.0f, tol);
  const auto ls = apply("log_softmax", {1, 2, 3}, 3);
  BOOST_TEST(ls[0] == -2.40760596f, tol);
  BOOST_TEST(ls[2] == -0.40760596f, tol);
  // sparsemax([1, 0.5, -1]): tau = (1 + 0.5 - 1) / 2 = 0.25 -> [0.75, 0.25, 0].
  const auto sm = apply("sparsemax", {1.0f, 0.5f, -1.0f}, 3);
  BOOST_TEST(sm[0] == 0.75f, tol);
  BOOST_TEST(sm[1] == 0.25f, tol);
  BOOST_TEST(sm[2] == 0.0f, tol);
}

BOOST_AUTO_TEST_CASE(unknown_names_are_reported_as_absent) {
  BOOST_TEST(!builtin_activation("no_such_activation").has_value());
  BOOST_TEST(builtin_activation("linear")->is_linear());
}

BOOST_AUTO_TEST_SUITE_END()
