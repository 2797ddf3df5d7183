// ConvLSTM1D/2D against a naive ConvLSTM written here from Keras's ConvLSTMCell: direct
// convolution loops in double (XLA's 'same' padding: (k - 1) / 2 before), gates i, f, c, o.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/layers.hpp"

using kserde::CallContext;
using kserde::Shape;
using kserde::Tensor;
using kserde::TensorList;

namespace {

using Vec = std::vector<float>;

Vec rnd(std::size_t n, std::uint32_t seed, float scale = 0.5f) {
  Vec v(n);
  std::uint32_t s = seed * 2654435761u + 99u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f);
  }
  return v;
}

std::size_t z(std::int64_t i) {
  return static_cast<std::size_t>(i);
}

double sigmoid(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}

struct Geom {
  int kh, kw, sh = 1, sw = 1;
  bool same = false;
};

// Cross-correlation of x (B, H, W, C) with k (kh, kw, C, G) -> (B, OH, OW, G).
std::vector<double> conv2d(const std::vector<double>& x, int B, int H, int W, int C, const Vec& k,
                           int G, const Geom& g, int& OH, int& OW) {
  int ph = 0, pw = 0;
  if (g.same) {
    OH = (H + g.sh - 1) / g.sh;
    OW = (W + g.sw - 1) / g.sw;
    ph = std::max((OH - 1) * g.sh + g.kh - H, 0) / 2;
    pw = std::max((OW - 1) * g.sw + g.kw - W, 0) / 2;
  } else {
    OH = (H - g.kh) / g.sh + 1;
    OW = (W - g.kw) / g.sw + 1;
  }
  std::vector<double> y(z(B * OH * OW * G), 0.0);
  for (int b = 0; b < B; ++b)
    for (int oy = 0; oy < OH; ++oy)
      for (int ox = 0; ox < OW; ++ox)
        for (int o = 0; o < G; ++o) {
          double a = 0;
          for (int ky = 0; ky < g.kh; ++ky)
            for (int kx = 0; kx < g.kw; ++kx) {
              const int iy = oy * g.sh + ky - ph, ix = ox * g.sw + kx - pw;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              for (int c = 0; c < C; ++c)
                a += x[z(((b * H + iy) * W + ix) * C + c)] *
                     k[z(((ky * g.kw + kx) * C + c) * G + o)];
            }
          y[z(((b * OH + oy) * OW + ox) * G + o)] = a;
        }
  return y;
}

struct Ref {
  std::vector<double> seq, h, c;  // seq: (B, T, OH, OW, F) in processing order
  int OH = 0, OW = 0;
};

// x (B, T, H, W, C) channels_last; kernel (kh, kw, C, 4F), rkernel (kh, kw, F, 4F), bias (4F).
Ref ref_conv_lstm(const Vec& x, int B, int T, int H, int W, int C, int F, const Vec& kernel,
                  const Vec& rkernel, const Vec& bias, const Geom& g, bool backwards,
                  const std::vector<int>& keep = {}) {
  Ref r;
  conv2d(std::vector<double>(z(B * H * W * C)), B, H, W, C, kernel, 4 * F, g, r.OH, r.OW);
  const int P = r.OH * r.OW;
  r.h.assign(z(B * P * F), 0.0);
  r.c.assign(z(B * P * F), 0.0);
  std::vector<double> out(z(B * P * F), 0.0);
  Geom rg{g.kh, g.kw, 1, 1, true};
  for (int s = 0; s < T; ++s) {
    const int t = backwards ? T - 1 - s : s;
    std::vector<double> xt(z(B * H * W * C));
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < H * W * C; ++i)
        xt[z(b * H * W * C + i)] = x[z((b * T + t) * H * W * C + i)];
    int oh, ow;
    const auto zx = conv2d(xt, B, H, W, C, kernel, 4 * F, g, oh, ow);
    const auto zh = conv2d(r.h, B, r.OH, r.OW, F, rkernel, 4 * F, rg, oh, ow);
    for (int b = 0; b < B; ++b) {
      if (!keep.empty() && keep[z(b * T + t)] == 0) continue;
      for (int p = 0; p < P; ++p)
        for (int j = 0; j < F; ++j) {
          auto gate = [&](int q) {
            const std::size_t at = z((b * P + p) * 4 * F + q * F + j);
            return zx[at] + zh[at] + (bias.empty() ? 0.0 : bias[z(q * F + j)]);
          };
          const std::size_t at = z((b * P + p) * F + j);
          const double i = sigmoid(gate(0)), f = sigmoid(gate(1)), o = sigmoid(gate(3));
          r.c[at] = f * r.c[at] + i * std::tanh(gate(2));
          r.h[at] = o * std::tanh(r.c[at]);
          out[at] = r.h[at];
        }
    }
    r.seq.insert(r.seq.end(), out.begin(), out.end());  // (T, B, P, F) for now
  }
  // Reorder to (B, T, P, F).
  std::vector<double> seq(r.seq.size());
  for (int s = 0; s < T; ++s)
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < P * F; ++i)
        seq[z((b * T + s) * P * F + i)] = r.seq[z((s * B + b) * P * F + i)];
  r.seq = seq;
  return r;
}

void check_close(const Tensor& t, const std::vector<double>& want, const std::string& what) {
  BOOST_TEST_CONTEXT(what) {
    BOOST_REQUIRE_EQUAL(z(t.num_elements()), want.size());
    const auto v = t.values<float>();
    for (std::size_t i = 0; i < want.size(); ++i) {
      BOOST_TEST_CONTEXT("element " << i) {
        BOOST_TEST(std::fabs(v[i] - want[i]) <= 1e-5 + 1e-5 * std::fabs(want[i]));
      }
    }
  }
}

void set_cell(kserde::Layer& l, const Shape& k, const Vec& kv, const Shape& rk, const Vec& rkv,
              const Vec& bias) {
  auto children = l.tracked_children();
  BOOST_REQUIRE_EQUAL(children.size(), 1u);
  BOOST_REQUIRE(children[0].attribute == "cell");
  TensorList w{Tensor::from_floats(k, kv), Tensor::from_floats(rk, rkv)};
  if (!bias.empty())
    w.push_back(Tensor::from_floats({static_cast<std::int64_t>(bias.size())}, bias));
  children[0].layers[0]->set_weights(w);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conv_lstm)

BOOST_AUTO_TEST_CASE(conv_lstm2d_valid_matches_a_naive_cell_and_keeps_kerass_weight_layout) {
  const int B = 2, T = 3, H = 5, W = 4, C = 2, F = 3;
  auto l = kserde::layers::from_config("ConvLSTM2D", R"({"filters": 3, "kernel_size": [3, 2]})");
  l->build({{-1, T, H, W, C}});
  BOOST_TEST(l->variables().empty());
  kserde::Layer& cell = *l->tracked_children().at(0).layers.at(0);
  BOOST_TEST(cell.name() == "conv_lstm_cell");
  BOOST_REQUIRE_EQUAL(cell.variables().size(), 3u);
  BOOST_TEST(cell.variables()[0].name == "kernel");
  BOOST_TEST(cell.variables()[0].value.shape() == (Shape{3, 2, C, 4 * F}));
  BOOST_TEST(cell.variables()[1].value.shape() == (Shape{3, 2, F, 4 * F}));
  BOOST_TEST(cell.variables()[2].value.shape() == (Shape{4 * F}));
  const Vec k = rnd(z(3 * 2 * C * 4 * F), 1), rk = rnd(z(3 * 2 * F * 4 * F), 2),
            b = rnd(z(4 * F), 3, 0.2f);
  set_cell(*l, {3, 2, C, 4 * F}, k, {3, 2, F, 4 * F}, rk, b);
  const Vec x = rnd(z(B * T * H * W * C), 4, 1.0f);
  CallContext ctx;
  const TensorList out = l->call({Tensor::from_floats({B, T, H, W, C}, x)}, ctx);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_TEST(out[0].shape() == (Shape{B, 3, 3, F}));
  const Ref r = ref_conv_lstm(x, B, T, H, W, C, F, k, rk, b, Geom{3, 2}, false);
  check_close(out[0], r.h, "last output");
  BOOST_TEST(l->compute_output_shape({{-1, T, H, W, C}}).at(0) == (Shape{-1, 3, 3, F}));
}

BOOST_AUTO_TEST_CASE(conv_lstm2d_same_strides_backwards_sequences_and_states) {
  const int B = 1, T = 4, H = 5, W = 5, C = 1, F = 2;
  auto l = kserde::layers::from_config(
      "ConvLSTM2D",
      R"({"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "use_bias": false,
          "return_sequences": true, "return_state": true, "go_backwards": true})");
  l->build({{-1, T, H, W, C}});
  const Vec k = rnd(z(9 * C * 4 * F), 5), rk = rnd(z(9 * F * 4 * F), 6);
  set_cell(*l, {3, 3, C, 4 * F}, k, {3, 3, F, 4 * F}, rk, {});
  const Vec x = rnd(z(B * T * H * W * C), 7, 1.0f);
  CallContext ctx;
  const TensorList out = l->call({Tensor::from_floats({B, T, H, W, C}, x)}, ctx);
  BOOST_REQUIRE_EQUAL(out.size(), 3u);
  const Ref r = ref_conv_lstm(x, B, T, H, W, C, F, k, rk, {}, Geom{3, 3, 2, 2, true}, true);
  BOOST_TEST(out[0].shape() == (Shape{B, T, 3, 3, F}));
  check_close(out[0], r.seq, "sequence in processing order");
  check_close(out[1], r.h, "h");
  check_close(out[2], r.c, "c");
  const auto shapes = l->compute_output_shape({{-1, T, H, W, C}});
  BOOST_REQUIRE_EQUAL(shapes.size(), 3u);
  BOOST_TEST(shapes[0] == (Shape{-1, T, 3, 3, F}));
  BOOST_TEST(shapes[2] == (Shape{-1, 3, 3, F}));
}

BOOST_AUTO_TEST_CASE(conv_lstm1d_channels_first_with_a_mask_carries_states_over) {
  // ConvLSTM1D over (B, T, C, L) is the 2D reference with height 1, transposed.
  const int B = 2, T = 3, C = 2, L = 6, F = 2, K = 3;
  auto l = kserde::layers::from_config(
      "ConvLSTM1D",
      R"({"filters": 2, "kernel_size": 3, "padding": "same", "data_format": "channels_first",
          "return_sequences": true})");
  l->build({{-1, T, C, L}});
  const Vec k = rnd(z(K * C * 4 * F), 8), rk = rnd(z(K * F * 4 * F), 9), b = rnd(z(4 * F), 10);
  set_cell(*l, {K, C, 4 * F}, k, {K, F, 4 * F}, rk, b);
  const Vec xcf = rnd(z(B * T * C * L), 11, 1.0f);
  Vec xcl(xcf.size());
  for (int s = 0; s < B * T; ++s)
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < L; ++i) xcl[z((s * L + i) * C + c)] = xcf[z((s * C + c) * L + i)];
  const std::vector<int> keep{1, 0, 1, 1, 1, 0};
  CallContext ctx;
  ctx.input_masks = {Tensor::from_floats({B, T}, Vec{1, 0, 1, 1, 1, 0})};
  const TensorList out = l->call({Tensor::from_floats({B, T, C, L}, xcf)}, ctx);
  BOOST_TEST(out[0].shape() == (Shape{B, T, F, L}));
  const Ref r = ref_conv_lstm(xcl, B, T, 1, L, C, F, k, rk, b, Geom{1, K, 1, 1, true}, false, keep);
  std::vector<double> want(r.seq.size());  // (B, T, L, F) -> (B, T, F, L)
  for (int s = 0; s < B * T; ++s)
    for (int i = 0; i < L; ++i)
      for (int f = 0; f < F; ++f) want[z((s * F + f) * L + i)] = r.seq[z((s * L + i) * F + f)];
  check_close(out[0], want, "masked channels_first sequence");
  BOOST_TEST(!ctx.output_masks.at(0).has_value());  // RNN layers set no mask
}

BOOST_AUTO_TEST_CASE(conv_lstm_config_defaults_and_errors) {
  auto l = kserde::layers::from_config("ConvLSTM2D", R"({"filters": 4, "kernel_size": 3})");
  const auto& c = l->config();
  BOOST_TEST(c["strides"].Size() == 2u);
  BOOST_TEST(c["kernel_size"][1].GetInt() == 3);
  BOOST_TEST(std::string(c["padding"].GetString()) == "valid");
  BOOST_TEST(std::string(c["recurrent_activation"].GetString()) == "sigmoid");
  BOOST_TEST(c["unit_forget_bias"].GetBool());
  BOOST_TEST(!c["return_sequences"].GetBool());
  BOOST_CHECK_THROW(kserde::layers::from_config("ConvLSTM2D", R"({"kernel_size": 3})"),
                    kserde::ConfigError);
  BOOST_CHECK_THROW(
      kserde::layers::from_config(
          "ConvLSTM2D", R"({"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2})"),
      kserde::ConfigError);
  BOOST_CHECK_THROW(l->build({{-1, 3, -1, 4, 2}}), kserde::ShapeError);  // spatial dims unknown
  auto s = kserde::layers::from_config("ConvLSTM3D",
                                       R"({"filters": 1, "kernel_size": 2, "stateful": true})");
  CallContext ctx;
  BOOST_CHECK_THROW(s->call({Tensor(Shape{1, 2, 3, 3, 3, 1}, kserde::DType::Float32)}, ctx),
                    kserde::UnsupportedError);
}

BOOST_AUTO_TEST_SUITE_END()
