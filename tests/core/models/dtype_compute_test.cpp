// What each dtype policy computes, against naive loops and hand-worked numbers written here:
// - float16/bfloat16 convolutions round as Keras's NumPy backend does (operands rounded to the half
//   type, the convolution's float32 sum rounded once, bias add rounded, activation rounded);
// - float64 layers keep what float32 would lose (values such as 1 + 2^-30 or 1e8 + 1); the
//   convolutions' products are float32, as JAX without x64 computes them for that backend;
// - comparisons see the operands' exact values.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kserde/dtype.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "kserde/saving.hpp"

using namespace kserde;

namespace {

// Deterministic values in [-0.9, 0.9].
std::vector<float> rnd(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 5u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = 0.9f * (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f);
  }
  return v;
}

float half(double x) {
  return half_to_float(float_to_half(static_cast<float>(x)));
}
float bf16(double x) {
  return bfloat16_to_float(float_to_bfloat16(static_cast<float>(x)));
}

std::string policy(const std::string& name) {
  return R"("dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": ")" +
         name + R"("}, "registered_name": null})";
}

Tensor doubles(const Shape& shape, const std::vector<double>& v) {
  Tensor t(shape, DType::Float64);
  auto out = t.mutable_values<double>();
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = v[i];
  return t;
}

// A one-layer model on `input_shape` (without the batch axis), the layer given `weights`.
Tensor run(const std::shared_ptr<Layer>& layer, const Shape& input_shape, const Tensor& x,
           DType input_dtype = DType::Float32, const TensorList& weights = {}) {
  Sequential m("m");
  m.add(layers::Input(input_shape, input_dtype));
  m.add(layer);
  if (!weights.empty()) layer->set_weights(weights);
  return m.predict(x);
}

const double kTiny = std::ldexp(1.0, -30);  // 1 + kTiny is not a float32

}  // namespace

BOOST_AUTO_TEST_SUITE(dtype_compute)

BOOST_AUTO_TEST_CASE(mixed_float16_conv1d_rounds_each_numpy_step) {
  auto conv =
      layers::from_config("Conv1D", R"({"filters": 2, "kernel_size": 2, "activation": "relu", )" +
                                        policy("mixed_float16") + "}");
  const auto x = rnd(2 * 4 * 3, 1), k = rnd(2 * 3 * 2, 2), b = rnd(2, 3);
  Sequential m("m");
  m.add(layers::Input({4, 3}));
  m.add(conv);
  conv->set_weights({Tensor::from_floats({2, 3, 2}, k), Tensor::from_floats({2}, b)});
  const Tensor y = m.predict(Tensor::from_floats({2, 4, 3}, x));
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float16);
  const Tensor yf = y.to(DType::Float32);
  for (int n = 0; n < 2; ++n) {
    for (int t = 0; t < 3; ++t) {
      for (int f = 0; f < 2; ++f) {
        double acc = 0;
        for (int j = 0; j < 2; ++j) {
          for (int c = 0; c < 3; ++c) {
            acc += static_cast<double>(half(x[static_cast<std::size_t>((n * 4 + t + j) * 3 + c)])) *
                   half(k[static_cast<std::size_t>((j * 3 + c) * 2 + f)]);
          }
        }
        const float v = half(half(acc) + half(b[static_cast<std::size_t>(f)]));
        BOOST_TEST(yf.f32()[(n * 3 + t) * 2 + f] == (v > 0 ? v : 0.0f));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(mixed_bfloat16_conv1d_transpose_rounds_to_bfloat16) {
  // kernel 2, strides 2: output position 2i + j takes input i and tap j only.
  auto conv =
      layers::from_config("Conv1DTranspose", R"({"filters": 2, "kernel_size": 2, "strides": 2, )" +
                                                 policy("mixed_bfloat16") + "}");
  const auto x = rnd(3 * 2, 4), k = rnd(2 * 2 * 2, 5), b = rnd(2, 6);
  Sequential m("m");
  m.add(layers::Input({3, 2}));
  m.add(conv);
  conv->set_weights({Tensor::from_floats({2, 2, 2}, k), Tensor::from_floats({2}, b)});
  const Tensor y = m.predict(Tensor::from_floats({1, 3, 2}, x));
  BOOST_TEST_REQUIRE(y.dtype() == DType::BFloat16);
  BOOST_TEST_REQUIRE(y.shape() == (Shape{1, 6, 2}));
  const Tensor yf = y.to(DType::Float32);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 2; ++j) {
      for (int f = 0; f < 2; ++f) {
        double acc = 0;
        for (int c = 0; c < 2; ++c) {  // kernel (k, filters, in_channels)
          acc += static_cast<double>(bf16(x[static_cast<std::size_t>(i * 2 + c)])) *
                 bf16(k[static_cast<std::size_t>((j * 2 + f) * 2 + c)]);
        }
        const float v = bf16(bf16(acc) + bf16(b[static_cast<std::size_t>(f)]));
        BOOST_TEST(yf.f32()[(i * 2 + j) * 2 + f] == v);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(mixed_float16_depthwise_and_separable_round_each_convolution) {
  const auto x = rnd(4 * 2, 7), dk = rnd(2 * 2 * 2, 8), pk = rnd(4 * 3, 9), b = rnd(4, 10);
  {  // DepthwiseConv1D(kernel 2, depth_multiplier 2): channel c * 2 + m from input channel c.
    auto dw =
        layers::from_config("DepthwiseConv1D", R"({"kernel_size": 2, "depth_multiplier": 2, )" +
                                                   policy("mixed_float16") + "}");
    Sequential m("m");
    m.add(layers::Input({4, 2}));
    m.add(dw);
    dw->set_weights({Tensor::from_floats({2, 2, 2}, dk), Tensor::from_floats({4}, b)});
    const Tensor y = m.predict(Tensor::from_floats({1, 4, 2}, x)).to(DType::Float32);
    for (int t = 0; t < 3; ++t) {
      for (int c = 0; c < 2; ++c) {
        for (int mm = 0; mm < 2; ++mm) {
          double acc = 0;
          for (int j = 0; j < 2; ++j) {
            acc += static_cast<double>(half(x[static_cast<std::size_t>((t + j) * 2 + c)])) *
                   half(dk[static_cast<std::size_t>((j * 2 + c) * 2 + mm)]);
          }
          const float v = half(half(acc) + half(b[static_cast<std::size_t>(c * 2 + mm)]));
          BOOST_TEST(y.f32()[t * 4 + c * 2 + mm] == v);
        }
      }
    }
  }
  {  // SeparableConv1D(filters 3, kernel 2, depth_multiplier 2): depthwise result rounded, then
     // the pointwise product rounded, then the bias.
    auto sep = layers::from_config("SeparableConv1D",
                                   R"({"filters": 3, "kernel_size": 2, "depth_multiplier": 2, )" +
                                       policy("mixed_float16") + "}");
    Sequential m("m");
    m.add(layers::Input({4, 2}));
    m.add(sep);
    sep->set_weights({Tensor::from_floats({2, 2, 2}, dk), Tensor::from_floats({1, 4, 3}, pk),
                      Tensor::from_floats({3}, std::vector<float>(b.begin(), b.begin() + 3))});
    const Tensor y = m.predict(Tensor::from_floats({1, 4, 2}, x)).to(DType::Float32);
    for (int t = 0; t < 3; ++t) {
      float mid[4];
      for (int c = 0; c < 2; ++c) {
        for (int mm = 0; mm < 2; ++mm) {
          double acc = 0;
          for (int j = 0; j < 2; ++j) {
            acc += static_cast<double>(half(x[static_cast<std::size_t>((t + j) * 2 + c)])) *
                   half(dk[static_cast<std::size_t>((j * 2 + c) * 2 + mm)]);
          }
          mid[c * 2 + mm] = half(acc);
        }
      }
      for (int f = 0; f < 3; ++f) {
        double acc = 0;
        for (int q = 0; q < 4; ++q) {
          acc += static_cast<double>(mid[q]) * half(pk[static_cast<std::size_t>(q * 3 + f)]);
        }
        const float v = half(half(acc) + half(b[static_cast<std::size_t>(f)]));
        BOOST_TEST(y.f32()[t * 3 + f] == v);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(float64_convolutions_add_bias_and_activate_in_double) {
  // Kernel 1 everywhere: the float32 convolution of 0.5 is 0.5 and of 1 + 2^-30 is 1 (the input
  // is rounded to float32 first); the bias 1 + 2^-30 is then added in double.
  struct Case {
    const char* cls;
    const char* config;
    TensorList weights;
  };
  const Tensor one3 = doubles({1, 1, 1}, {1.0});
  const Tensor bias = doubles({1}, {1.0 + kTiny});
  const std::vector<Case> cases{
      {"Conv1D", R"({"filters": 1, "kernel_size": 1, "dtype": "float64"})", {one3, bias}},
      {"Conv1DTranspose", R"({"filters": 1, "kernel_size": 1, "dtype": "float64"})", {one3, bias}},
      {"DepthwiseConv1D", R"({"kernel_size": 1, "dtype": "float64"})", {one3, bias}},
      {"SeparableConv1D",
       R"({"filters": 1, "kernel_size": 1, "dtype": "float64"})",
       {one3, one3, bias}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.cls) {
      auto l = layers::from_config(c.cls, c.config);
      Sequential m("m");
      m.add(layers::Input({2, 1}, DType::Float64));
      m.add(l);
      l->set_weights(c.weights);
      const Tensor y = m.predict(doubles({1, 2, 1}, {0.5, 1.0 + kTiny}));
      BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
      BOOST_TEST(y.values<double>()[0] == 1.5 + kTiny);
      BOOST_TEST(y.values<double>()[1] == 2.0 + kTiny);
    }
  }
}

BOOST_AUTO_TEST_CASE(float64_conv_channels_first_and_activations) {
  // channels_first Conv1D, 2 filters of kernel 1 (weights 1 and 2), bias (2^-30, -2^-30), relu:
  // out[f][l] = relu(x[l] * w[f] + b[f]).
  auto conv = layers::from_config(
      "Conv1D",
      R"({"filters": 2, "kernel_size": 1, "data_format": "channels_first", "activation": "relu", "dtype": "float64"})");
  const Tensor y = [&] {
    Sequential m("m");
    m.add(layers::Input({1, 3}, DType::Float64));
    m.add(conv);
    conv->set_weights({doubles({1, 1, 2}, {1.0, 2.0}), doubles({2}, {kTiny, -kTiny})});
    return m.predict(doubles({1, 1, 3}, {1.0, -1.0, 3.0}));
  }();
  BOOST_TEST_REQUIRE(y.shape() == (Shape{1, 2, 3}));
  const std::vector<double> expected{1 + kTiny, 0.0, 3 + kTiny, 2 - kTiny, 0.0, 6 - kTiny};
  for (std::size_t i = 0; i < expected.size(); ++i)
    BOOST_TEST(y.values<double>()[i] == expected[i]);

  // sigmoid in double: 1 / (1 + exp(-v)) for v = 0.5 + 2^-30, which float32 cannot hold.
  auto sig = layers::from_config(
      "Conv1D", R"({"filters": 1, "kernel_size": 1, "activation": "sigmoid", "dtype": "float64"})");
  Sequential m("m");
  m.add(layers::Input({1, 1}, DType::Float64));
  m.add(sig);
  sig->set_weights({doubles({1, 1, 1}, {1.0}), doubles({1}, {kTiny})});
  const double v = 0.5 + kTiny;
  const double s = m.predict(doubles({1, 1, 1}, {0.5})).values<double>()[0];
  BOOST_TEST(std::fabs(s - 1.0 / (1.0 + std::exp(-v))) <= 2e-16);
  BOOST_TEST(std::fabs(s - 1.0 / (1.0 + std::exp(-0.5))) > 1e-11);  // the 2^-30 is there
}

BOOST_AUTO_TEST_CASE(float64_dense_activations_stay_double) {
  // relu(1 + 2^-30) keeps the 2^-30 (a float32 relu would give 1).
  auto relu =
      layers::from_config("Dense", R"({"units": 1, "activation": "relu", "dtype": "float64"})");
  const Tensor y = run(relu, {1}, doubles({1, 1}, {1.0 + kTiny}), DType::Float64,
                       {doubles({1, 1}, {1.0}), doubles({1}, {0.0})});
  BOOST_TEST(y.values<double>()[0] == 1.0 + kTiny);
  // softmax over logits (0, 2^-30): (1 / (1 + e^d), e^d / (1 + e^d)) in double.
  auto soft =
      layers::from_config("Dense", R"({"units": 2, "activation": "softmax", "dtype": "float64"})");
  const Tensor p = run(soft, {1}, doubles({1, 1}, {kTiny}), DType::Float64,
                       {doubles({1, 2}, {0.0, 1.0}), doubles({2}, {0.0, 0.0})});
  const double e = std::exp(kTiny);
  BOOST_TEST(std::fabs(p.values<double>()[0] - 1.0 / (1.0 + e)) <= 3e-16);
  BOOST_TEST(std::fabs(p.values<double>()[1] - e / (1.0 + e)) <= 3e-16);
  BOOST_TEST(p.values<double>()[0] < p.values<double>()[1]);
}

BOOST_AUTO_TEST_CASE(float64_normalizations_compute_in_double) {
  // BatchNormalization(epsilon=0) with mean 1e8, variance 1: 1e8 + 1 -> 1 (float32: 0).
  auto bn = layers::from_config("BatchNormalization", R"({"epsilon": 0.0, "dtype": "float64"})");
  Sequential mb("mb");
  mb.add(layers::Input({1}, DType::Float64));
  mb.add(bn);
  bn->set_weights(
      {doubles({1}, {1.0}), doubles({1}, {0.0}), doubles({1}, {1e8}), doubles({1}, {1.0})});
  const Tensor b = mb.predict(doubles({2, 1}, {1e8 + 1, 1e8 - 3}));
  BOOST_TEST_REQUIRE(b.dtype() == DType::Float64);
  BOOST_TEST(b.values<double>()[0] == 1.0);
  BOOST_TEST(b.values<double>()[1] == -3.0);

  // LayerNormalization(epsilon=0) of (1e8 + 1, 1e8 - 1): mean 1e8, variance 1, so the
  // normalized values are (1, -1); gamma (1, 2), beta (0.25, 0) -> (1.25, -2) (float32: NaN).
  auto ln = layers::from_config("LayerNormalization", R"({"epsilon": 0.0, "dtype": "float64"})");
  Sequential ml("ml");
  ml.add(layers::Input({2}, DType::Float64));
  ml.add(ln);
  ln->set_weights({doubles({2}, {1.0, 2.0}), doubles({2}, {0.25, 0.0})});
  const Tensor l = ml.predict(doubles({1, 2}, {1e8 + 1, 1e8 - 1}));
  BOOST_TEST_REQUIRE(l.dtype() == DType::Float64);
  BOOST_TEST(l.values<double>()[0] == 1.25);
  BOOST_TEST(l.values<double>()[1] == -2.0);
}

BOOST_AUTO_TEST_CASE(float64_embedding_and_global_pooling_keep_double) {
  auto emb =
      layers::from_config("Embedding", R"({"input_dim": 3, "output_dim": 2, "dtype": "float64"})");
  Sequential me("me");
  me.add(layers::Input({2}, DType::Int32));
  me.add(emb);
  emb->set_weights({doubles({3, 2}, {0, 0, 1 + kTiny, -kTiny, 5, 6})});
  Tensor ids({1, 2}, DType::Int32);
  ids.mutable_values<std::int32_t>()[0] = 1;
  ids.mutable_values<std::int32_t>()[1] = 2;
  const Tensor e = me.predict(ids);
  BOOST_TEST_REQUIRE(e.dtype() == DType::Float64);
  const std::vector<double> expected{1 + kTiny, -kTiny, 5, 6};
  for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(e.values<double>()[i] == expected[i]);

  // Mean of 1e8 + 1 and 1e8 + 3 is 1e8 + 2; max 1e8 + 3 (float32: 1e8 for all three).
  for (const char* cls : {"GlobalAveragePooling1D", "GlobalMaxPooling1D"}) {
    BOOST_TEST_CONTEXT(cls) {
      auto p = layers::from_config(cls, R"({"dtype": "float64"})");
      const Tensor y = run(p, {2, 1}, doubles({1, 2, 1}, {1e8 + 1, 1e8 + 3}), DType::Float64);
      BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
      BOOST_TEST(y.values<double>()[0] == (std::string(cls)[6] == 'A' ? 1e8 + 2 : 1e8 + 3));
    }
  }
}

BOOST_AUTO_TEST_CASE(mixed_float16_activations_round_each_numpy_operation) {
  // Dense(2) with sigmoid, softmax and silu: NumPy's float16 sigmoid is 1 / (1 + exp(-z)) with
  // each of exp, + and / rounded; softmax rounds x - max, exp, the (float32-accumulated) sum and
  // the quotient; silu rounds z * sigmoid(z).
  const auto x = rnd(3 * 4, 11), k = rnd(4 * 2, 12), b = rnd(2, 13);
  for (const char* act : {"sigmoid", "softmax", "silu"}) {
    BOOST_TEST_CONTEXT(act) {
      auto d = layers::from_config("Dense", std::string(R"({"units": 2, "activation": ")") + act +
                                                "\", " + policy("mixed_float16") + "}");
      const Tensor y = run(d, {4}, Tensor::from_floats({3, 4}, x), DType::Float32,
                           {Tensor::from_floats({4, 2}, k), Tensor::from_floats({2}, b)})
                           .to(DType::Float32);
      for (int r = 0; r < 3; ++r) {
        float z[2];
        for (int j = 0; j < 2; ++j) {
          double acc = 0;
          for (int i = 0; i < 4; ++i) {
            acc += static_cast<double>(half(x[static_cast<std::size_t>(r * 4 + i)])) *
                   half(k[static_cast<std::size_t>(i * 2 + j)]);
          }
          z[j] = half(half(acc) + half(b[static_cast<std::size_t>(j)]));
        }
        auto sig = [](float v) { return half(1.0f / half(1.0f + half(std::exp(-v)))); };
        float want[2];
        if (std::string(act) == "softmax") {
          const float m = std::max(z[0], z[1]);
          const float e0 = half(std::exp(half(z[0] - m))), e1 = half(std::exp(half(z[1] - m)));
          const float s = half(e0 + e1);
          want[0] = half(e0 / s);
          want[1] = half(e1 / s);
        } else {
          for (int j = 0; j < 2; ++j) {
            want[j] = std::string(act) == "sigmoid" ? sig(z[j]) : half(z[j] * sig(z[j]));
          }
        }
        for (int j = 0; j < 2; ++j) BOOST_TEST(y.f32()[r * 2 + j] == want[j]);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(float64_composite_activations_compute_in_double) {
  // Each activation at 0.5 + 2^-30 against its formula from Keras's NumPy backend evaluated here
  // in double; a float32 evaluation loses the 2^-30, which moves every one of these results by
  // more than 1e-11.
  const double x = 0.5 + kTiny;
  const double sp = std::log1p(std::exp(-x)) + x;  // softplus(x), x > 0
  const std::vector<std::pair<std::string, double>> cases = {
      {"gelu", 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)))},
      {"mish", x * std::tanh(sp)},
      {"hard_sigmoid", (x + 3.0) / 6.0},
      {"hard_silu", x * (x + 3.0) / 6.0},
      {"log_sigmoid", -std::log1p(std::exp(-x))},
      {"squareplus", 0.5 * (x + std::sqrt(x * x + 4.0))},
      {"tanh_shrink", x - std::tanh(x)},
      {"celu", x},
      {"sparse_plus", 0.25 * (x + 1.0) * (x + 1.0)},
  };
  for (const auto& [name, expected] : cases) {
    BOOST_TEST_CONTEXT(name) {
      auto a = layers::from_config("Activation",
                                   R"({"activation": ")" + name + R"(", "dtype": "float64"})");
      const Tensor y = run(a, {1}, doubles({1, 1}, {x}), DType::Float64);
      BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
      BOOST_TEST(std::fabs(y.values<double>()[0] - expected) <= 4e-16);
    }
  }
  // log_softmax over (0, 2^-30): -log(1 + e^d) and d - log(1 + e^d), which differ by 2^-30.
  auto ls =
      layers::from_config("Activation", R"({"activation": "log_softmax", "dtype": "float64"})");
  const Tensor y = run(ls, {2}, doubles({1, 2}, {0.0, kTiny}), DType::Float64);
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
  const double lse = std::log(1.0 + std::exp(kTiny));
  BOOST_TEST(std::fabs(y.values<double>()[0] + lse) <= 3e-16);
  BOOST_TEST(std::fabs(y.values<double>()[1] - (kTiny - lse)) <= 3e-16);
  BOOST_TEST(y.values<double>()[1] - y.values<double>()[0] > 0.5 * kTiny);
}

BOOST_AUTO_TEST_CASE(float64_activation_layer_stays_double) {
  auto a = layers::from_config("Activation", R"({"activation": "tanh", "dtype": "float64"})");
  const Tensor y = run(a, {1}, doubles({1, 1}, {0.5 + kTiny}), DType::Float64);
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
  BOOST_TEST(std::fabs(y.values<double>()[0] - std::tanh(0.5 + kTiny)) <= 2e-16);
  BOOST_TEST(std::fabs(y.values<double>()[0] - std::tanh(0.5)) > 1e-11);
}

BOOST_AUTO_TEST_CASE(float64_merges_compute_in_double) {
  // a = (1e8 + 1, 1 + 2^-30), b = (-1e8, 1): values float32 copies would lose.
  const Tensor a = doubles({1, 2}, {1e8 + 1, 1.0 + kTiny});
  const Tensor b = doubles({1, 2}, {-1e8, 1.0});
  struct Case {
    const char* cls;
    std::vector<double> expected;
  };
  const std::vector<Case> cases{
      {"Add", {1.0, 2.0 + kTiny}},         {"Subtract", {2e8 + 1, kTiny}},
      {"Average", {0.5, 1.0 + kTiny / 2}}, {"Multiply", {-1e16 - 1e8, 1.0 + kTiny}},
      {"Maximum", {1e8 + 1, 1.0 + kTiny}}, {"Minimum", {-1e8, 1.0}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.cls) {
      auto l = layers::from_config(c.cls, R"({"dtype": "float64"})");
      CallContext ctx;
      const Tensor y = l->call({a, b}, ctx).at(0);
      BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
      for (std::size_t i = 0; i < 2; ++i) BOOST_TEST(y.values<double>()[i] == c.expected[i]);
    }
  }
}

BOOST_AUTO_TEST_CASE(mixed_float16_einsum_dense_rounds_like_dense) {
  // "ab,bc->ac" with bias "c" and relu: round(round(round(x) . round(k)) + round(b)), relu.
  const auto x = rnd(2 * 5, 21), k = rnd(5 * 3, 22), b = rnd(3, 23);
  auto e = layers::from_config(
      "EinsumDense", R"({"equation": "ab,bc->ac", "output_shape": [3], "bias_axes": "c", )"
                     R"("activation": "relu", )" +
                         policy("mixed_float16") + "}");
  const Tensor y = run(e, {5}, Tensor::from_floats({2, 5}, x), DType::Float32,
                       {Tensor::from_floats({5, 3}, k), Tensor::from_floats({3}, b)});
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float16);
  const Tensor yf = y.to(DType::Float32);
  for (int r = 0; r < 2; ++r) {
    for (int j = 0; j < 3; ++j) {
      double acc = 0;
      for (int i = 0; i < 5; ++i) {
        acc += static_cast<double>(half(x[static_cast<std::size_t>(r * 5 + i)])) *
               half(k[static_cast<std::size_t>(i * 3 + j)]);
      }
      const float v = half(half(acc) + half(b[static_cast<std::size_t>(j)]));
      BOOST_TEST(yf.f32()[r * 3 + j] == (v > 0 ? v : 0.0f));
    }
  }
}

BOOST_AUTO_TEST_CASE(float64_activation_layers_compute_in_double) {
  // x = (1 + 2^-30, -(1 + 2^-30)): ReLU -> (1 + 2^-30, 0); LeakyReLU(0.5) -> (1 + 2^-30,
  // -0.5 - 2^-31); ELU -> (1 + 2^-30, expm1(-(1 + 2^-30))); Softmax -> (1, e^-d) / (1 + e^-d)
  // with d = 2 + 2^-29.
  const Tensor x = doubles({1, 2}, {1.0 + kTiny, -(1.0 + kTiny)});
  const double d = 2.0 + 2 * kTiny;
  struct Case {
    const char* cls;
    const char* config;
    std::vector<double> expected;
    double tol;
  };
  const std::vector<Case> cases{
      {"ReLU", R"({"dtype": "float64"})", {1.0 + kTiny, 0.0}, 0.0},
      {"LeakyReLU",
       R"({"negative_slope": 0.5, "dtype": "float64"})",
       {1.0 + kTiny, -0.5 - kTiny / 2},
       0.0},
      {"ELU", R"({"dtype": "float64"})", {1.0 + kTiny, std::expm1(-(1.0 + kTiny))}, 2e-16},
      {"Softmax",
       R"({"dtype": "float64"})",
       {1.0 / (1.0 + std::exp(-d)), std::exp(-d) / (1.0 + std::exp(-d))},
       2e-16},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.cls) {
      const Tensor y = run(layers::from_config(c.cls, c.config), {2}, x, DType::Float64);
      BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
      for (std::size_t i = 0; i < 2; ++i) {
        BOOST_TEST(std::fabs(y.values<double>()[i] - c.expected[i]) <= c.tol);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(half_merges_round_each_operation) {
  // Add(1, 2^-11, 2^-11) in float16: 1 + 2^-11 is a tie that rounds to 1, twice, so 1 (one
  // rounding of the whole sum would give 1 + 2^-10). Average(1, 1, 2) = half(4 / 3).
  const double t = std::ldexp(1.0, -11);
  struct Case {
    const char* cls;
    std::vector<double> values;
    float expected;
  };
  const std::vector<Case> cases{
      {"Add", {1.0, t, t}, 1.0f},
      {"Average", {1.0, 1.0, 2.0}, half(4.0 / 3.0)},
      {"Multiply", {3.0, 1.0 / 3.0, 3.0}, half(3.0 * half(3.0 * half(1.0 / 3.0)))}};
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.cls) {
      auto l = layers::from_config(c.cls, "{" + policy("mixed_float16") + "}");
      TensorList in;
      for (double v : c.values)
        in.push_back(Tensor::from_floats({1, 1}, std::vector<float>{half(v)}));
      CallContext ctx;
      const Tensor y = l->call(in, ctx).at(0).to(DType::Float32);
      BOOST_TEST(y.f32()[0] == c.expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(rescaling_in_float64_and_float16) {
  // float64: 200 * (1 / 255) - 1 in double, from an integer image.
  auto r64 = layers::from_config(
      "Rescaling", R"({"scale": 0.00392156862745098, "offset": -1.0, "dtype": "float64"})");
  Tensor img({1, 2}, DType::Int32);
  img.mutable_values<std::int32_t>()[0] = 200;
  img.mutable_values<std::int32_t>()[1] = 255;
  CallContext ctx;
  const Tensor y = r64->call({img}, ctx).at(0);
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
  BOOST_TEST(y.values<double>()[0] == 200 * 0.00392156862745098 - 1.0);
  BOOST_TEST(y.values<double>()[1] == 255 * 0.00392156862745098 - 1.0);
  // float16: half(half(x * half(scale)) + half(offset)).
  auto r16 = layers::from_config(
      "Rescaling", R"({"scale": 0.1, "offset": 0.3, )" + policy("mixed_float16") + "}");
  const auto x = rnd(8, 31);
  std::vector<float> hx;
  for (float v : x) hx.push_back(half(v * 40.0f));
  const Tensor z = r16->call({Tensor::from_floats({1, 8}, hx)}, ctx).at(0);
  for (std::size_t i = 0; i < 8; ++i) {
    BOOST_TEST(z.f32()[i] == half(half(hx[i] * half(0.1)) + half(0.3)));
  }
}

BOOST_AUTO_TEST_CASE(float64_prelu_keeps_double) {
  // alpha 0.5 + 2^-30: -2 * alpha = -1 - 2^-29 (float32: -1).
  auto p = layers::from_config("PReLU", R"({"dtype": "float64"})");
  const Tensor y = run(p, {2}, doubles({1, 2}, {1.0 + kTiny, -2.0}), DType::Float64,
                       {doubles({2}, {0.25, 0.5 + kTiny})});
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
  BOOST_TEST(y.values<double>()[0] == 1.0 + kTiny);
  BOOST_TEST(y.values<double>()[1] == -1.0 - 2 * kTiny);
}

BOOST_AUTO_TEST_CASE(float64_normalization_layer_keeps_double) {
  // mean 1e8, variance 4: (1e8 + 1 - 1e8) / 2 = 0.5 (float32: 0); invert: 1e8 + 0.5 * 2.
  for (const bool invert : {false, true}) {
    BOOST_TEST_CONTEXT("invert " << invert) {
      auto n = layers::from_config("Normalization",
                                   std::string(R"({"axis": -1, "dtype": "float64", "invert": )") +
                                       (invert ? "true" : "false") + "}");
      const Tensor y = run(n, {1}, doubles({1, 1}, {invert ? 0.5 : 1e8 + 1}), DType::Float64,
                           {doubles({1}, {1e8}), doubles({1}, {4.0}), Tensor({}, DType::Int64)});
      BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
      BOOST_TEST(y.values<double>()[0] == (invert ? 1e8 + 1 : 0.5));
    }
  }
}

BOOST_AUTO_TEST_CASE(mixed_float16_composite_activations_round_each_numpy_operation) {
  // Keras's NumPy activations, each NumPy operation rounded to float16 (constants cast first):
  // selu = r(scale) * where(x >= 0, x, r(r(alpha) * r(expm1 x))); softsign = x / r(1 + |x|);
  // gelu = r(r(x * r(erf(r(x / r(sqrt 2))) + 1)) / 2) (SciPy's erf of float16 and the + 1 give
  // float32);
  // gelu_approximate rounds each step of 0.5 x (1 + tanh(s (x + c x^3)));
  // mish = x * r(tanh(r(softplus x))); log_softmax = r(r(x - max) - r(log(r(sum r(exp(x -
  // max)))))). Each must differ somewhere from the float32 formula rounded once.
  std::vector<float> x(64);
  for (std::size_t i = 0; i < x.size(); ++i)
    x[i] = half(-4.0 + 8.0 * static_cast<double>(i) / 63 + 1e-3);
  auto r = [](double v) { return half(v); };
  const std::vector<std::string> acts{"selu", "softsign",   "gelu", "gelu_approximate",
                                      "mish", "log_softmax"};
  for (const std::string& act : acts) {
    BOOST_TEST_CONTEXT(act) {
      auto a = layers::from_config(
          "Activation", R"({"activation": ")" + act + "\", " + policy("mixed_float16") + "}");
      const Tensor y = run(a, {8}, Tensor::from_floats({8, 8}, x)).to(DType::Float32);
      std::vector<float> want(x.size()), once(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double v = x[i];
        if (act == "selu") {
          const double al = 1.6732632423543772, sc = 1.0507009873554805;
          want[i] = r(r(sc) * (v >= 0 ? v : r(r(al) * r(std::expm1(v)))));
          once[i] = r(sc * (v > 0 ? v : al * std::expm1(v)));
        } else if (act == "softsign") {
          want[i] = r(v / r(1 + std::fabs(v)));
          once[i] = r(v / (1 + std::fabs(v)));
        } else if (act == "gelu") {
          const double t = r(v / r(std::sqrt(2.0)));
          const float e = static_cast<float>(std::erf(t)) + 1.0f;  // SciPy: float32 result
          want[i] = r(r(v * r(e)) / 2);
          once[i] = r(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
        } else if (act == "gelu_approximate") {
          // x * r(0.5 * r(1 + r(tanh(r(s * r(x + r(r(0.044715) * r(x^3))))))))
          const double s = r(std::sqrt(2.0 / M_PI));
          const double in = r(v + r(r(0.044715) * r(v * v * v)));
          want[i] = r(v * r(0.5 * r(1 + r(std::tanh(r(s * in))))));
          once[i] =
              r(0.5 * v * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v))));
        } else if (act == "mish") {
          const double sp = std::max(v, 0.0) + std::log1p(std::exp(-std::fabs(v)));
          want[i] = r(v * r(std::tanh(r(sp))));
          once[i] = r(v * std::tanh(sp));
        }
      }
      if (act == "log_softmax") {
        for (std::size_t row = 0; row < 8; ++row) {
          const float* xr = x.data() + row * 8;
          const double m = *std::max_element(xr, xr + 8);
          double sum = 0, exact = 0;
          for (int j = 0; j < 8; ++j) {
            sum += r(std::exp(r(xr[j] - m)));
            exact += std::exp(xr[j] - m);
          }
          const double lse = r(std::log(r(sum)));
          for (std::size_t j = 0; j < 8; ++j) {
            want[row * 8 + j] = r(r(xr[j] - m) - lse);
            once[row * 8 + j] = r(xr[j] - m - std::log(exact));
          }
        }
      }
      int differ = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        BOOST_TEST(y.f32()[i] == want[i], "x " << x[i]);
        differ += want[i] != once[i] ? 1 : 0;
      }
      BOOST_TEST(differ > 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(mixed_float16_recurrent_layers_round_each_numpy_operation) {
  // LSTM and GRU (reset_after true) under mixed_float16 over 3 steps: every matmul (summed in
  // float32), sum, product and activation operation of Keras's cells rounded to float16, against
  // a naive loop written here.
  const int T = 3, D = 2, U = 2;
  const auto x = rnd(T * D, 41);
  auto h16 = [](float v) { return half(v); };
  auto sig = [&](float v) { return h16(1.0f / h16(1.0f + h16(std::exp(-v)))); };
  auto th = [&](float v) { return h16(std::tanh(v)); };
  for (const std::string cls : {"LSTM", "GRU"}) {
    BOOST_TEST_CONTEXT(cls) {
      const int G = cls == "LSTM" ? 4 : 3;
      const std::size_t nb = static_cast<std::size_t>((cls == "GRU" ? 2 : 1) * G * U);
      const auto k = rnd(static_cast<std::size_t>(D * G * U), 42),
                 rk = rnd(static_cast<std::size_t>(U * G * U), 43), b = rnd(nb, 44);
      auto l = layers::from_config(
          cls, R"({"units": 2, "return_sequences": true, )" + policy("mixed_float16") + "}");
      Sequential m("m");
      m.add(layers::Input({T, D}));
      m.add(l);
      const Shape bias_shape = cls == "GRU" ? Shape{2, G * U} : Shape{G * U};
      for (const auto& child : l->tracked_children()) {
        if (child.attribute != "cell") continue;
        child.layers.at(0)->set_weights({Tensor::from_floats({D, G * U}, k),
                                         Tensor::from_floats({U, G * U}, rk),
                                         Tensor::from_floats(bias_shape, b)});
      }
      const Tensor y = m.predict(Tensor::from_floats({1, T, D}, x));
      BOOST_TEST_REQUIRE(y.dtype() == DType::Float16);
      const Tensor yf = y.to(DType::Float32);
      std::vector<float> h(U, 0.0f), c(U, 0.0f);
      auto mm = [&](const float* a, int depth, const std::vector<float>& w, int j) {
        float acc = 0.0f;
        for (int i = 0; i < depth; ++i)
          acc += h16(a[i]) * h16(w[static_cast<std::size_t>(i * G * U + j)]);
        return h16(acc);
      };
      for (int t = 0; t < T; ++t) {
        std::vector<float> xt(static_cast<std::size_t>(D));
        for (int i = 0; i < D; ++i)
          xt[static_cast<std::size_t>(i)] = h16(x[static_cast<std::size_t>(t * D + i)]);
        std::vector<float> xw(static_cast<std::size_t>(G * U)), hu(xw.size());
        for (int j = 0; j < G * U; ++j) {
          xw[static_cast<std::size_t>(j)] = mm(xt.data(), D, k, j);
          hu[static_cast<std::size_t>(j)] = mm(h.data(), U, rk, j);
        }
        auto at = [](const std::vector<float>& v, int i) { return v[static_cast<std::size_t>(i)]; };
        std::vector<float> hn(static_cast<std::size_t>(U));
        for (int j = 0; j < U; ++j) {
          if (cls == "LSTM") {
            float zz[4];
            for (int g = 0; g < 4; ++g)
              zz[g] = h16(h16(at(xw, g * U + j) + at(hu, g * U + j)) + h16(at(b, g * U + j)));
            const float ig = sig(zz[0]), fg = sig(zz[1]), cg = th(zz[2]), og = sig(zz[3]);
            c[static_cast<std::size_t>(j)] =
                h16(h16(fg * c[static_cast<std::size_t>(j)]) + h16(ig * cg));
            hn[static_cast<std::size_t>(j)] = h16(og * th(c[static_cast<std::size_t>(j)]));
          } else {
            float xg[3], ig[3];
            for (int g = 0; g < 3; ++g) {
              xg[g] = h16(at(xw, g * U + j) + h16(at(b, g * U + j)));
              ig[g] = h16(at(hu, g * U + j) + h16(at(b, G * U + g * U + j)));
            }
            const float zg = sig(h16(xg[0] + ig[0])), rg = sig(h16(xg[1] + ig[1]));
            const float hh = th(h16(xg[2] + h16(rg * ig[2])));
            hn[static_cast<std::size_t>(j)] =
                h16(h16(zg * h[static_cast<std::size_t>(j)]) + h16(h16(1.0f - zg) * hh));
          }
        }
        h = hn;
        for (int j = 0; j < U; ++j)
          BOOST_TEST(yf.f32()[t * U + j] == h[static_cast<std::size_t>(j)],
                     "t " << t << " j " << j);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(mixed_float16_multi_head_attention_rounds_as_numpy) {
  // MultiHeadAttention under mixed_float16, against a naive loop: projections as EinsumDense
  // (einsum summed in float32 and rounded, bias add rounded). Fused path (dropout 0): q k^T
  // rounded, scaled and softmaxed in float32, probabilities rounded, weighted values rounded.
  // Otherwise (dropout 0.1, inference): query times the rounded scale rounded, scores rounded,
  // each softmax operation rounded, weighted values rounded.
  const int Tq = 2, Tk = 3, D = 4, H = 2, Dk = 2;
  auto h16 = [](float v) { return half(v); };
  const auto q = rnd(Tq * D, 51), v = rnd(Tk * D, 52);
  const auto wq = rnd(D * H * Dk, 53), wk = rnd(D * H * Dk, 54), wv = rnd(D * H * Dk, 55),
             wo = rnd(H * Dk * D, 56), bq = rnd(H * Dk, 57), bk = rnd(H * Dk, 58),
             bv = rnd(H * Dk, 59), bo = rnd(D, 60);
  auto at = [](const std::vector<float>& a, int i) { return a[static_cast<std::size_t>(i)]; };
  // rows x in_dim @ (in_dim, out) + b, as EinsumDense in float16.
  auto proj = [&](const std::vector<float>& x, int rows, int in_dim, const std::vector<float>& w,
                  const std::vector<float>& b, int out) {
    std::vector<float> y(static_cast<std::size_t>(rows * out));
    for (int r = 0; r < rows; ++r) {
      for (int j = 0; j < out; ++j) {
        float acc = 0.0f;
        for (int i = 0; i < in_dim; ++i)
          acc += h16(at(x, r * in_dim + i)) * h16(at(w, i * out + j));
        y[static_cast<std::size_t>(r * out + j)] = h16(h16(acc) + h16(at(b, j)));
      }
    }
    return y;
  };
  for (const bool fused : {true, false}) {
    BOOST_TEST_CONTEXT("fused " << fused) {
      auto l = layers::from_config(
          "MultiHeadAttention", std::string(R"({"num_heads": 2, "key_dim": 2, "dropout": )") +
                                    (fused ? "0.0" : "0.1") + ", " + policy("mixed_float16") + "}");
      l->build({{-1, Tq, D}, {-1, Tk, D}});
      for (const auto& c : l->tracked_children()) {
        Layer& sub = *c.layers.at(0);
        auto set = [&](const Shape& ks, const std::vector<float>& kv, const Shape& bs,
                       const std::vector<float>& b) {
          sub.set_weights({Tensor::from_floats(ks, kv), Tensor::from_floats(bs, b)});
        };
        if (c.attribute == "query_dense") set({D, H, Dk}, wq, {H, Dk}, bq);
        if (c.attribute == "key_dense") set({D, H, Dk}, wk, {H, Dk}, bk);
        if (c.attribute == "value_dense") set({D, H, Dk}, wv, {H, Dk}, bv);
        if (c.attribute == "output_dense") set({H, Dk, D}, wo, {D}, bo);
      }
      std::vector<float> qh(q.size()), vh(v.size());
      for (std::size_t i = 0; i < q.size(); ++i) qh[i] = h16(q[i]);
      for (std::size_t i = 0; i < v.size(); ++i) vh[i] = h16(v[i]);
      CallContext ctx;
      const TensorList out =
          l->call({Tensor::from_floats({1, Tq, D}, qh), Tensor::from_floats({1, Tk, D}, vh)}, ctx);
      const Tensor y = out.at(0).to(DType::Float32);
      const auto Q = proj(qh, Tq, D, wq, bq, H * Dk), K = proj(vh, Tk, D, wk, bk, H * Dk),
                 V = proj(vh, Tk, D, wv, bv, H * Dk);
      const float scale = static_cast<float>(1.0 / std::sqrt(2.0));
      std::vector<float> att(static_cast<std::size_t>(Tq * H * Dk));
      for (int h = 0; h < H; ++h) {
        for (int i = 0; i < Tq; ++i) {
          std::vector<float> sc(static_cast<std::size_t>(Tk));
          for (int j = 0; j < Tk; ++j) {
            float acc = 0.0f;
            for (int d = 0; d < Dk; ++d) {
              const float qv = fused ? at(Q, (i * H + h) * Dk + d)
                                     : h16(at(Q, (i * H + h) * Dk + d) * h16(scale));
              acc += qv * at(K, (j * H + h) * Dk + d);
            }
            sc[static_cast<std::size_t>(j)] = fused ? h16(acc) * scale : h16(acc);
          }
          const float mx = *std::max_element(sc.begin(), sc.end());
          float sum = 0.0f;
          for (float& e : sc) {
            e = fused ? std::exp(e - mx) : h16(std::exp(h16(e - mx)));
            sum += e;
          }
          if (!fused) sum = h16(sum);
          for (float& e : sc) e = h16(e / sum);
          for (int d = 0; d < Dk; ++d) {
            float acc = 0.0f;
            for (int j = 0; j < Tk; ++j)
              acc += sc[static_cast<std::size_t>(j)] * at(V, (j * H + h) * Dk + d);
            att[static_cast<std::size_t>((i * H + h) * Dk + d)] = h16(acc);
          }
        }
      }
      const auto want = proj(att, Tq, H * Dk, wo, bo, D);
      for (int i = 0; i < Tq * D; ++i) BOOST_TEST(y.f32()[i] == at(want, i), "i " << i);
    }
  }
}

BOOST_AUTO_TEST_CASE(mixed_float16_attention_layers_round_each_numpy_operation) {
  // Attention (dot, use_scale) and AdditiveAttention (use_scale) under mixed_float16 with a value
  // mask (last value masked): scores r(r(q k^T) * r(scale)) or r(sum r(r(scale) * r(tanh(r(q +
  // k))))), masked scores r(s - 65504), each softmax operation rounded, r(weights v).
  const int Tq = 2, Tv = 3, D = 2;
  auto h16 = [](float v) { return half(v); };
  std::vector<float> q = rnd(Tq * D, 61), v = rnd(Tv * D, 62);
  for (float& e : q) e = h16(2 * e);
  for (float& e : v) e = h16(2 * e);
  for (const bool additive : {false, true}) {
    BOOST_TEST_CONTEXT("additive " << additive) {
      auto l = layers::from_config(additive ? "AdditiveAttention" : "Attention",
                                   R"({"use_scale": true, )" + policy("mixed_float16") + "}");
      l->build({{-1, Tq, D}, {-1, Tv, D}});
      const std::vector<float> scale =
          additive ? std::vector<float>{0.7f, -1.3f} : std::vector<float>{1.37f};
      l->set_weights({Tensor::from_floats(additive ? Shape{D} : Shape{}, scale)});
      Tensor vmask({1, Tv}, DType::Bool);
      vmask.mutable_values<bool>()[0] = true;
      vmask.mutable_values<bool>()[1] = true;
      CallContext ctx;
      ctx.input_masks = {std::nullopt, vmask};
      const TensorList out =
          l->call({Tensor::from_floats({1, Tq, D}, q), Tensor::from_floats({1, Tv, D}, v)}, ctx);
      const Tensor y = out.at(0).to(DType::Float32);
      for (int i = 0; i < Tq; ++i) {
        std::vector<float> sc(Tv);
        for (int j = 0; j < Tv; ++j) {
          float acc = 0.0f;
          for (int d = 0; d < D; ++d) {
            const float qd = q[static_cast<std::size_t>(i * D + d)],
                        kd = v[static_cast<std::size_t>(j * D + d)];
            acc += additive
                       ? h16(h16(scale[static_cast<std::size_t>(d)]) * h16(std::tanh(h16(qd + kd))))
                       : qd * kd;
          }
          float e = h16(acc);
          if (!additive) e = h16(e * h16(scale[0]));
          if (j == 2) e = h16(e - 65504.0f);
          sc[static_cast<std::size_t>(j)] = e;
        }
        const float mx = *std::max_element(sc.begin(), sc.end());
        float sum = 0.0f;
        for (float& e : sc) sum += (e = h16(std::exp(h16(e - mx))));
        const float hs = h16(sum);
        for (float& e : sc) e = h16(e / hs);
        for (int d = 0; d < D; ++d) {
          float acc = 0.0f;
          for (int j = 0; j < Tv; ++j)
            acc += sc[static_cast<std::size_t>(j)] * v[static_cast<std::size_t>(j * D + d)];
          BOOST_TEST(y.f32()[i * D + d] == h16(acc), "i " << i << " d " << d);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(mixed_float16_rms_and_group_normalization_use_rounded_variables) {
  // Keras autocasts the float32 variables to float16 inside the layer, computes in float32 and
  // rounds the output: scale (RMSNormalization) and gamma/beta (GroupNormalization) enter
  // rounded. The float32 arithmetic below is the layers' (statistics in double, then float32);
  // some outputs must differ from those of the unrounded variables.
  const int C = 16;
  std::vector<float> x = rnd(C, 71);
  for (float& e : x) e = half(e);
  std::vector<float> w = rnd(C, 72), b = rnd(C, 73);
  for (float& e : w) e = 1.0f + e / 7.0f;
  auto rms = layers::from_config("RMSNormalization",
                                 R"({"epsilon": 0.0, )" + policy("mixed_float16") + "}");
  const Tensor r =
      run(rms, {C}, Tensor::from_floats({1, C}, x), DType::Float32, {Tensor::from_floats({C}, w)})
          .to(DType::Float32);
  double ms = 0;
  for (float e : x) ms += static_cast<double>(e) * e;
  const auto inv = static_cast<float>(1.0 / std::sqrt(ms / C));
  int differ = 0;
  for (int i = 0; i < C; ++i) {
    const auto u = static_cast<std::size_t>(i);
    BOOST_TEST(r.f32()[i] == half(x[u] * inv * half(w[u])));
    differ += half(x[u] * inv * half(w[u])) != half(x[u] * inv * w[u]) ? 1 : 0;
  }
  BOOST_TEST(differ > 0);

  // GroupNormalization(groups=1, epsilon=0): y = (x - mean) * inv * r(gamma) + r(beta).
  auto gn = layers::from_config(
      "GroupNormalization", R"({"groups": 1, "epsilon": 0.0, )" + policy("mixed_float16") + "}");
  const Tensor g = run(gn, {C}, Tensor::from_floats({1, C}, x), DType::Float32,
                       {Tensor::from_floats({C}, w), Tensor::from_floats({C}, b)})
                       .to(DType::Float32);
  double mean = 0, var = 0;
  for (float e : x) mean += e;
  mean /= C;
  for (float e : x) var += (e - mean) * (e - mean);
  const auto ginv = static_cast<float>(1.0 / std::sqrt(var / C));
  const auto m = static_cast<float>(mean);
  int gdiffer = 0;
  for (int i = 0; i < C; ++i) {
    const auto u = static_cast<std::size_t>(i);
    const float n = (x[u] - m) * ginv;
    const float want = half(n * half(w[u]) + half(b[u]));
    BOOST_TEST(g.f32()[i] == want);
    gdiffer += want != half(n * w[u] + b[u]) ? 1 : 0;
  }
  BOOST_TEST(gdiffer > 0);
}

BOOST_AUTO_TEST_SUITE_END()
