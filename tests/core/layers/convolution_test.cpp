// Convolution layers (Conv1D/2D/3D, Conv*Transpose, DepthwiseConv*, SeparableConv*) against
// hand-worked values and naive references written here: direct nested loops over output and
// kernel positions with padding computed from Keras's formulas, and for transposed convolutions
// the literal JAX route (dilate the input by the stride, pad it, correlate with the flipped
// kernel), which is a different computation from the scatter the library uses.
#include <boost/test/unit_test.hpp>

#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/json.hpp"
#include "kserde/layer.hpp"
#include "kserde/layers.hpp"

namespace {

using kserde::Shape;
using kserde::Tensor;
using kserde::TensorList;
using Dims = std::vector<std::int64_t>;
using Floats = std::vector<float>;

std::int64_t prod(std::span<const std::int64_t> d) {
  std::int64_t p = 1;
  for (auto x : d) p *= x;
  return p;
}

bool next(Dims& idx, const Dims& dims) {
  for (std::size_t i = idx.size(); i-- > 0;) {
    if (++idx[i] < dims[i]) return true;
    idx[i] = 0;
  }
  return false;
}

// Row-major flat index of `idx` in `dims`.
std::int64_t flat(const Dims& dims, const Dims& idx) {
  std::int64_t f = 0;
  for (std::size_t i = 0; i < dims.size(); ++i) f = f * dims[i] + idx[i];
  return f;
}

Floats random_values(std::int64_t n, std::uint32_t seed) {
  Floats v(static_cast<std::size_t>(n));
  std::uint32_t s = seed * 2654435761u + 12345u;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>((s >> 8) & 0xFFFF) / 32768.0f - 1.0f;  // [-1, 1)
  }
  return v;
}

Tensor tensor(const Shape& shape, const Floats& v) {
  return Tensor::from_floats(shape, v);
}

Shape cat(std::int64_t a, const Dims& mid, std::int64_t b) {
  Shape s{a};
  s.insert(s.end(), mid.begin(), mid.end());
  s.push_back(b);
  return s;
}

// (N, S..., C) <-> (N, C, S...) with plain loops.
Floats last_to_first(const Floats& x, std::int64_t n, const Dims& sp, std::int64_t c) {
  Floats y(x.size());
  const std::int64_t p = prod(sp);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t i = 0; i < p; ++i)
      for (std::int64_t ch = 0; ch < c; ++ch)
        y[static_cast<std::size_t>((b * c + ch) * p + i)] =
            x[static_cast<std::size_t>((b * p + i) * c + ch)];
  return y;
}
Floats first_to_last(const Floats& x, std::int64_t n, const Dims& sp, std::int64_t c) {
  Floats y(x.size());
  const std::int64_t p = prod(sp);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t i = 0; i < p; ++i)
      for (std::int64_t ch = 0; ch < c; ++ch)
        y[static_cast<std::size_t>((b * p + i) * c + ch)] =
            x[static_cast<std::size_t>((b * c + ch) * p + i)];
  return y;
}

void expect_close(const Floats& got, const Floats& want, double rtol = 1e-5, double atol = 1e-6) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double tol = atol + rtol * std::fabs(want[i]);
    if (std::fabs(static_cast<double>(got[i]) - want[i]) > tol) {
      BOOST_ERROR("element " << i << ": got " << got[i] << ", want " << want[i]);
      return;
    }
  }
}

Floats values_of(const Tensor& t) {
  auto v = t.values<float>();
  return Floats(v.begin(), v.end());
}

std::string tuple_json(const Dims& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

const kserde::JsonValue* config_key(const kserde::Layer& l, const char* key) {
  static std::shared_ptr<kserde::JsonDocument> keep;  // keeps the returned value alive
  keep = l.to_object_dict();
  const auto& c = (*keep)["config"];
  auto it = c.FindMember(key);
  return it == c.MemberEnd() ? nullptr : &it->value;
}

// ---- references (channels_last, flat vectors)

// Keras/XLA per-dimension output length and padding before.
struct DimPlan {
  std::int64_t out, pad;
};
DimPlan plan(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t d,
             const std::string& padding) {
  const std::int64_t ke = (k - 1) * d + 1;
  if (padding == "valid") return {(in - ke) / s + 1, 0};
  const std::int64_t out = (in + s - 1) / s;
  const std::int64_t total = std::max<std::int64_t>((out - 1) * s + ke - in, 0);
  return {out, total / 2};
}

// Grouped cross-correlation; kernel (*k, cin/groups, f).
Floats ref_conv(const Floats& x, std::int64_t n, const Dims& in, std::int64_t cin, const Floats& w,
                const Dims& k, std::int64_t f, std::int64_t groups, const Dims& s, const Dims& d,
                const Dims& pad, const Dims& out) {
  const std::int64_t cg = cin / groups, fg = f / groups;
  Floats y(static_cast<std::size_t>(n * prod(out) * f), 0.0f);
  const std::size_t r = in.size();
  for (std::int64_t b = 0; b < n; ++b) {
    Dims o(r, 0);
    do {
      for (std::int64_t fo = 0; fo < f; ++fo) {
        const std::int64_t grp = fo / fg;
        double acc = 0;
        Dims kk(r, 0);
        do {
          Dims pos(r);
          bool inside = true;
          for (std::size_t i = 0; i < r; ++i) {
            pos[i] = o[i] * s[i] - pad[i] + kk[i] * d[i];
            inside = inside && pos[i] >= 0 && pos[i] < in[i];
          }
          if (!inside) continue;
          for (std::int64_t ci = 0; ci < cg; ++ci) {
            const float xv =
                x[static_cast<std::size_t>((b * prod(in) + flat(in, pos)) * cin + grp * cg + ci)];
            const float wv = w[static_cast<std::size_t>((flat(k, kk) * cg + ci) * f + fo)];
            acc += static_cast<double>(xv) * wv;
          }
        } while (next(kk, k));
        y[static_cast<std::size_t>((b * prod(out) + flat(out, o)) * f + fo)] =
            static_cast<float>(acc);
      }
    } while (next(o, out));
  }
  return y;
}

// Depthwise: output channel c*dm + m from input channel c and kernel[..., c, m].
Floats ref_depthwise(const Floats& x, std::int64_t n, const Dims& in, std::int64_t c,
                     const Floats& w, const Dims& k, std::int64_t dm, const Dims& s, const Dims& d,
                     const Dims& pad, const Dims& out) {
  Floats y(static_cast<std::size_t>(n * prod(out) * c * dm), 0.0f);
  const std::size_t r = in.size();
  for (std::int64_t b = 0; b < n; ++b) {
    Dims o(r, 0);
    do {
      for (std::int64_t ch = 0; ch < c; ++ch) {
        for (std::int64_t m = 0; m < dm; ++m) {
          double acc = 0;
          Dims kk(r, 0);
          do {
            Dims pos(r);
            bool inside = true;
            for (std::size_t i = 0; i < r; ++i) {
              pos[i] = o[i] * s[i] - pad[i] + kk[i] * d[i];
              inside = inside && pos[i] >= 0 && pos[i] < in[i];
            }
            if (!inside) continue;
            acc += static_cast<double>(
                       x[static_cast<std::size_t>((b * prod(in) + flat(in, pos)) * c + ch)]) *
                   w[static_cast<std::size_t>((flat(k, kk) * c + ch) * dm + m)];
          } while (next(kk, k));
          y[static_cast<std::size_t>((b * prod(out) + flat(out, o)) * c * dm + ch * dm + m)] =
              static_cast<float>(acc);
        }
      }
    } while (next(o, out));
  }
  return y;
}

// Keras -> JAX padding of the stride-dilated input for a transposed convolution
// (backend_utils._convert_conv_transpose_padding_args_from_keras_to_jax).
std::pair<std::int64_t, std::int64_t> jax_transpose_padding(std::int64_t k, std::int64_t s,
                                                            std::int64_t d,
                                                            const std::string& padding,
                                                            std::optional<std::int64_t> op) {
  const std::int64_t ke = (k - 1) * d + 1;
  if (padding == "valid") {
    const std::int64_t extra = op ? *op : std::max(ke, s) - ke;
    return {ke - 1, ke - 1 + extra};
  }
  const std::int64_t len = op ? ke + ke % 2 - 2 + *op : s + ke - 2;
  const std::int64_t left = std::min(len / 2 + len % 2, ke - 1);
  return {left, len - left};
}

// Transposed convolution the JAX way; kernel (*k, f, cin). Returns y and its spatial dims.
Floats ref_conv_transpose(const Floats& x, std::int64_t n, const Dims& in, std::int64_t cin,
                          const Floats& w, const Dims& k, std::int64_t f, const Dims& s,
                          const Dims& d, const std::string& padding, const std::optional<Dims>& op,
                          Dims& out) {
  const std::size_t r = in.size();
  Dims zdims(r), left(r), ke(r);
  out.assign(r, 0);
  for (std::size_t i = 0; i < r; ++i) {
    auto [l, rt] = jax_transpose_padding(k[i], s[i], d[i], padding,
                                         op ? std::optional<std::int64_t>((*op)[i]) : std::nullopt);
    BOOST_REQUIRE(l >= 0 && rt >= 0);
    left[i] = l;
    ke[i] = (k[i] - 1) * d[i] + 1;
    zdims[i] = (in[i] - 1) * s[i] + 1 + l + rt;
    out[i] = zdims[i] - ke[i] + 1;
  }
  // z: zero-inserted, padded input.
  Floats z(static_cast<std::size_t>(n * prod(zdims) * cin), 0.0f);
  for (std::int64_t b = 0; b < n; ++b) {
    Dims i_idx(r, 0);
    do {
      Dims zi(r);
      for (std::size_t i = 0; i < r; ++i) zi[i] = left[i] + i_idx[i] * s[i];
      for (std::int64_t c = 0; c < cin; ++c)
        z[static_cast<std::size_t>((b * prod(zdims) + flat(zdims, zi)) * cin + c)] =
            x[static_cast<std::size_t>((b * prod(in) + flat(in, i_idx)) * cin + c)];
    } while (next(i_idx, in));
  }
  Floats y(static_cast<std::size_t>(n * prod(out) * f), 0.0f);
  for (std::int64_t b = 0; b < n; ++b) {
    Dims o(r, 0);
    do {
      for (std::int64_t fo = 0; fo < f; ++fo) {
        double acc = 0;
        Dims kk(r, 0);
        do {
          Dims zi(r), flipped(r);
          for (std::size_t i = 0; i < r; ++i) {
            zi[i] = o[i] + kk[i] * d[i];
            flipped[i] = k[i] - 1 - kk[i];
          }
          for (std::int64_t c = 0; c < cin; ++c)
            acc += static_cast<double>(
                       z[static_cast<std::size_t>((b * prod(zdims) + flat(zdims, zi)) * cin + c)]) *
                   w[static_cast<std::size_t>((flat(k, flipped) * f + fo) * cin + c)];
        } while (next(kk, k));
        y[static_cast<std::size_t>((b * prod(out) + flat(out, o)) * f + fo)] =
            static_cast<float>(acc);
      }
    } while (next(o, out));
  }
  return y;
}

void add_bias_relu(Floats& y, const Floats& bias, bool relu) {
  const std::size_t c = bias.size();
  for (std::size_t i = 0; i < y.size(); ++i) {
    y[i] += bias[i % c];
    if (relu) y[i] = std::max(y[i], 0.0f);
  }
}

// ---- one parameterized case for every conv family

enum class Kind { Conv, Transpose, Depthwise, Separable };

struct Case {
  Kind kind = Kind::Conv;
  std::string cls;
  Dims in;  // spatial
  std::int64_t cin = 3;
  std::int64_t filters = 4;  // depth_multiplier for Depthwise
  Dims k, s, d;
  std::string padding = "valid";
  std::int64_t groups = 1;
  std::int64_t dm = 1;  // Separable's depth_multiplier
  std::optional<Dims> output_padding;
  bool channels_first = false;
  bool use_bias = true;
  bool relu = false;
  std::int64_t batch = 2;
};

std::string describe(const Case& c) {
  std::string s = c.cls + " in=" + tuple_json(c.in) + " k=" + tuple_json(c.k) +
                  " s=" + tuple_json(c.s) + " d=" + tuple_json(c.d) + " " + c.padding;
  if (c.output_padding) s += " op=" + tuple_json(*c.output_padding);
  if (c.channels_first) s += " channels_first";
  return s;
}

void run_case(const Case& c) {
  BOOST_TEST_CONTEXT(describe(c)) {
    const std::size_t r = c.in.size();
    std::string cfg = R"({"kernel_size": )" + tuple_json(c.k) + R"(, "strides": )" +
                      tuple_json(c.s) + R"(, "dilation_rate": )" + tuple_json(c.d) +
                      R"(, "padding": ")" + c.padding + R"(", "use_bias": )" +
                      (c.use_bias ? "true" : "false") + R"(, "activation": )" +
                      (c.relu ? "\"relu\"" : "null") + R"(, "data_format": ")" +
                      (c.channels_first ? "channels_first" : "channels_last") + "\"";
    if (c.kind == Kind::Conv) cfg += ", \"groups\": " + std::to_string(c.groups);
    if (c.kind == Kind::Depthwise) {
      cfg += ", \"depth_multiplier\": " + std::to_string(c.filters);
    } else {
      cfg += ", \"filters\": " + std::to_string(c.filters);
    }
    if (c.kind == Kind::Separable) cfg += ", \"depth_multiplier\": " + std::to_string(c.dm);
    if (c.output_padding) cfg += ", \"output_padding\": " + tuple_json(*c.output_padding);
    cfg += "}";
    auto layer = kserde::layers::from_config(c.cls, cfg);

    const Shape in_shape_last = cat(c.batch, c.in, c.cin);
    const Floats x = random_values(prod(in_shape_last), 7);
    Shape build_shape = c.channels_first ? Shape{-1, c.cin} : Shape{-1};
    build_shape.insert(build_shape.end(), c.in.begin(), c.in.end());
    if (!c.channels_first) build_shape.push_back(c.cin);
    layer->build({build_shape});

    // Weights and the reference result (channels_last).
    Floats want;
    Dims out(r);
    std::int64_t out_ch = 0;
    TensorList weights;
    Floats bias;
    Dims kdims(c.k);
    if (c.kind == Kind::Transpose) {
      Shape ks = kdims;
      ks.push_back(c.filters);
      ks.push_back(c.cin);
      const Floats w = random_values(prod(ks), 11);
      weights.push_back(tensor(ks, w));
      want = ref_conv_transpose(x, c.batch, c.in, c.cin, w, c.k, c.filters, c.s, c.d, c.padding,
                                c.output_padding, out);
      out_ch = c.filters;
    } else {
      Dims pad(r);
      Floats xin = x;
      Dims in = c.in;
      for (std::size_t i = 0; i < r; ++i) {
        if (c.padding == "causal") {
          // Literal causal padding: prepend dilation*(k-1) zero steps, then a valid conv.
          const std::int64_t lp = c.d[0] * (c.k[0] - 1);
          in[0] = c.in[0] + lp;
          xin.assign(static_cast<std::size_t>(c.batch * in[0] * c.cin), 0.0f);
          for (std::int64_t b = 0; b < c.batch; ++b)
            for (std::int64_t t = 0; t < c.in[0]; ++t)
              for (std::int64_t ch = 0; ch < c.cin; ++ch)
                xin[static_cast<std::size_t>((b * in[0] + t + lp) * c.cin + ch)] =
                    x[static_cast<std::size_t>((b * c.in[0] + t) * c.cin + ch)];
          const DimPlan p = plan(in[0], c.k[0], c.s[0], c.d[0], "valid");
          out[0] = p.out;
          pad[0] = 0;
        } else {
          const DimPlan p = plan(c.in[i], c.k[i], c.s[i], c.d[i], c.padding);
          out[i] = p.out;
          pad[i] = p.pad;
        }
      }
      if (c.kind == Kind::Conv) {
        Shape ks = kdims;
        ks.push_back(c.cin / c.groups);
        ks.push_back(c.filters);
        const Floats w = random_values(prod(ks), 11);
        weights.push_back(tensor(ks, w));
        want = ref_conv(xin, c.batch, in, c.cin, w, c.k, c.filters, c.groups, c.s, c.d, pad, out);
        out_ch = c.filters;
      } else {
        const std::int64_t dm = c.kind == Kind::Depthwise ? c.filters : c.dm;
        Shape ks = kdims;
        ks.push_back(c.cin);
        ks.push_back(dm);
        const Floats w = random_values(prod(ks), 11);
        weights.push_back(tensor(ks, w));
        want = ref_depthwise(xin, c.batch, in, c.cin, w, c.k, dm, c.s, c.d, pad, out);
        out_ch = c.cin * dm;
        if (c.kind == Kind::Separable) {
          Shape ps(r, 1);
          ps.push_back(c.cin * dm);
          ps.push_back(c.filters);
          const Floats pw = random_values(prod(ps), 13);
          weights.push_back(tensor(ps, pw));
          Floats y(static_cast<std::size_t>(c.batch * prod(out) * c.filters), 0.0f);
          for (std::int64_t row = 0; row < c.batch * prod(out); ++row)
            for (std::int64_t fo = 0; fo < c.filters; ++fo) {
              double acc = 0;
              for (std::int64_t j = 0; j < c.cin * dm; ++j)
                acc += static_cast<double>(want[static_cast<std::size_t>(row * c.cin * dm + j)]) *
                       pw[static_cast<std::size_t>(j * c.filters + fo)];
              y[static_cast<std::size_t>(row * c.filters + fo)] = static_cast<float>(acc);
            }
          want = y;
          out_ch = c.filters;
        }
      }
    }
    if (c.use_bias) {
      bias = random_values(out_ch, 17);
      weights.push_back(tensor({out_ch}, bias));
    } else {
      bias.assign(static_cast<std::size_t>(out_ch), 0.0f);
    }
    add_bias_relu(want, bias, c.relu);
    layer->set_weights(weights);

    Shape input_shape = c.channels_first ? Shape{c.batch, c.cin} : Shape{c.batch};
    input_shape.insert(input_shape.end(), c.in.begin(), c.in.end());
    if (!c.channels_first) input_shape.push_back(c.cin);
    const Tensor input =
        tensor(input_shape, c.channels_first ? last_to_first(x, c.batch, c.in, c.cin) : x);
    kserde::CallContext ctx;
    auto outs = layer->call({input}, ctx);
    BOOST_REQUIRE_EQUAL(outs.size(), 1u);
    Shape want_shape = c.channels_first ? Shape{c.batch, out_ch} : Shape{c.batch};
    want_shape.insert(want_shape.end(), out.begin(), out.end());
    if (!c.channels_first) want_shape.push_back(out_ch);
    BOOST_CHECK(outs[0].shape() == want_shape);
    // compute_output_shape agrees with the actual output (batch unknown).
    Shape sym = want_shape;
    sym[0] = -1;
    BOOST_CHECK(layer->compute_output_shape({build_shape}).at(0) == sym);
    const Floats got = c.channels_first ? first_to_last(values_of(outs[0]), c.batch, out, out_ch)
                                        : values_of(outs[0]);
    expect_close(got, want);
  }
}

Case conv(const std::string& cls, Dims in, Dims k, Dims s, Dims d, std::string padding) {
  Case c;
  c.kind = Kind::Conv;
  c.cls = cls;
  c.in = std::move(in);
  c.k = std::move(k);
  c.s = std::move(s);
  c.d = std::move(d);
  c.padding = std::move(padding);
  return c;
}

Case with_kind(Case c, Kind kind, const std::string& cls) {
  c.kind = kind;
  c.cls = cls;
  return c;
}

template <class Fn>
void expect_error_naming(Fn fn, const std::string& name) {
  try {
    fn();
    BOOST_ERROR("expected an exception naming " << name);
  } catch (const kserde::Error& e) {
    BOOST_CHECK_MESSAGE(std::string(e.what()).find(name) != std::string::npos, e.what());
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(convolution)

BOOST_AUTO_TEST_CASE(conv1d_hand_worked_valid) {
  // x = [1, 2, 3, 4], kernel [1, 0, -1], bias 0.5: [1-3, 2-4] + 0.5.
  auto l = kserde::layers::from_config("Conv1D", R"({"filters": 1, "kernel_size": 3})");
  l->build({{-1, 4, 1}});
  l->set_weights({tensor({3, 1, 1}, {1, 0, -1}), tensor({1}, {0.5f})});
  Tensor y = (*l)(tensor({1, 4, 1}, {1, 2, 3, 4}));
  BOOST_CHECK(y.shape() == (Shape{1, 2, 1}));
  expect_close(values_of(y), {-1.5f, -1.5f});
}

BOOST_AUTO_TEST_CASE(conv1d_hand_worked_causal_dilated) {
  // causal, dilation 2, k=2: y[t] = w0 * x[t-2] + w1 * x[t] with x[<0] = 0.
  auto l = kserde::layers::from_config(
      "Conv1D", R"({"filters": 1, "kernel_size": 2, "padding": "causal", "dilation_rate": 2,
                    "use_bias": false})");
  l->build({{-1, 5, 1}});
  l->set_weights({tensor({2, 1, 1}, {10, 1})});
  Tensor y = (*l)(tensor({1, 5, 1}, {1, 2, 3, 4, 5}));
  expect_close(values_of(y), {1, 2, 13, 24, 35});
}

BOOST_AUTO_TEST_CASE(conv2d_same_hand_worked_asymmetric_padding) {
  // 4x4 input of ones, 2x2 kernel of ones, stride 1, same: pad 0 before, 1 after, so the last
  // row/column sums only 2 (or 1 in the corner) elements.
  auto l = kserde::layers::from_config(
      "Conv2D", R"({"filters": 1, "kernel_size": 2, "padding": "same", "use_bias": false})");
  l->build({{-1, 4, 4, 1}});
  l->set_weights({tensor({2, 2, 1, 1}, {1, 1, 1, 1})});
  Tensor y = (*l)(tensor({1, 4, 4, 1}, Floats(16, 1.0f)));
  expect_close(values_of(y), {4, 4, 4, 2, 4, 4, 4, 2, 4, 4, 4, 2, 2, 2, 2, 1});
}

BOOST_AUTO_TEST_CASE(conv1d_padding_strides_dilation_sweep) {
  for (const std::string padding : {"valid", "same", "causal"}) {
    for (std::int64_t in : {7, 8}) {
      for (std::int64_t k : {1, 2, 3}) {
        for (auto [s, d] :
             {std::pair<std::int64_t, std::int64_t>{1, 1}, {2, 1}, {3, 1}, {1, 2}, {1, 3}}) {
          if (padding == "valid" && (k - 1) * d + 1 > in) continue;
          run_case(conv("Conv1D", {in}, {k}, {s}, {d}, padding));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(conv2d_options) {
  run_case(conv("Conv2D", {6, 5}, {3, 3}, {1, 1}, {1, 1}, "valid"));
  run_case(conv("Conv2D", {7, 6}, {3, 2}, {2, 2}, {1, 1}, "same"));
  run_case(conv("Conv2D", {7, 6}, {3, 2}, {2, 3}, {1, 1}, "valid"));
  run_case(conv("Conv2D", {8, 7}, {3, 3}, {1, 1}, {2, 3}, "same"));
  run_case(conv("Conv2D", {8, 7}, {2, 3}, {1, 1}, {3, 2}, "valid"));
  Case g = conv("Conv2D", {5, 6}, {3, 3}, {1, 2}, {1, 1}, "same");
  g.cin = 4;
  g.filters = 6;
  g.groups = 2;
  run_case(g);
  g.groups = 4;
  g.filters = 8;
  run_case(g);
  Case cf = conv("Conv2D", {6, 5}, {3, 2}, {2, 1}, {1, 1}, "same");
  cf.channels_first = true;
  run_case(cf);
  cf.groups = 3;
  cf.filters = 6;
  cf.relu = true;
  run_case(cf);
  Case nb = conv("Conv2D", {5, 5}, {2, 2}, {1, 1}, {1, 1}, "valid");
  nb.use_bias = false;
  nb.relu = true;
  run_case(nb);
}

BOOST_AUTO_TEST_CASE(conv3d_options) {
  run_case(conv("Conv3D", {4, 5, 3}, {2, 3, 2}, {1, 1, 1}, {1, 1, 1}, "valid"));
  run_case(conv("Conv3D", {5, 4, 6}, {3, 2, 3}, {2, 1, 2}, {1, 1, 1}, "same"));
  Case c = conv("Conv3D", {5, 5, 4}, {2, 2, 2}, {1, 1, 1}, {2, 1, 2}, "same");
  c.channels_first = true;
  c.cin = 4;
  c.groups = 2;
  c.filters = 2;
  run_case(c);
}

BOOST_AUTO_TEST_CASE(conv1d_channels_first_groups_relu) {
  Case c = conv("Conv1D", {9}, {3}, {2}, {1}, "causal");
  c.channels_first = true;
  c.cin = 6;
  c.groups = 3;
  c.filters = 3;
  c.relu = true;
  run_case(c);
}

BOOST_AUTO_TEST_CASE(conv_transpose_hand_worked) {
  // x = [1, 2], kernel [1, 2, 3], stride 2, valid: length (2-1)*2 + 3 = 5;
  // y = [1, 2, 3, 0, 0] + [0, 0, 2, 4, 6].
  auto l = kserde::layers::from_config(
      "Conv1DTranspose", R"({"filters": 1, "kernel_size": 3, "strides": 2, "use_bias": false})");
  l->build({{-1, 2, 1}});
  l->set_weights({tensor({3, 1, 1}, {1, 2, 3})});
  Tensor y = (*l)(tensor({1, 2, 1}, {1, 2}));
  BOOST_CHECK(y.shape() == (Shape{1, 5, 1}));
  expect_close(values_of(y), {1, 2, 5, 4, 6});
  // same, stride 2: length in*s = 4; total padding s+k-2 = 3 split 2 before / 1 after the
  // zero-inserted input [1, 0, 2], i.e. [0, 0, 1, 0, 2, 0] correlated with the flipped kernel
  // [3, 2, 1]: [1, 2, 5, 4] (the full result above without its last element).
  auto s = kserde::layers::from_config(
      "Conv1DTranspose",
      R"({"filters": 1, "kernel_size": 3, "strides": 2, "padding": "same", "use_bias": false})");
  s->build({{-1, 2, 1}});
  s->set_weights({tensor({3, 1, 1}, {1, 2, 3})});
  Tensor ys = (*s)(tensor({1, 2, 1}, {1, 2}));
  BOOST_CHECK(ys.shape() == (Shape{1, 4, 1}));
  expect_close(values_of(ys), {1, 2, 5, 4});
}

BOOST_AUTO_TEST_CASE(conv1d_transpose_sweep) {
  for (const std::string padding : {"valid", "same"}) {
    for (std::int64_t k : {1, 2, 3, 4}) {
      for (std::int64_t s : {1, 2, 3}) {
        for (std::int64_t d : {1, 2}) {
          if (s > 1 && d > 1) continue;
          std::vector<std::optional<Dims>> ops{std::nullopt};
          for (std::int64_t op = 0; op < s; ++op) ops.push_back(Dims{op});
          for (const auto& op : ops) {
            Case c = with_kind(conv("", {5}, {k}, {s}, {d}, padding), Kind::Transpose,
                               "Conv1DTranspose");
            c.output_padding = op;
            run_case(c);
          }
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(conv2d_and_3d_transpose_options) {
  run_case(with_kind(conv("", {4, 3}, {3, 2}, {2, 3}, {1, 1}, "valid"), Kind::Transpose,
                     "Conv2DTranspose"));
  Case c = with_kind(conv("", {4, 5}, {3, 3}, {2, 2}, {1, 1}, "same"), Kind::Transpose,
                     "Conv2DTranspose");
  c.output_padding = Dims{1, 0};
  c.channels_first = true;
  c.relu = true;
  run_case(c);
  Case d = with_kind(conv("", {5, 4}, {3, 2}, {1, 1}, {2, 3}, "same"), Kind::Transpose,
                     "Conv2DTranspose");
  d.use_bias = false;
  run_case(d);
  Case e = with_kind(conv("", {3, 2, 3}, {2, 3, 2}, {2, 1, 2}, {1, 1, 1}, "valid"), Kind::Transpose,
                     "Conv3DTranspose");
  e.output_padding = Dims{1, 0, 0};
  run_case(e);
  e.padding = "same";
  e.channels_first = true;
  run_case(e);
}

BOOST_AUTO_TEST_CASE(depthwise_options) {
  for (const std::string padding : {"valid", "same"}) {
    for (std::int64_t dm : {1, 2}) {
      Case c = with_kind(conv("", {9}, {3}, {2}, {1}, padding), Kind::Depthwise, "DepthwiseConv1D");
      c.filters = dm;
      run_case(c);
      // Depthwise layers accept strides and dilation > 1 together.
      c = with_kind(conv("", {11}, {3}, {2}, {2}, padding), Kind::Depthwise, "DepthwiseConv1D");
      c.filters = dm;
      run_case(c);
      c = with_kind(conv("", {7, 6}, {3, 2}, {2, 1}, {1, 2}, padding), Kind::Depthwise,
                    "DepthwiseConv2D");
      c.filters = dm;
      run_case(c);
      c.channels_first = true;
      c.relu = true;
      run_case(c);
      c.use_bias = false;
      run_case(c);
    }
  }
}

BOOST_AUTO_TEST_CASE(separable_options) {
  for (const std::string padding : {"valid", "same"}) {
    Case c = with_kind(conv("", {10}, {3}, {2}, {1}, padding), Kind::Separable, "SeparableConv1D");
    c.dm = 2;
    run_case(c);
    c = with_kind(conv("", {7, 8}, {3, 3}, {1, 1}, {2, 1}, padding), Kind::Separable,
                  "SeparableConv2D");
    run_case(c);
    c.dm = 3;
    c.channels_first = true;
    c.relu = true;
    run_case(c);
    c.use_bias = false;
    run_case(c);
  }
}

BOOST_AUTO_TEST_CASE(variables_in_keras_order_and_shapes) {
  auto conv2 = kserde::layers::from_config("Conv2D",
                                           R"({"filters": 6, "kernel_size": [3, 2], "groups": 2,
                                               "data_format": "channels_first"})");
  conv2->build({{-1, 4, 9, 9}});
  BOOST_REQUIRE_EQUAL(conv2->variables().size(), 2u);
  BOOST_CHECK_EQUAL(conv2->variables()[0].name, "kernel");
  BOOST_CHECK(conv2->variables()[0].value.shape() == (Shape{3, 2, 2, 6}));
  BOOST_CHECK_EQUAL(conv2->variables()[1].name, "bias");
  BOOST_CHECK(conv2->variables()[1].value.shape() == (Shape{6}));

  auto tr = kserde::layers::from_config("Conv3DTranspose", R"({"filters": 5, "kernel_size": 2})");
  tr->build({{-1, 3, 3, 3, 7}});
  BOOST_CHECK(tr->variables()[0].value.shape() == (Shape{2, 2, 2, 5, 7}));
  BOOST_CHECK(tr->variables()[1].value.shape() == (Shape{5}));

  auto dw = kserde::layers::from_config("DepthwiseConv2D",
                                        R"({"kernel_size": 3, "depth_multiplier": 2})");
  dw->build({{-1, 5, 5, 3}});
  BOOST_CHECK(dw->variables()[0].value.shape() == (Shape{3, 3, 3, 2}));
  BOOST_CHECK_EQUAL(dw->variables()[0].name, "kernel");
  BOOST_CHECK(dw->variables()[1].value.shape() == (Shape{6}));

  auto sep = kserde::layers::from_config(
      "SeparableConv1D", R"({"filters": 4, "kernel_size": 3, "depth_multiplier": 2})");
  sep->build({{-1, 8, 3}});
  BOOST_REQUIRE_EQUAL(sep->variables().size(), 3u);
  BOOST_CHECK_EQUAL(sep->variables()[0].name, "depthwise_kernel");
  BOOST_CHECK(sep->variables()[0].value.shape() == (Shape{3, 3, 2}));
  BOOST_CHECK_EQUAL(sep->variables()[1].name, "pointwise_kernel");
  BOOST_CHECK(sep->variables()[1].value.shape() == (Shape{1, 6, 4}));
  BOOST_CHECK_EQUAL(sep->variables()[2].name, "bias");

  auto nobias = kserde::layers::from_config(
      "Conv1D", R"({"filters": 2, "kernel_size": 1, "use_bias": false})");
  nobias->build({{-1, 4, 3}});
  BOOST_CHECK_EQUAL(nobias->variables().size(), 1u);
  BOOST_CHECK_EQUAL(nobias->count_params(), 6);
}

BOOST_AUTO_TEST_CASE(unknown_spatial_dims_in_output_shape) {
  auto l =
      kserde::layers::from_config("Conv2D", R"({"filters": 4, "kernel_size": 3, "strides": 2})");
  l->build({{-1, -1, 9, 3}});
  BOOST_CHECK(l->compute_output_shape({{-1, -1, 9, 3}}).at(0) == (Shape{-1, -1, 4, 4}));
  auto t = kserde::layers::from_config("Conv2DTranspose",
                                       R"({"filters": 4, "kernel_size": 3, "strides": 2,
                                           "padding": "same"})");
  t->build({{-1, -1, 5, 3}});
  BOOST_CHECK(t->compute_output_shape({{-1, -1, 5, 3}}).at(0) == (Shape{-1, -1, 10, 4}));
}

BOOST_AUTO_TEST_CASE(config_defaults_and_standardized_values) {
  auto l = kserde::layers::from_config("Conv2D", R"({"filters": 4, "kernel_size": 3,
                                                     "padding": "SAME"})");
  for (const char* key :
       {"name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding", "data_format",
        "dilation_rate", "groups", "activation", "use_bias", "kernel_initializer",
        "bias_initializer", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
        "kernel_constraint", "bias_constraint"}) {
    BOOST_CHECK_MESSAGE(config_key(*l, key) != nullptr, "Conv2D config lacks " << key);
  }
  BOOST_CHECK_EQUAL(kserde::to_json(*config_key(*l, "kernel_size")), "[3, 3]");
  BOOST_CHECK_EQUAL(kserde::to_json(*config_key(*l, "strides")), "[1, 1]");
  BOOST_CHECK_EQUAL(kserde::to_json(*config_key(*l, "padding")), "\"same\"");
  BOOST_CHECK_EQUAL(kserde::to_json(*config_key(*l, "activation")), "\"linear\"");

  auto t = kserde::layers::from_config("Conv1DTranspose", R"({"filters": 2, "kernel_size": 3})");
  BOOST_REQUIRE(config_key(*t, "output_padding") != nullptr);
  BOOST_CHECK(config_key(*t, "output_padding")->IsNull());
  BOOST_CHECK(config_key(*t, "groups") == nullptr);  // transposes have no groups
  auto t2 = kserde::layers::from_config(
      "Conv2DTranspose", R"({"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1})");
  BOOST_CHECK_EQUAL(kserde::to_json(*config_key(*t2, "output_padding")), "[1, 1]");

  auto d = kserde::layers::from_config("DepthwiseConv1D", R"({"kernel_size": 3})");
  for (const char* key : {"depth_multiplier", "depthwise_initializer", "depthwise_regularizer",
                          "depthwise_constraint", "bias_initializer", "activity_regularizer"}) {
    BOOST_CHECK_MESSAGE(config_key(*d, key) != nullptr, "DepthwiseConv1D config lacks " << key);
  }
  auto s = kserde::layers::from_config("SeparableConv2D", R"({"filters": 3, "kernel_size": 3})");
  for (const char* key :
       {"depth_multiplier", "filters", "depthwise_initializer", "pointwise_initializer",
        "pointwise_regularizer", "pointwise_constraint"}) {
    BOOST_CHECK_MESSAGE(config_key(*s, key) != nullptr, "SeparableConv2D config lacks " << key);
  }
}

BOOST_AUTO_TEST_CASE(invalid_configs_are_config_errors_naming_the_layer) {
  using kserde::layers::from_config;
  auto bad = [](const char* cls, const char* cfg) {
    BOOST_TEST_CONTEXT(cls << " " << cfg) {
      BOOST_CHECK_THROW(from_config(cls, cfg), kserde::ConfigError);
      expect_error_naming([&] { from_config(cls, cfg); }, "'bad'");
    }
  };
  bad("Conv2D", R"({"name": "bad", "filters": 0, "kernel_size": 3})");
  bad("Conv2D", R"({"name": "bad", "filters": -2, "kernel_size": 3})");
  bad("Conv2D", R"({"name": "bad", "filters": 2, "kernel_size": [3, 0]})");
  bad("Conv2D", R"({"name": "bad", "filters": 2, "kernel_size": [3, 3, 3]})");
  bad("Conv2D", R"({"name": "bad", "filters": 2, "kernel_size": 3, "strides": 0})");
  bad("Conv2D", R"({"name": "bad", "filters": 2, "kernel_size": 3, "dilation_rate": -1})");
  bad("Conv2D", R"({"name": "bad", "filters": 4, "kernel_size": 3, "groups": 3})");
  bad("Conv2D", R"({"name": "bad", "filters": 4, "kernel_size": 3, "groups": 0})");
  bad("Conv2D", R"({"name": "bad", "filters": 4, "kernel_size": 3, "strides": 2,
                    "dilation_rate": 2})");
  bad("Conv2D", R"({"name": "bad", "filters": 4, "kernel_size": 3, "padding": "causal"})");
  bad("Conv1D", R"({"name": "bad", "filters": 4, "kernel_size": 3, "padding": "full"})");
  bad("Conv1D", R"({"name": "bad", "filters": 4, "kernel_size": 3,
                    "data_format": "channels_middle"})");
  bad("Conv1D", R"({"name": "bad", "filters": 4})");
  bad("Conv1DTranspose", R"({"name": "bad", "filters": 4, "kernel_size": 3, "strides": 2,
                             "output_padding": 2})");
  bad("Conv1DTranspose", R"({"name": "bad", "filters": 4, "kernel_size": 3,
                             "padding": "causal"})");
  bad("DepthwiseConv2D", R"({"name": "bad", "kernel_size": 3, "depth_multiplier": 0})");
  bad("SeparableConv2D", R"({"name": "bad", "kernel_size": 3, "filters": 0})");
}

BOOST_AUTO_TEST_CASE(shape_errors_name_the_layer) {
  using kserde::layers::from_config;
  auto l = from_config("Conv2D", R"({"name": "c", "filters": 2, "kernel_size": 3})");
  BOOST_CHECK_THROW(l->build({{-1, 8, 3}}), kserde::ShapeError);  // rank 3 for Conv2D
  expect_error_naming([&] { l->build({{-1, 8, 3}}); }, "Conv2D 'c'");
  BOOST_CHECK_THROW(l->build({{-1, 8, 8, -1}}), kserde::ShapeError);  // unknown channels
  BOOST_CHECK_THROW(l->build({{-1, 2, 8, 3}}), kserde::ShapeError);   // too small for k=3 valid
  l->build({{-1, 8, 8, 3}});
  kserde::CallContext ctx;
  BOOST_CHECK_THROW(l->call({tensor({1, 8, 3}, Floats(24))}, ctx), kserde::ShapeError);
  BOOST_CHECK_THROW(l->call({tensor({1, 8, 8, 2}, Floats(128))}, ctx), kserde::ShapeError);
  BOOST_CHECK_THROW(l->call({tensor({1, 2, 8, 3}, Floats(48))}, ctx), kserde::ShapeError);
  BOOST_CHECK_THROW(l->call({}, ctx), kserde::ShapeError);

  auto g = from_config("Conv1D", R"({"name": "g", "filters": 4, "kernel_size": 1, "groups": 2})");
  BOOST_CHECK_THROW(g->build({{-1, 5, 3}}), kserde::ShapeError);  // 3 channels, 2 groups
  auto t = from_config("Conv2DTranspose", R"({"name": "t", "filters": 2, "kernel_size": 3})");
  expect_error_naming([&] { t->build({{-1, 4, 4}}); }, "Conv2DTranspose 't'");
  auto d = from_config("DepthwiseConv1D", R"({"name": "d", "kernel_size": 3})");
  expect_error_naming([&] { d->build({{-1, 4, 4, 4}}); }, "DepthwiseConv1D 'd'");
}

BOOST_AUTO_TEST_CASE(float64_variables_and_integer_inputs) {
  // dtype float64 keeps float64 variables; the convolution itself runs in float32 (as JAX, which
  // Keras's NumPy backend convolves with, computes float64 operands) and returns float64.
  auto l = kserde::layers::from_config(
      "Conv1D", R"({"filters": 1, "kernel_size": 2, "dtype": "float64", "use_bias": false})");
  l->build({{-1, 3, 1}});
  BOOST_CHECK(l->variables()[0].value.dtype() == kserde::DType::Float64);
  l->set_weights({tensor({2, 1, 1}, {1, 1})});
  Tensor y = (*l)(tensor({1, 3, 1}, {1, 2, 4}));
  BOOST_CHECK(y.dtype() == kserde::DType::Float64);
  expect_close(values_of(y.to(kserde::DType::Float32)), {3, 6});
}

BOOST_AUTO_TEST_SUITE_END()
