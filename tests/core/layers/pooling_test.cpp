// Pooling layers (Max/AveragePooling1D-3D, GlobalMax/GlobalAveragePooling1D-3D, Adaptive*) against
// hand-worked values and naive references written here: loops over every output window, with
// "same" padding laid out by Keras's/XLA's rule and padded positions skipped (max) or not
// counted (average divides by the number of real elements).
#include <boost/test/unit_test.hpp>

#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/json.hpp"
#include "kserde/layer.hpp"
#include "kserde/layers.hpp"

namespace {

using kserde::Shape;
using kserde::Tensor;
using Dims = std::vector<std::int64_t>;
using Floats = std::vector<float>;

std::int64_t prod(const Dims& d) {
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

std::int64_t flat(const Dims& dims, const Dims& idx) {
  std::int64_t f = 0;
  for (std::size_t i = 0; i < dims.size(); ++i) f = f * dims[i] + idx[i];
  return f;
}

Floats random_values(std::int64_t n, std::uint32_t seed) {
  Floats v(static_cast<std::size_t>(n));
  std::uint32_t s = seed * 2246822519u + 374761393u;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>((s >> 8) & 0xFFFF) / 16384.0f - 2.0f;  // [-2, 2)
  }
  return v;
}

Tensor tensor(const Shape& shape, const Floats& v) {
  return Tensor::from_floats(shape, v);
}

Floats values_of(const Tensor& t) {
  auto v = t.values<float>();
  return Floats(v.begin(), v.end());
}

void expect_close(const Floats& got, const Floats& want, double rtol = 1e-5, double atol = 1e-6) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      BOOST_CHECK_MESSAGE(std::isnan(got[i]),
                          "element " << i << ": got " << got[i] << ", want nan");
      continue;
    }
    const double tol = atol + rtol * std::fabs(want[i]);
    if (std::fabs(static_cast<double>(got[i]) - want[i]) > tol) {
      BOOST_ERROR("element " << i << ": got " << got[i] << ", want " << want[i]);
      return;
    }
  }
}

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

std::string tuple_json(const Dims& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

std::string config_json(const kserde::Layer& l, const char* key) {
  auto doc = l.to_object_dict();
  const auto& c = (*doc)["config"];
  auto it = c.FindMember(key);
  return it == c.MemberEnd() ? "<absent>" : kserde::to_json(it->value);
}

// Input of `spatial` x channels in the layer's data format, plus the channels_last values the
// references use.
struct Input {
  Tensor tensor;
  Floats last;
};
Input make_input(std::int64_t n, const Dims& sp, std::int64_t c, bool channels_first,
                 std::uint32_t seed) {
  Shape s{n};
  if (channels_first) s.push_back(c);
  s.insert(s.end(), sp.begin(), sp.end());
  if (!channels_first) s.push_back(c);
  Floats last = random_values(n * prod(sp) * c, seed);
  return {tensor(s, channels_first ? last_to_first(last, n, sp, c) : last), last};
}

Floats output_as_last(const Tensor& y, std::int64_t n, const Dims& sp, std::int64_t c,
                      bool channels_first) {
  return channels_first ? first_to_last(values_of(y), n, sp, c) : values_of(y);
}

// Pools box [lo, hi) per dimension (hi exclusive, already clipped).
float pool_box(const Floats& x, std::int64_t b, const Dims& in, std::int64_t c, std::int64_t ch,
               const Dims& lo, const Dims& hi, bool max) {
  const std::size_t r = in.size();
  Dims len(r);
  for (std::size_t i = 0; i < r; ++i) len[i] = hi[i] - lo[i];
  double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
  std::int64_t count = 0;
  Dims w(r, 0);
  do {
    Dims pos(r);
    for (std::size_t i = 0; i < r; ++i) pos[i] = lo[i] + w[i];
    const double v = x[static_cast<std::size_t>((b * prod(in) + flat(in, pos)) * c + ch)];
    acc = max ? std::max(acc, v) : acc + v;
    ++count;
  } while (next(w, len));
  return static_cast<float>(max ? acc : acc / static_cast<double>(count));
}

// Window pooling reference: returns values and output dims.
Floats ref_pool(const Floats& x, std::int64_t n, const Dims& in, std::int64_t c, const Dims& k,
                const Dims& s, const std::string& padding, bool max, Dims& out) {
  const std::size_t r = in.size();
  out.assign(r, 0);
  Dims pad(r, 0);
  for (std::size_t i = 0; i < r; ++i) {
    if (padding == "valid") {
      out[i] = (in[i] - k[i]) / s[i] + 1;
    } else {
      out[i] = (in[i] + s[i] - 1) / s[i];
      pad[i] = std::max<std::int64_t>((out[i] - 1) * s[i] + k[i] - in[i], 0) / 2;
    }
  }
  Floats y(static_cast<std::size_t>(n * prod(out) * c));
  for (std::int64_t b = 0; b < n; ++b) {
    Dims o(r, 0);
    do {
      Dims lo(r), hi(r);
      for (std::size_t i = 0; i < r; ++i) {
        const std::int64_t start = o[i] * s[i] - pad[i];
        lo[i] = std::max<std::int64_t>(start, 0);
        hi[i] = std::min(start + k[i], in[i]);
      }
      for (std::int64_t ch = 0; ch < c; ++ch)
        y[static_cast<std::size_t>((b * prod(out) + flat(out, o)) * c + ch)] =
            pool_box(x, b, in, c, ch, lo, hi, max);
    } while (next(o, out));
  }
  return y;
}

void run_pool(const std::string& cls, const Dims& in, const Dims& k, const Dims& s,
              const std::string& padding, bool channels_first, std::int64_t c = 3) {
  BOOST_TEST_CONTEXT(cls << " in=" << tuple_json(in) << " k=" << tuple_json(k)
                         << " s=" << tuple_json(s) << " " << padding
                         << (channels_first ? " channels_first" : "") << " c=" << c) {
    const bool max = cls.rfind("Max", 0) == 0;
    const std::int64_t n = 2;
    auto l = kserde::layers::from_config(
        cls, R"({"pool_size": )" + tuple_json(k) + R"(, "strides": )" + tuple_json(s) +
                 R"(, "padding": ")" + padding + R"(", "data_format": ")" +
                 (channels_first ? "channels_first" : "channels_last") + "\"}");
    const Input x = make_input(n, in, c, channels_first, 3);
    Dims out;
    const Floats want = ref_pool(x.last, n, in, c, k, s, padding, max, out);
    Shape sym = x.tensor.shape();
    sym[0] = -1;
    l->build({sym});
    Tensor y = (*l)(x.tensor);
    Shape want_shape{n};
    if (channels_first) want_shape.push_back(c);
    want_shape.insert(want_shape.end(), out.begin(), out.end());
    if (!channels_first) want_shape.push_back(c);
    BOOST_CHECK(y.shape() == want_shape);
    Shape want_sym = want_shape;
    want_sym[0] = -1;
    BOOST_CHECK(l->compute_output_shape({sym}).at(0) == want_sym);
    expect_close(output_as_last(y, n, out, c, channels_first), want);
  }
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

BOOST_AUTO_TEST_SUITE(pooling)

BOOST_AUTO_TEST_CASE(max_pooling2d_hand_worked) {
  // 4x4 image 0..15, 2x2 windows: maxima 5, 7, 13, 15.
  Floats v(16);
  for (int i = 0; i < 16; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(i);
  auto l = kserde::layers::from_config("MaxPooling2D", "{}");
  Tensor y = (*l)(tensor({1, 4, 4, 1}, v));
  BOOST_CHECK(y.shape() == (Shape{1, 2, 2, 1}));
  expect_close(values_of(y), {5, 7, 13, 15});
}

BOOST_AUTO_TEST_CASE(average_pooling1d_same_counts_only_real_elements) {
  // x = [1..5], pool 2, stride 2, same: 3 outputs, one padding element after the input; the
  // last window holds only x[4] and divides by 1.
  auto l =
      kserde::layers::from_config("AveragePooling1D", R"({"pool_size": 2, "padding": "same"})");
  Tensor y = (*l)(tensor({1, 5, 1}, {1, 2, 3, 4, 5}));
  expect_close(values_of(y), {1.5f, 3.5f, 5.0f});
  // pool 3, stride 1, same on 4 elements: padding 1 before, 1 after.
  auto l3 = kserde::layers::from_config("AveragePooling1D",
                                        R"({"pool_size": 3, "strides": 1, "padding": "same"})");
  Tensor y3 = (*l3)(tensor({1, 4, 1}, {1, 2, 3, 4}));
  expect_close(values_of(y3), {1.5f, 2.0f, 3.0f, 3.5f});
  // Max with same padding never picks the padding (all inputs negative).
  auto m = kserde::layers::from_config("MaxPooling1D",
                                       R"({"pool_size": 3, "strides": 1, "padding": "same"})");
  Tensor ym = (*m)(tensor({1, 4, 1}, {-1, -2, -3, -4}));
  expect_close(values_of(ym), {-1, -1, -2, -3});
}

BOOST_AUTO_TEST_CASE(window_pooling_sweep_against_reference) {
  for (const std::string cls : {"MaxPooling", "AveragePooling"}) {
    for (const std::string padding : {"valid", "same"}) {
      for (bool cf : {false, true}) {
        for (std::int64_t in : {5, 6, 7}) {
          for (auto [k, s] :
               {std::pair<std::int64_t, std::int64_t>{2, 2}, {3, 1}, {3, 2}, {2, 3}, {1, 2}}) {
            run_pool(cls + "1D", {in}, {k}, {s}, padding, cf);
          }
        }
        run_pool(cls + "2D", {5, 6}, {2, 3}, {2, 1}, padding, cf);
        run_pool(cls + "2D", {7, 4}, {3, 3}, {2, 2}, padding, cf);
        run_pool(cls + "3D", {5, 4, 3}, {2, 3, 2}, {2, 1, 2}, padding, cf);
        run_pool(cls + "3D", {4, 4, 4}, {2, 2, 2}, {2, 2, 2}, padding, cf);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(window_pooling_2d_over_many_channels_against_reference) {
  // Channels go through the kernel in blocks of 16 and 8 and then one by one: counts that hit
  // each (8, 16, 16 + 8 + 3).
  for (const std::string cls : {"MaxPooling2D", "AveragePooling2D"}) {
    for (const std::string padding : {"valid", "same"}) {
      for (std::int64_t c : {8, 16, 27}) {
        run_pool(cls, {5, 6}, {2, 3}, {2, 1}, padding, false, c);
        run_pool(cls, {6, 6}, {2, 2}, {2, 2}, padding, false, c);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(strides_default_to_pool_size) {
  auto l = kserde::layers::from_config("AveragePooling2D", R"({"pool_size": [2, 3]})");
  BOOST_CHECK_EQUAL(config_json(*l, "strides"), "[2, 3]");
  BOOST_CHECK_EQUAL(config_json(*l, "pool_size"), "[2, 3]");
  BOOST_CHECK(l->compute_output_shape({{-1, 7, 7, 2}}).at(0) == (Shape{-1, 3, 2, 2}));
  auto m = kserde::layers::from_config("MaxPooling3D", R"({"strides": null})");
  BOOST_CHECK_EQUAL(config_json(*m, "pool_size"), "[2, 2, 2]");
  BOOST_CHECK_EQUAL(config_json(*m, "strides"), "[2, 2, 2]");
  for (const char* key :
       {"name", "trainable", "dtype", "pool_size", "padding", "strides", "data_format"}) {
    BOOST_CHECK_MESSAGE(config_json(*m, key) != "<absent>", "MaxPooling3D config lacks " << key);
  }
  BOOST_CHECK_EQUAL(config_json(*m, "data_format"), "\"channels_last\"");
  BOOST_CHECK(m->variables().empty());
}

BOOST_AUTO_TEST_CASE(unknown_spatial_dims) {
  auto l = kserde::layers::from_config("MaxPooling2D", R"({"pool_size": 2, "padding": "same"})");
  BOOST_CHECK(l->compute_output_shape({{-1, -1, 5, 3}}).at(0) == (Shape{-1, -1, 3, 3}));
}

BOOST_AUTO_TEST_CASE(global_pooling_all_ranks_keepdims_and_formats) {
  for (std::size_t rank : {1u, 2u, 3u}) {
    for (bool max : {false, true}) {
      for (bool cf : {false, true}) {
        for (bool keepdims : {false, true}) {
          const std::string cls = std::string(max ? "GlobalMaxPooling" : "GlobalAveragePooling") +
                                  std::to_string(rank) + "D";
          BOOST_TEST_CONTEXT(cls << (cf ? " channels_first" : "")
                                 << (keepdims ? " keepdims" : "")) {
            const Dims sp = rank == 1 ? Dims{5} : rank == 2 ? Dims{3, 4} : Dims{2, 3, 2};
            const std::int64_t n = 2, c = 3;
            auto l = kserde::layers::from_config(
                cls, std::string(R"({"keepdims": )") + (keepdims ? "true" : "false") +
                         R"(, "data_format": ")" + (cf ? "channels_first" : "channels_last") +
                         "\"}");
            const Input x = make_input(n, sp, c, cf, 5);
            Tensor y = (*l)(x.tensor);
            Shape want_shape{n, c};
            if (keepdims) {
              want_shape = cf ? Shape{n, c} : Shape{n};
              for (std::size_t i = 0; i < rank; ++i) want_shape.push_back(1);
              if (!cf) want_shape.push_back(c);
            }
            BOOST_CHECK(y.shape() == want_shape);
            Shape sym = x.tensor.shape();
            sym[0] = -1;
            Shape want_sym = want_shape;
            want_sym[0] = -1;
            BOOST_CHECK(l->compute_output_shape({sym}).at(0) == want_sym);
            Floats want(static_cast<std::size_t>(n * c));
            const std::int64_t p = prod(sp);
            for (std::int64_t b = 0; b < n; ++b)
              for (std::int64_t ch = 0; ch < c; ++ch) {
                double acc = max ? -1e30 : 0.0;
                for (std::int64_t i = 0; i < p; ++i) {
                  const double v = x.last[static_cast<std::size_t>((b * p + i) * c + ch)];
                  acc = max ? std::max(acc, v) : acc + v;
                }
                want[static_cast<std::size_t>(b * c + ch)] =
                    static_cast<float>(max ? acc : acc / static_cast<double>(p));
              }
            // With keepdims the (n, 1.., c) or (n, c, 1..) values are laid out like (n, c).
            expect_close(values_of(y), want);
          }
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(global_average_pooling1d_mask) {
  // x (1, 4, 2); mask [1, 0, 1, 0]: mean of steps 0 and 2.
  const Tensor x = tensor({1, 4, 2}, {1, 10, 2, 20, 3, 30, 4, 40});
  Tensor mask(Shape{1, 4}, kserde::DType::Bool);
  auto mb = mask.mutable_values<bool>();
  mb[0] = true;
  mb[2] = true;
  auto l = kserde::layers::from_config("GlobalAveragePooling1D", "{}");
  kserde::CallContext ctx;
  ctx.input_masks.push_back(mask);
  auto y = l->call({x}, ctx);
  expect_close(values_of(y.at(0)), {2, 20});
  BOOST_CHECK(ctx.output_masks.empty() || !ctx.output_masks[0].has_value());

  // channels_first (1, 2, 4) with keepdims, mask passed by keyword.
  auto cf = kserde::layers::from_config("GlobalAveragePooling1D",
                                        R"({"data_format": "channels_first", "keepdims": true})");
  kserde::CallContext kctx;
  kctx.kwargs["mask"] = tensor({1, 4}, {0, 1, 1, 1});
  auto ycf = cf->call({tensor({1, 2, 4}, {1, 2, 3, 4, 10, 20, 30, 40})}, kctx);
  BOOST_CHECK(ycf.at(0).shape() == (Shape{1, 2, 1}));
  expect_close(values_of(ycf.at(0)), {3, 30});

  // A fully masked row is 0/0 = NaN, as in Keras.
  kserde::CallContext zctx;
  zctx.input_masks.push_back(tensor({1, 4}, {0, 0, 0, 0}));
  auto yz = l->call({x}, zctx);
  expect_close(values_of(yz.at(0)), {std::nanf(""), std::nanf("")});

  // Wrong mask shape.
  kserde::CallContext bctx;
  bctx.input_masks.push_back(tensor({1, 3}, {1, 1, 1}));
  BOOST_CHECK_THROW(l->call({x}, bctx), kserde::ShapeError);
}

BOOST_AUTO_TEST_CASE(global_max_pooling1d_ignores_mask_like_keras) {
  // Keras's GlobalMaxPooling1D.call takes no mask, so the maximum runs over every step.
  const Tensor x = tensor({1, 3, 1}, {5, 1, 2});
  auto l = kserde::layers::from_config("GlobalMaxPooling1D", "{}");
  kserde::CallContext ctx;
  ctx.input_masks.push_back(tensor({1, 3}, {0, 1, 1}));
  expect_close(values_of(l->call({x}, ctx).at(0)), {5});
}

BOOST_AUTO_TEST_CASE(global_pooling_config) {
  auto l = kserde::layers::from_config("GlobalAveragePooling2D", "{}");
  for (const char* key : {"name", "trainable", "dtype", "data_format", "keepdims"}) {
    BOOST_CHECK_MESSAGE(config_json(*l, key) != "<absent>", "config lacks " << key);
  }
  BOOST_CHECK_EQUAL(config_json(*l, "keepdims"), "false");
}

// Adaptive windows: output i covers [floor(i*L/O), ceil((i+1)*L/O)).
Floats ref_adaptive(const Floats& x, std::int64_t n, const Dims& in, std::int64_t c,
                    const Dims& out, bool max) {
  const std::size_t r = in.size();
  Floats y(static_cast<std::size_t>(n * prod(out) * c));
  for (std::int64_t b = 0; b < n; ++b) {
    Dims o(r, 0);
    do {
      Dims lo(r), hi(r);
      for (std::size_t i = 0; i < r; ++i) {
        const double L = static_cast<double>(in[i]), O = static_cast<double>(out[i]);
        lo[i] = static_cast<std::int64_t>(std::floor(static_cast<double>(o[i]) * L / O));
        hi[i] = static_cast<std::int64_t>(std::ceil(static_cast<double>(o[i] + 1) * L / O));
      }
      for (std::int64_t ch = 0; ch < c; ++ch)
        y[static_cast<std::size_t>((b * prod(out) + flat(out, o)) * c + ch)] =
            pool_box(x, b, in, c, ch, lo, hi, max);
    } while (next(o, out));
  }
  return y;
}

BOOST_AUTO_TEST_CASE(adaptive_pooling_hand_worked) {
  // L=5, O=3: windows [0,2), [1,4), [3,5).
  auto a = kserde::layers::from_config("AdaptiveAveragePooling1D", R"({"output_size": 3})");
  Tensor y = (*a)(tensor({1, 5, 1}, {1, 2, 3, 4, 5}));
  expect_close(values_of(y), {1.5f, 3.0f, 4.5f});
  auto m = kserde::layers::from_config("AdaptiveMaxPooling1D", R"({"output_size": 3})");
  Tensor ym = (*m)(tensor({1, 5, 1}, {5, 1, 2, 0, 3}));
  expect_close(values_of(ym), {5, 2, 3});
}

BOOST_AUTO_TEST_CASE(adaptive_pooling_against_reference) {
  struct C {
    Dims in, out;
  };
  for (bool max : {false, true}) {
    for (bool cf : {false, true}) {
      for (const C& tc : {C{{7}, {3}}, C{{4}, {6}}, C{{8}, {4}}, C{{5, 7}, {2, 3}},
                          C{{6, 3}, {4, 3}}, C{{5, 4, 3}, {2, 3, 2}}}) {
        const std::string cls = std::string(max ? "AdaptiveMaxPooling" : "AdaptiveAveragePooling") +
                                std::to_string(tc.in.size()) + "D";
        BOOST_TEST_CONTEXT(cls << " in=" << tuple_json(tc.in) << " out=" << tuple_json(tc.out)
                               << (cf ? " channels_first" : "")) {
          const std::int64_t n = 2, c = 2;
          auto l = kserde::layers::from_config(
              cls, R"({"output_size": )" + tuple_json(tc.out) + R"(, "data_format": ")" +
                       (cf ? "channels_first" : "channels_last") + "\"}");
          const Input x = make_input(n, tc.in, c, cf, 9);
          Tensor y = (*l)(x.tensor);
          Shape want_shape{n};
          if (cf) want_shape.push_back(c);
          want_shape.insert(want_shape.end(), tc.out.begin(), tc.out.end());
          if (!cf) want_shape.push_back(c);
          BOOST_CHECK(y.shape() == want_shape);
          expect_close(output_as_last(y, n, tc.out, c, cf),
                       ref_adaptive(x.last, n, tc.in, c, tc.out, max));
        }
      }
    }
  }
  auto l = kserde::layers::from_config("AdaptiveAveragePooling2D", R"({"output_size": 4})");
  BOOST_CHECK_EQUAL(config_json(*l, "output_size"), "[4, 4]");
  BOOST_CHECK(l->compute_output_shape({{-1, -1, 9, 3}}).at(0) == (Shape{-1, 4, 4, 3}));
}

BOOST_AUTO_TEST_CASE(invalid_configs_are_config_errors_naming_the_layer) {
  using kserde::layers::from_config;
  auto bad = [](const char* cls, const char* cfg) {
    BOOST_TEST_CONTEXT(cls << " " << cfg) {
      BOOST_CHECK_THROW(from_config(cls, cfg), kserde::ConfigError);
      expect_error_naming([&] { from_config(cls, cfg); }, "'bad'");
    }
  };
  bad("MaxPooling2D", R"({"name": "bad", "pool_size": 0})");
  bad("MaxPooling2D", R"({"name": "bad", "pool_size": [2, -1]})");
  bad("MaxPooling2D", R"({"name": "bad", "pool_size": [2, 2, 2]})");
  bad("MaxPooling2D", R"({"name": "bad", "strides": 0})");
  bad("AveragePooling1D", R"({"name": "bad"})");  // pool_size is required
  bad("AveragePooling1D", R"({"name": "bad", "pool_size": 2, "padding": "causal"})");
  bad("MaxPooling1D", R"({"name": "bad", "data_format": "nhwc"})");
  bad("GlobalMaxPooling2D", R"({"name": "bad", "data_format": "nchw"})");
  bad("AdaptiveMaxPooling2D", R"({"name": "bad"})");
  bad("AdaptiveMaxPooling2D", R"({"name": "bad", "output_size": [2, 0]})");
  bad("AdaptiveMaxPooling1D", R"({"name": "bad", "output_size": [2, 2]})");
}

BOOST_AUTO_TEST_CASE(shape_errors_name_the_layer) {
  using kserde::layers::from_config;
  auto p = from_config("MaxPooling2D", R"({"name": "p"})");
  BOOST_CHECK_THROW(p->build({{-1, 4, 3}}), kserde::ShapeError);
  expect_error_naming([&] { p->build({{-1, 4, 3}}); }, "MaxPooling2D 'p'");
  BOOST_CHECK_THROW(p->build({{-1, 1, 4, 3}}), kserde::ShapeError);  // 1 < pool 2 with valid
  kserde::CallContext ctx;
  BOOST_CHECK_THROW(p->call({tensor({1, 4, 3}, Floats(12))}, ctx), kserde::ShapeError);
  auto g = from_config("GlobalAveragePooling1D", R"({"name": "g"})");
  expect_error_naming([&] { g->build({{-1, 4, 4, 3}}); }, "GlobalAveragePooling1D 'g'");
  auto a = from_config("AdaptiveAveragePooling3D", R"({"name": "a", "output_size": 2})");
  expect_error_naming([&] { a->build({{-1, 4, 4, 3}}); }, "AdaptiveAveragePooling3D 'a'");
}

BOOST_AUTO_TEST_SUITE_END()
