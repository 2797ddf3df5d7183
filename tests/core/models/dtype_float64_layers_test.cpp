// float64 policies in EinsumDense, MultiHeadAttention, GroupNormalization, RMSNormalization,
// UnitNormalization and the keras.ops reductions and matmul: values float32 would lose (1 + 2^-30,
// 2^25 + 1, 1e8 + 1) survive, against hand-worked numbers and naive double loops written here.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kserde/dtype.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "kserde/saving.hpp"

using namespace kserde;

namespace {

const double kTiny = std::ldexp(1.0, -30);  // 1 + kTiny is not a float32

// Deterministic values in [-0.9, 0.9], shifted by multiples of 2^-30 so that float32 loses them.
std::vector<double> rnd(std::size_t n, std::uint32_t seed) {
  std::vector<double> v(n);
  std::uint32_t s = seed * 2654435761u + 5u;
  for (std::size_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    v[i] = 0.9 * (static_cast<double>(s >> 8) / static_cast<double>(1u << 24) * 2.0 - 1.0) +
           static_cast<double>(i % 5) * kTiny;
  }
  return v;
}

Tensor doubles(const Shape& shape, const std::vector<double>& v) {
  Tensor t(shape, DType::Float64);
  auto out = t.mutable_values<double>();
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = v[i];
  return t;
}

// A one-layer model on a float64 input of `input_shape` (without the batch axis).
Tensor run(const std::shared_ptr<Layer>& layer, const Shape& input_shape, const Tensor& x,
           const TensorList& weights) {
  Sequential m("m");
  m.add(layers::Input(input_shape, DType::Float64));
  m.add(layer);
  layer->set_weights(weights);
  return m.predict(x);
}

std::size_t z(std::int64_t i) {
  return static_cast<std::size_t>(i);
}

// A Functional graph: float64 inputs x (and y, float32 when given), one keras.ops node `op` with
// `config` applied to `args`.
std::string op_graph(const std::string& op, const std::string& config, const std::string& args,
                     const std::string& x_shape, const std::string& y_shape = "") {
  auto input = [](const std::string& name, const std::string& shape, const std::string& dtype) {
    return R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": )" +
           shape + R"(, "dtype": ")" + dtype + R"(", "name": ")" + name +
           R"("}, "registered_name": null, "name": ")" + name + R"(", "inbound_nodes": []})";
  };
  std::string layers = input("x", x_shape, "float64");
  std::string inputs = R"([["x", 0, 0])";
  if (!y_shape.empty()) {
    layers += ", " + input("y", y_shape, "float32");
    inputs += R"(, ["y", 0, 0])";
  }
  inputs += "]";
  layers += R"(, {"module": "keras.src.ops.numpy", "class_name": ")" + op +
            R"(", "config": {"name": "op")" + config + R"(}, "registered_name": ")" + op +
            R"(", "name": "op", "inbound_nodes": [{"args": )" + args + R"(, "kwargs": {}}]})";
  return R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "g", "layers": [)" +
         layers + R"(], "input_layers": )" + inputs +
         R"(, "output_layers": [["op", 0, 0]]}, "registered_name": "Functional", "build_config": {"input_shape": null}, "compile_config": {}})";
}

std::string kt(const std::string& layer) {
  return R"({"class_name": "__keras_tensor__", "config": {"shape": null, "dtype": "float64", "keras_history": [")" +
         layer + R"(", 0, 0]}})";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dtype_float64_layers)

BOOST_AUTO_TEST_CASE(einsum_dense_contracts_and_adds_bias_in_double) {
  // ab,bc->ac: (1 + 2^-30) * 1 - 1 = 2^-30, plus bias 2^-30 -> 2^-29; 2 (1 + 2^-30) - 2 = 2^-29.
  auto e = layers::from_config(
      "EinsumDense",
      R"({"equation": "ab,bc->ac", "output_shape": 2, "bias_axes": "c", "dtype": "float64"})");
  const Tensor y = run(e, {2}, doubles({1, 2}, {1.0 + kTiny, -1.0}),
                       {doubles({2, 2}, {1.0, 2.0, 1.0, 2.0}), doubles({2}, {kTiny, 0.0})});
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
  BOOST_TEST(y.values<double>()[0] == 2 * kTiny);
  BOOST_TEST(y.values<double>()[1] == 2 * kTiny);

  // ...b,bc->...c over (1, 2, 2) with a relu: rows (1 + 2^-30, -1) -> 2^-30 and (3, 1e8 + 1) ->
  // 1e8 + 4 (float32: 0 and 1e8 + 8 or 1e8).
  auto l = layers::from_config(
      "EinsumDense",
      R"({"equation": "...b,bc->...c", "output_shape": 1, "activation": "relu", "dtype": "float64"})");
  const Tensor w = run(l, {2, 2}, doubles({1, 2, 2}, {1.0 + kTiny, -1.0, 3.0, 1e8 + 1}),
                       {doubles({2, 1}, {1.0, 1.0})});
  BOOST_TEST_REQUIRE(w.dtype() == DType::Float64);
  BOOST_TEST_REQUIRE(w.shape() == (Shape{1, 2, 1}));
  BOOST_TEST(w.values<double>()[0] == kTiny);
  BOOST_TEST(w.values<double>()[1] == 1e8 + 4);
}

BOOST_AUTO_TEST_CASE(multi_head_attention_computes_in_double) {
  // Keras's MultiHeadAttention on float64 (fused path: 3-D inputs, no dropout, no scores):
  // projections, q k^T / sqrt(key_dim), softmax over keys, the weighted values and the output
  // projection, all in double, against a naive double loop.
  const int B = 2, Tq = 2, Tk = 3, D = 3, H = 2, Dk = 2, O = D;
  auto l = layers::from_config("MultiHeadAttention",
                               R"({"num_heads": 2, "key_dim": 2, "dtype": "float64"})");
  l->build({{-1, Tq, D}, {-1, Tk, D}});
  const auto wq = rnd(z(D * H * Dk), 1), wk = rnd(z(D * H * Dk), 2), wv = rnd(z(D * H * Dk), 3),
             wo = rnd(z(H * Dk * O), 4), bq = rnd(z(H * Dk), 5), bk = rnd(z(H * Dk), 6),
             bv = rnd(z(H * Dk), 7), bo = rnd(z(O), 8);
  for (const auto& c : l->tracked_children()) {
    Layer& s = *c.layers.at(0);
    if (c.attribute == "query_dense")
      s.set_weights({doubles({D, H, Dk}, wq), doubles({H, Dk}, bq)});
    if (c.attribute == "key_dense") s.set_weights({doubles({D, H, Dk}, wk), doubles({H, Dk}, bk)});
    if (c.attribute == "value_dense")
      s.set_weights({doubles({D, H, Dk}, wv), doubles({H, Dk}, bv)});
    if (c.attribute == "output_dense") s.set_weights({doubles({H, Dk, O}, wo), doubles({O}, bo)});
  }
  const auto q = rnd(z(B * Tq * D), 9), v = rnd(z(B * Tk * D), 10);
  CallContext ctx;
  const TensorList out = l->call({doubles({B, Tq, D}, q), doubles({B, Tk, D}, v)}, ctx);
  BOOST_TEST_REQUIRE(out.at(0).dtype() == DType::Float64);
  BOOST_TEST_REQUIRE(out.at(0).shape() == (Shape{B, Tq, O}));
  const auto got = out[0].values<double>();

  // proj(x)[t, h, d] = sum_i x[t, i] w[i, h, d] + b[h, d]
  auto proj = [&](const std::vector<double>& x, int rows, const std::vector<double>& w,
                  const std::vector<double>& b) {
    std::vector<double> p(z(rows * H * Dk));
    for (int t = 0; t < rows; ++t) {
      for (int j = 0; j < H * Dk; ++j) {
        double acc = 0;
        for (int i = 0; i < D; ++i) acc += x[z(t * D + i)] * w[z(i * H * Dk + j)];
        p[z(t * H * Dk + j)] = acc + b[z(j)];
      }
    }
    return p;
  };
  const auto Q = proj(q, B * Tq, wq, bq), K = proj(v, B * Tk, wk, bk), V = proj(v, B * Tk, wv, bv);
  for (int b = 0; b < B; ++b) {
    for (int i = 0; i < Tq; ++i) {
      std::vector<double> att(z(H * Dk), 0.0);
      for (int h = 0; h < H; ++h) {
        std::vector<double> s(z(Tk));
        double mx = -1e300, sum = 0;
        for (int j = 0; j < Tk; ++j) {
          double acc = 0;
          for (int d = 0; d < Dk; ++d)
            acc += Q[z(((b * Tq + i) * H + h) * Dk + d)] * K[z(((b * Tk + j) * H + h) * Dk + d)];
          s[z(j)] = acc / std::sqrt(static_cast<double>(Dk));
          mx = std::max(mx, s[z(j)]);
        }
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int j = 0; j < Tk; ++j) {
          for (int d = 0; d < Dk; ++d)
            att[z(h * Dk + d)] += s[z(j)] / sum * V[z(((b * Tk + j) * H + h) * Dk + d)];
        }
      }
      for (int o = 0; o < O; ++o) {
        double acc = 0;
        for (int j = 0; j < H * Dk; ++j) acc += att[z(j)] * wo[z(j * O + o)];
        const double want = acc + bo[z(o)];
        BOOST_TEST(std::fabs(got[z((b * Tq + i) * O + o)] - want) <= 1e-14,
                   "b " << b << " i " << i << " o " << o << ": " << got[z((b * Tq + i) * O + o)]
                        << " vs " << want);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(group_normalization_uses_keras_moments_in_double) {
  // One group over (2^25 + 1, 2^25 - 1) (float32 rounds both to 2^25: variance 0, epsilon 0):
  // mean 2^25, E[x^2] - mean^2 = 1, inv = rsqrt(1) * gamma = (1, 2), res = beta - mean * inv,
  // y = x * inv + res = (1.25, -2).
  auto g = layers::from_config("GroupNormalization",
                               R"({"groups": 1, "epsilon": 0.0, "dtype": "float64"})");
  const double p = std::ldexp(1.0, 25);
  const Tensor y = run(g, {2}, doubles({1, 2}, {p + 1, p - 1}),
                       {doubles({2}, {1.0, 2.0}), doubles({2}, {0.25, 0.0})});
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
  BOOST_TEST(y.values<double>()[0] == 1.25);
  BOOST_TEST(y.values<double>()[1] == -2.0);
}

BOOST_AUTO_TEST_CASE(rms_and_unit_normalization_compute_in_double) {
  // RMSNormalization(epsilon=0) of (1 + 2^-30, 3), scale (1, 2 + 2^-30): x * rsqrt(mean(x^2)) *
  // scale, against the double formula (float32 is ~1e-8 away).
  auto r = layers::from_config("RMSNormalization", R"({"epsilon": 0.0, "dtype": "float64"})");
  const double a = 1.0 + kTiny, s1 = 2.0 + kTiny;
  const Tensor y = run(r, {2}, doubles({1, 2}, {a, 3.0}), {doubles({2}, {1.0, s1})});
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
  const double inv = 1.0 / std::sqrt((a * a + 9.0) / 2.0);
  BOOST_TEST(std::fabs(y.values<double>()[0] - a * inv) <= 1e-15);
  BOOST_TEST(std::fabs(y.values<double>()[1] - 3.0 * inv * s1) <= 4e-15);

  // UnitNormalization of (1 + 2^-30, 1): x / sqrt(sum(x^2)).
  auto u = layers::from_config("UnitNormalization", R"({"dtype": "float64"})");
  Sequential m("m");
  m.add(layers::Input({2}, DType::Float64));
  m.add(u);
  const Tensor n = m.predict(doubles({1, 2}, {a, 1.0}));
  BOOST_TEST_REQUIRE(n.dtype() == DType::Float64);
  const double norm = std::sqrt(a * a + 1.0);
  BOOST_TEST(std::fabs(n.values<double>()[0] - a / norm) <= 2e-16);
  BOOST_TEST(std::fabs(n.values<double>()[1] - 1.0 / norm) <= 2e-16);
  BOOST_TEST(n.values<double>()[0] > n.values<double>()[1]);
}

BOOST_AUTO_TEST_CASE(recurrent_layers_step_in_double) {
  // LSTM, GRU (reset_after true and false) and SimpleRNN over 3 steps, return_sequences, against
  // naive double loops of Keras's cell equations (tanh, sigmoid).
  const int T = 3, D = 2, U = 2;
  const auto x = rnd(z(T * D), 21);
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  struct Case {
    std::string cls, extra;
    int gates;
  };
  for (const Case& c : {Case{"LSTM", "", 4}, Case{"GRU", R"(, "reset_after": true)", 3},
                        Case{"GRU", R"(, "reset_after": false)", 3}, Case{"SimpleRNN", "", 1}}) {
    BOOST_TEST_CONTEXT(c.cls << c.extra) {
      const int G = c.gates;
      const bool reset_after = c.extra.find("true") != std::string::npos;
      const std::size_t nb = z((c.cls == "GRU" && reset_after ? 2 : 1) * G * U);
      const auto k = rnd(z(D * G * U), 22), rk = rnd(z(U * G * U), 23), b = rnd(nb, 24);
      auto l = layers::from_config(
          c.cls, R"({"units": 2, "return_sequences": true, "dtype": "float64")" + c.extra + "}");
      const Shape bias_shape = nb == z(G * U) ? Shape{G * U} : Shape{2, G * U};
      Sequential m("m");
      m.add(layers::Input({T, D}, DType::Float64));
      m.add(l);
      for (const auto& child : l->tracked_children()) {
        if (child.attribute != "cell") continue;
        child.layers.at(0)->set_weights(
            {doubles({D, G * U}, k), doubles({U, G * U}, rk), doubles(bias_shape, b)});
      }
      const Tensor y = m.predict(doubles({1, T, D}, x));
      BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
      std::vector<double> h(U, 0.0), cs(U, 0.0);
      for (int t = 0; t < T; ++t) {
        // xw[g * U + j] = x_t W + b_in;  hu = h U (+ b_rec for GRU reset_after)
        std::vector<double> xw(z(G * U)), hu(z(G * U));
        for (int j = 0; j < G * U; ++j) {
          double a = b[z(j)], r = reset_after ? b[z(G * U + j)] : 0.0;
          for (int i = 0; i < D; ++i) a += x[z(t * D + i)] * k[z(i * G * U + j)];
          for (int i = 0; i < U; ++i) r += h[z(i)] * rk[z(i * G * U + j)];
          xw[z(j)] = a;
          hu[z(j)] = r;
        }
        std::vector<double> hn(U);
        for (int j = 0; j < U; ++j) {
          if (c.cls == "SimpleRNN") {
            hn[z(j)] = std::tanh(xw[z(j)] + hu[z(j)]);
          } else if (c.cls == "LSTM") {
            const double ig = sig(xw[z(j)] + hu[z(j)]), fg = sig(xw[z(U + j)] + hu[z(U + j)]),
                         cg = std::tanh(xw[z(2 * U + j)] + hu[z(2 * U + j)]),
                         og = sig(xw[z(3 * U + j)] + hu[z(3 * U + j)]);
            cs[z(j)] = fg * cs[z(j)] + ig * cg;
            hn[z(j)] = og * std::tanh(cs[z(j)]);
          } else {
            const double zg = sig(xw[z(j)] + hu[z(j)]), rg = sig(xw[z(U + j)] + hu[z(U + j)]);
            double rec = 0;
            if (reset_after) {
              rec = rg * hu[z(2 * U + j)];
            } else {
              // (r * h') U_h: r of every unit i times h'_i.
              for (int i = 0; i < U; ++i)
                rec += sig(xw[z(U + i)] + hu[z(U + i)]) * h[z(i)] * rk[z(i * G * U + 2 * U + j)];
            }
            const double hh = std::tanh(xw[z(2 * U + j)] + rec);
            hn[z(j)] = zg * h[z(j)] + (1 - zg) * hh;
          }
        }
        h = hn;
        for (int j = 0; j < U; ++j) {
          const double got = y.values<double>()[z(t * U + j)];
          BOOST_TEST(std::fabs(got - h[z(j)]) <= 1e-15,
                     "t " << t << " j " << j << ": " << got << " vs " << h[z(j)]);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(bidirectional_merges_float64_in_double) {
  // SimpleRNN(1, linear) with kernel 1, recurrent kernel 0, bias 0 returns its last input: forward
  // 1 + 2^-30, backward (first step) -1; merge_mode sum gives 2^-30 (float32: 0).
  auto bi = layers::from_config(
      "Bidirectional",
      R"({"merge_mode": "sum", "dtype": "float64", "layer": {"module": "keras.layers", "class_name": "SimpleRNN", "config": {"name": "r", "units": 1, "activation": "linear", "dtype": "float64"}, "registered_name": null}})");
  Sequential m("m");
  m.add(layers::Input({2, 1}, DType::Float64));
  m.add(bi);
  // Both directions' cells: kernel 1, recurrent kernel 0, bias 0.
  std::function<void(Layer&)> set_cells = [&](Layer& l) {
    if (l.class_name() == "SimpleRNNCell") {
      l.set_weights({doubles({1, 1}, {1.0}), doubles({1, 1}, {0.0}), doubles({1}, {0.0})});
    }
    for (const auto& c : l.tracked_children()) {
      for (Layer* child : c.layers) set_cells(*child);
    }
  };
  set_cells(*bi);
  const Tensor y = m.predict(doubles({1, 2, 1}, {-1.0, 1.0 + kTiny}));
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
  BOOST_TEST(y.values<double>()[0] == kTiny);
}

BOOST_AUTO_TEST_CASE(attention_and_additive_attention_compute_in_double) {
  // Attention (dot, use_scale) and AdditiveAttention (use_scale) on query (1, 2, 2) and value
  // (1, 3, 2), against naive double loops: scores, softmax over the 3 values, weighted sum.
  const int Tq = 2, Tv = 3, D = 2;
  const auto q = rnd(z(Tq * D), 31), v = rnd(z(Tv * D), 32);
  for (const bool additive : {false, true}) {
    BOOST_TEST_CONTEXT("additive " << additive) {
      auto l = layers::from_config(additive ? "AdditiveAttention" : "Attention",
                                   R"({"use_scale": true, "dtype": "float64"})");
      l->build({{-1, Tq, D}, {-1, Tv, D}});
      const std::vector<double> scale =
          additive ? std::vector<double>{0.5 + kTiny, -1.25} : std::vector<double>{1.5 + kTiny};
      l->set_weights({doubles(additive ? Shape{D} : Shape{}, scale)});
      CallContext ctx;
      const TensorList out = l->call({doubles({1, Tq, D}, q), doubles({1, Tv, D}, v)}, ctx);
      BOOST_TEST_REQUIRE(out.at(0).dtype() == DType::Float64);
      for (int i = 0; i < Tq; ++i) {
        std::vector<double> sc(Tv);
        double mx = -1e300, sum = 0;
        for (int j = 0; j < Tv; ++j) {
          double acc = 0;
          for (int d = 0; d < D; ++d) {
            acc += additive ? scale[z(d)] * std::tanh(q[z(i * D + d)] + v[z(j * D + d)])
                            : q[z(i * D + d)] * v[z(j * D + d)];
          }
          sc[z(j)] = additive ? acc : acc * scale[0];
          mx = std::max(mx, sc[z(j)]);
        }
        for (double& e : sc) sum += (e = std::exp(e - mx));
        for (int d = 0; d < D; ++d) {
          double want = 0;
          for (int j = 0; j < Tv; ++j) want += sc[z(j)] / sum * v[z(j * D + d)];
          BOOST_TEST(std::fabs(out[0].values<double>()[z(i * D + d)] - want) <= 1e-15);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(masked_softmax_and_bilinear_upsampling_keep_double) {
  // Softmax with mask (1, 1, 0) over logits (0, 2^-30, 5): (1, e^d) / (1 + e^d) and 0.
  auto sm = layers::from_config("Softmax", R"({"dtype": "float64"})");
  sm->build({{-1, 3}});
  Tensor mask({1, 3}, DType::Bool);
  mask.mutable_values<bool>()[0] = true;
  mask.mutable_values<bool>()[1] = true;
  CallContext ctx;
  ctx.kwargs.emplace("mask", mask);
  const TensorList p = sm->call({doubles({1, 3}, {0.0, kTiny, 5.0})}, ctx);
  BOOST_TEST_REQUIRE(p.at(0).dtype() == DType::Float64);
  const double e = std::exp(kTiny);
  BOOST_TEST(std::fabs(p[0].values<double>()[0] - 1.0 / (1.0 + e)) <= 2e-16);
  BOOST_TEST(std::fabs(p[0].values<double>()[1] - e / (1.0 + e)) <= 2e-16);
  BOOST_TEST(p[0].values<double>()[0] < p[0].values<double>()[1]);
  BOOST_TEST(p[0].values<double>()[2] == 0.0);

  // UpSampling2D(size (2, 1), bilinear) of rows (1, 1 + 2^-28): output rows sample the input at
  // -0.25, 0.25, 0.75, 1.25 -> 1, 0.75 + 0.25 (1 + 2^-28) = 1 + 2^-30, 1 + 3 * 2^-30, 1 + 2^-28.
  auto up = layers::from_config(
      "UpSampling2D", R"({"size": [2, 1], "interpolation": "bilinear", "dtype": "float64"})");
  Sequential m("m");
  m.add(layers::Input({2, 1, 1}, DType::Float64));
  m.add(up);
  const Tensor y = m.predict(doubles({1, 2, 1, 1}, {1.0, 1.0 + 4 * kTiny}));
  BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
  BOOST_TEST_REQUIRE(y.shape() == (Shape{1, 4, 1, 1}));
  BOOST_TEST(y.values<double>()[0] == 1.0);
  BOOST_TEST(y.values<double>()[1] == 1.0 + kTiny);
  BOOST_TEST(y.values<double>()[2] == 1.0 + 3 * kTiny);
  BOOST_TEST(y.values<double>()[3] == 1.0 + 4 * kTiny);
}

BOOST_AUTO_TEST_CASE(ops_reductions_keep_float64) {
  // x = (1e8 + 1, 1e8 + 3, -2e8) : sum 4, mean 4/3 (float32: 0); (1 + 2^-30, 1, 1): max 1 + 2^-30,
  // min of the negated row -(1 + 2^-30), prod (1 + 2^-30)^2 = 1 + 2^-29 (+ 2^-60 rounded away).
  struct Case {
    const char* op;
    std::vector<double> x;
    double want;
  };
  const std::vector<Case> cases{{"Sum", {1e8 + 1, 1e8 + 3, -2e8}, 4.0},
                                {"Mean", {1e8 + 1, 1e8 + 3, -2e8}, 4.0 / 3.0},
                                {"Max", {1.0 + kTiny, 1.0, 1.0}, 1.0 + kTiny},
                                {"Min", {-1.0 - kTiny, -1.0, 1.0}, -1.0 - kTiny},
                                {"Prod", {1.0 + kTiny, 1.0 + kTiny, 1.0}, 1.0 + 2 * kTiny}};
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.op) {
      auto m = model_from_json(
          op_graph(c.op, R"(, "axis": -1, "keepdims": false)", "[" + kt("x") + "]", "[null, 3]"));
      const Tensor y = m->predict(doubles({1, 3}, c.x));
      BOOST_TEST_REQUIRE(y.dtype() == DType::Float64);
      BOOST_TEST_REQUIRE(y.shape() == (Shape{1}));
      BOOST_TEST(y.values<double>()[0] == c.want);
    }
  }
}

BOOST_AUTO_TEST_CASE(ops_matmul_promotes_to_float64) {
  // (1 + 2^-30, -1) @ (1, 1)^T = 2^-30 with the float32 operand widened, as NumPy promotes.
  auto m = model_from_json(
      op_graph("Matmul", "", "[" + kt("x") + ", " + kt("y") + "]", "[null, 1, 2]", "[null, 2, 1]"));
  const auto out =
      m->predict(TensorList{doubles({1, 1, 2}, {1.0 + kTiny, -1.0}),
                            Tensor::from_floats({1, 2, 1}, std::vector<float>{1.0f, 1.0f})});
  BOOST_TEST_REQUIRE(out.at(0).dtype() == DType::Float64);
  BOOST_TEST(out[0].values<double>()[0] == kTiny);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(dtype_float64_merges)

BOOST_AUTO_TEST_CASE(dot_and_mixed_concatenate_keep_double) {
  // Dot(axes=1): (1 + 2^-30, -1) . (1, 1) = 2^-30 (float32: 0).
  auto d = layers::from_config("Dot", R"({"axes": 1, "dtype": "float64"})");
  d->build({{-1, 2}, {-1, 2}});
  CallContext ctx;
  const TensorList p =
      d->call({doubles({1, 2}, {1.0 + kTiny, -1.0}), doubles({1, 2}, {1.0, 1.0})}, ctx);
  BOOST_TEST_REQUIRE(p.at(0).dtype() == DType::Float64);
  BOOST_TEST(p[0].values<double>()[0] == kTiny);

  // float64 beside int32 2^24 + 1: promoted to float64, both exact (float32: 1 and 2^24).
  auto c = layers::from_config("Concatenate", R"({"axis": -1, "dtype": "float64"})");
  c->build({{-1, 1}, {-1, 1}});
  Tensor i({1, 1}, DType::Int32);
  i.mutable_values<std::int32_t>()[0] = (1 << 24) + 1;
  CallContext cc;
  const TensorList y = c->call({doubles({1, 1}, {1.0 + kTiny}), i}, cc);
  BOOST_TEST_REQUIRE(y.at(0).dtype() == DType::Float64);
  BOOST_TEST(y[0].values<double>()[0] == 1.0 + kTiny);
  BOOST_TEST(y[0].values<double>()[1] == 16777217.0);
}

BOOST_AUTO_TEST_CASE(masked_merges_keep_double) {
  // Inputs (1, 2, 1) with masks (1, 2); 1 + 2^-30 survives in double and is 1 in float32.
  const auto bools = [](bool a, bool b) {
    Tensor m({1, 2}, DType::Bool);
    m.mutable_values<bool>()[0] = a;
    m.mutable_values<bool>()[1] = b;
    return m;
  };
  const auto call = [&](const char* cls, const Tensor& x0, const Tensor& x1, const Tensor& m0,
                        const Tensor& m1, CallContext& ctx) {
    auto l = layers::from_config(cls, R"({"dtype": "float64"})");
    l->build({{-1, 2, 1}, {-1, 2, 1}});
    ctx.input_masks = {m0, m1};
    const TensorList y = l->call({x0, x1}, ctx);
    BOOST_TEST_REQUIRE(y.at(0).dtype() == DType::Float64);
    return y[0];
  };
  {  // Add: masks do not change the sum; output mask = OR.
    CallContext ctx;
    const Tensor y = call("Add", doubles({1, 2, 1}, {1.0, 2.0}), doubles({1, 2, 1}, {kTiny, kTiny}),
                          bools(true, false), bools(false, false), ctx);
    BOOST_TEST(y.values<double>()[0] == 1.0 + kTiny);
    BOOST_TEST(y.values<double>()[1] == 2.0 + kTiny);
    BOOST_TEST_REQUIRE(ctx.output_masks.size() == 1u);
    BOOST_TEST(ctx.output_masks[0]->values<bool>()[0] == true);
    BOOST_TEST(ctx.output_masks[0]->values<bool>()[1] == false);
  }
  {  // Maximum: the masked-out 5 of input 0 cannot win; position 0 keeps 1 + 2^-30.
    CallContext ctx;
    const Tensor y =
        call("Maximum", doubles({1, 2, 1}, {1.0 + kTiny, 5.0}), doubles({1, 2, 1}, {1.0, 3.0}),
             bools(true, false), bools(true, true), ctx);
    BOOST_TEST(y.values<double>()[0] == 1.0 + kTiny);
    BOOST_TEST(y.values<double>()[1] == 3.0);
  }
  {  // Multiply: a masked-out entry counts as 1; (1 + 2^-30)^2 = 1 + 2^-29 in double.
    CallContext ctx;
    const Tensor y =
        call("Multiply", doubles({1, 2, 1}, {1.0 + kTiny, 7.0}),
             doubles({1, 2, 1}, {1.0 + kTiny, 2.0}), bools(true, false), bools(true, true), ctx);
    BOOST_TEST(y.values<double>()[0] == 1.0 + 2.0 * kTiny);
    BOOST_TEST(y.values<double>()[1] == 2.0);
  }
}

BOOST_AUTO_TEST_SUITE_END()
