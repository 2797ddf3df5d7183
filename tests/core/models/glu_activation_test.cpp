// keras.activations.glu by name: the last axis split in halves a, b, result a * sigmoid(b).
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <vector>

#include "kserde/activations.hpp"
#include "kserde/error.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"

using namespace kserde;

namespace {

float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(glu_activation)

BOOST_AUTO_TEST_CASE(activation_layer_halves_the_last_axis) {
  Sequential m("m");
  m.add(layers::Input({4}));
  m.add(layers::Activation("glu"));
  const Tensor y =
      m.predict(Tensor::from_floats({2, 4}, std::vector<float>{1, 2, 0, -1, -3, 4, 2, 0.5f}));
  BOOST_TEST_REQUIRE((y.shape() == Shape{2, 2}));
  const std::vector<float> expected{1 * sigmoid(0), 2 * sigmoid(-1), -3 * sigmoid(2),
                                    4 * sigmoid(0.5f)};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    BOOST_TEST(std::fabs(y.f32()[i] - expected[i]) < 1e-6f);
  }
  BOOST_TEST(builtin_activation("glu").has_value());
}

BOOST_AUTO_TEST_CASE(dense_with_glu_and_odd_axis) {
  Sequential m("m");
  m.add(layers::Input({1}));
  auto d = layers::Dense(2, "glu");
  m.add(d);
  d->set_weights({Tensor::from_floats({1, 2}, std::vector<float>{2, 1}),
                  Tensor::from_floats({2}, std::vector<float>{0, -1})});
  const Tensor y = m.predict(Tensor::from_floats({1, 1}, std::vector<float>{3}));
  // x @ W + b = (6, 2): 6 * sigmoid(2)
  BOOST_TEST_REQUIRE((y.shape() == Shape{1, 1}));
  BOOST_TEST(std::fabs(y.f32()[0] - 6 * sigmoid(2)) < 1e-5f);

  Sequential odd("odd");
  odd.add(layers::Input({3}));
  odd.add(layers::Activation("glu"));
  BOOST_CHECK_THROW(odd.predict(Tensor({1, 3}, DType::Float32)), ShapeError);
}

BOOST_AUTO_TEST_SUITE_END()
