// Dtype policies as Keras applies them: float64 layers keep float64 variables and return float64
// tensors; mixed_float16 layers keep float32 variables, compute in float16 (each NumPy op rounded
// to half precision) and return float16 tensors; the next float32 layer casts back.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "kserde/dtype.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"

using namespace kserde;

namespace {

std::vector<float> rnd(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 3u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = 0.9f * (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f);
  }
  return v;
}

std::string with_dtype(const std::string& config, const std::string& policy) {
  const std::string rest = config.substr(1);
  return "{\"dtype\": \"" + policy + "\"" + (rest == "}" ? "" : ", ") + rest;
}

// Every variable of a layer and its sub-layers (an LSTM's live in its cell), in traversal order.
void collect(Layer& l, std::vector<Layer*>& out) {
  if (!l.variables().empty()) out.push_back(&l);
  for (const TrackedChild& c : l.tracked_children()) {
    for (Layer* child : c.layers) collect(*child, out);
  }
}

float half(float x) {
  return half_to_float(float_to_half(x));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dtype_policies)

BOOST_AUTO_TEST_CASE(float64_layers_compute_and_return_float64) {
  struct Case {
    const char* cls;
    const char* config;
    Shape input;
  };
  const std::vector<Case> cases{
      {"Dense", R"({"units": 3, "activation": "tanh"})", {-1, 4}},
      {"Conv1D", R"({"filters": 2, "kernel_size": 2})", {-1, 5, 3}},
      {"LayerNormalization", R"({"axis": -1})", {-1, 4}},
      {"BatchNormalization", R"({"axis": -1})", {-1, 4}},
      {"PReLU", R"({})", {-1, 4}},
      {"LSTM", R"({"units": 2})", {-1, 3, 4}},
      {"EinsumDense", R"({"equation": "ab,bc->ac", "output_shape": [3]})", {-1, 4}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.cls) {
      Sequential m64("m64"), m32("m32");
      auto l64 = layers::from_config(c.cls, with_dtype(c.config, "float64"));
      auto l32 = layers::from_config(c.cls, c.config);
      m64.add(layers::Input(Shape(c.input.begin() + 1, c.input.end())));
      m32.add(layers::Input(Shape(c.input.begin() + 1, c.input.end())));
      m64.add(l64);
      m32.add(l32);
      std::vector<Layer*> owners32, owners64;
      collect(*l32, owners32);
      collect(*l64, owners64);
      BOOST_TEST_REQUIRE(!owners32.empty());
      BOOST_TEST_REQUIRE(owners32.size() == owners64.size());
      std::uint32_t seed = 1;
      for (std::size_t o = 0; o < owners32.size(); ++o) {
        TensorList w;
        for (const Variable& v : owners32[o]->variables()) {
          BOOST_TEST(v.value.dtype() == DType::Float32);
          auto vals = rnd(static_cast<std::size_t>(v.value.num_elements()), seed++);
          if (v.name == "moving_variance") {
            for (float& x : vals) x = std::fabs(x) + 0.5f;
          }
          w.push_back(Tensor::from_floats(v.value.shape(), vals));
        }
        owners32[o]->set_weights(w);
        owners64[o]->set_weights(w);
        for (const Variable& v : owners64[o]->variables()) {
          BOOST_TEST(v.value.dtype() == DType::Float64);
        }
      }
      Shape in = c.input;
      in[0] = 2;
      const Tensor x =
          Tensor::from_floats(in, rnd(static_cast<std::size_t>(shape_num_elements(in)), 99));
      const Tensor y64 = m64.predict(x);
      const Tensor y32 = m32.predict(x);
      BOOST_TEST(y64.dtype() == DType::Float64);
      BOOST_TEST_REQUIRE(y64.shape() == y32.shape());
      const Tensor a = y64.to(DType::Float32);
      for (std::int64_t i = 0; i < a.num_elements(); ++i) {
        BOOST_TEST(std::fabs(a.f32()[i] - y32.f32()[i]) <= 1e-5f);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(float64_dense_keeps_double_precision) {
  // 1e8 + 1 - 1e8 is 1 in double and 0 in float32.
  Sequential m("m");
  m.add(layers::Input({1}, DType::Float64));
  auto d = layers::from_config("Dense", R"({"units": 1, "dtype": "float64"})");
  m.add(d);
  d->set_weights({Tensor::from_floats({1, 1}, std::vector<float>{1}),
                  Tensor::from_floats({1}, std::vector<float>{-1e8f})});
  Tensor x({1, 1}, DType::Float64);
  x.mutable_values<double>()[0] = 1e8 + 1;
  const Tensor y = m.predict(x);
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
  BOOST_TEST(y.values<double>()[0] == 1.0);
}

BOOST_AUTO_TEST_CASE(mixed_float16_dense_rounds_like_numpy_half_arithmetic) {
  Sequential m("m");
  m.add(layers::Input({5}));
  auto d = layers::from_config(
      "Dense",
      R"({"units": 3, "activation": "relu", "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"}, "registered_name": null}})");
  auto head = layers::from_config("Dense", R"({"units": 1})");
  m.add(d);
  const auto kernel = rnd(15, 7), bias = rnd(3, 8), x = rnd(10, 9);
  d->set_weights({Tensor::from_floats({5, 3}, kernel), Tensor::from_floats({3}, bias)});
  BOOST_TEST(d->variables()[0].value.dtype() == DType::Float32);  // mixed: float32 variables
  const Tensor y = m.predict(Tensor::from_floats({2, 5}, x));
  BOOST_TEST(y.dtype() == DType::Float16);
  const Tensor yf = y.to(DType::Float32);
  // NumPy on float16 arrays: the product summed in float32 then rounded, + bias rounded, relu.
  for (int r = 0; r < 2; ++r) {
    for (int j = 0; j < 3; ++j) {
      float acc = 0;
      for (int k = 0; k < 5; ++k)
        acc += half(x[static_cast<std::size_t>(r * 5 + k)]) *
               half(kernel[static_cast<std::size_t>(k * 3 + j)]);
      float v = half(half(acc) + half(bias[static_cast<std::size_t>(j)]));
      v = v > 0 ? v : 0.0f;
      BOOST_TEST(yf.f32()[r * 3 + j] == v);
    }
  }
  // A float32 layer after it computes from the float16 values, in float32.
  m.add(head);
  head->set_weights({Tensor::from_floats({3, 1}, std::vector<float>{1, 1, 1}),
                     Tensor::from_floats({1}, std::vector<float>{0})});
  const Tensor z = m.predict(Tensor::from_floats({2, 5}, x));
  BOOST_TEST(z.dtype() == DType::Float32);
  BOOST_TEST(z.f32()[0] == yf.f32()[0] + yf.f32()[1] + yf.f32()[2]);
}

BOOST_AUTO_TEST_SUITE_END()
