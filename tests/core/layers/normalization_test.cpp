// Normalization layers: BatchNormalization (inference), LayerNormalization, GroupNormalization,
// UnitNormalization, RMSNormalization. References are direct loops written here; statistics are
// accumulated in double, so 1e-5 relative / 1e-6 absolute holds.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/layer.hpp"
#include "kserde/layers.hpp"

using namespace kserde;

namespace {

std::vector<float> prand(std::size_t n, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 777u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = lo + (hi - lo) * static_cast<float>((s >> 8) & 0xFFFF) / 65536.0f;
  }
  return v;
}

Tensor make(const Shape& s, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  return Tensor::from_floats(s, prand(static_cast<std::size_t>(shape_num_elements(s)), seed, lo, hi));
}

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

std::vector<std::string> var_names(const Layer& l) {
  std::vector<std::string> n;
  for (const auto& v : l.variables()) n.push_back(v.name + (v.trainable ? "" : "*"));
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(normalization)

BOOST_AUTO_TEST_CASE(batch_norm_uses_moving_statistics_channels_last) {
  auto bn = layers::from_config("BatchNormalization", R"({"epsilon": 0.01})");
  bn->build({{-1, 2, 3}});
  BOOST_TEST((var_names(*bn) == std::vector<std::string>{"gamma", "beta", "moving_mean*", "moving_variance*"}));
  const std::vector<float> g{1.5f, -2.0f, 0.5f}, b{0.1f, 0.2f, 0.3f}, m{0.5f, -1.0f, 2.0f}, v{4.0f, 0.25f, 1.0f};
  bn->set_weights({Tensor::from_floats({3}, g), Tensor::from_floats({3}, b), Tensor::from_floats({3}, m),
                   Tensor::from_floats({3}, v)});
  const Tensor x = make({2, 2, 3}, 1);
  std::vector<float> want(12);
  for (int i = 0; i < 12; ++i) {
    const int c = i % 3;
    want[i] = g[c] * (x.f32()[i] - m[c]) / std::sqrt(v[c] + 0.01f) + b[c];
  }
  CallContext ctx;
  Tensor mask({2, 2}, DType::Bool);
  ctx.input_masks = {mask};
  check_close(run(*bn, x, &ctx), {2, 2, 3}, want);
  BOOST_TEST(bn->supports_masking());  // the models pass the mask through
}

BOOST_AUTO_TEST_CASE(batch_norm_channels_first_without_scale_or_center) {
  auto bn = layers::from_config("BatchNormalization", R"({"axis": 1, "center": false, "scale": false})");
  bn->build({{-1, 2, 2, 2}});
  BOOST_TEST((var_names(*bn) == std::vector<std::string>{"moving_mean*", "moving_variance*"}));
  bn->set_weights({Tensor::from_floats({2}, std::vector<float>{1.0f, -1.0f}),
                   Tensor::from_floats({2}, std::vector<float>{0.999f, 3.999f})});
  const Tensor x = make({1, 2, 2, 2}, 2);
  std::vector<float> want(8);
  for (int i = 0; i < 8; ++i) {
    const int c = i / 4;  // (batch, channel, h, w)
    want[i] = c == 0 ? (x.f32()[i] - 1.0f) / 1.0f : (x.f32()[i] + 1.0f) / 2.0f;
  }
  check_close(run(*bn, x), {1, 2, 2, 2}, want);
  BOOST_CHECK_THROW(run(*bn, make({1, 3, 2, 2}, 3)), ShapeError);
}

BOOST_AUTO_TEST_CASE(batch_norm_axis_list_and_renorm_variables) {
  // Keras 2 files may carry axis as a list; parameters then have the shape of those dims.
  auto bn = layers::from_config("BatchNormalization", R"({"axis": [1, 2], "epsilon": 0.0})");
  bn->build({{-1, 2, 3}});
  BOOST_TEST((bn->variables()[0].value.shape() == Shape{2, 3}));
  std::vector<float> ones(6, 1.0f), zeros(6, 0.0f), var(6, 4.0f);
  bn->set_weights({Tensor::from_floats({2, 3}, ones), Tensor::from_floats({2, 3}, zeros),
                   Tensor::from_floats({2, 3}, zeros), Tensor::from_floats({2, 3}, var)});
  const Tensor x = make({2, 2, 3}, 4);
  std::vector<float> want(12);
  for (int i = 0; i < 12; ++i) want[i] = x.f32()[i] / 2.0f;
  check_close(run(*bn, x), {2, 2, 3}, want);

  auto rn = layers::from_config("BatchNormalization", R"({"renorm": true, "scale": false})");
  rn->build({{-1, 4}});
  BOOST_TEST((var_names(*rn) == std::vector<std::string>{"beta", "moving_mean*", "moving_variance*",
                                                          "moving_stddev*", "renorm_mean*", "renorm_stddev*"}));
  const auto doc = rn->to_object_dict();
  const JsonValue& c = (*doc)["config"];
  for (const char* key : {"axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                          "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
                          "synchronized", "renorm", "renorm_clipping", "renorm_momentum"}) {
    BOOST_TEST(cfg::find(c, key) != nullptr, key);
  }
  BOOST_CHECK_THROW(layers::from_config("BatchNormalization", R"({"epsilon": -1})"), ConfigError);
  auto bad = layers::from_config("BatchNormalization", R"({"axis": 3})");
  BOOST_CHECK_THROW(bad->build({{-1, 4}}), ShapeError);
}

// Reference layer norm over the trailing `n` values of each row.
std::vector<float> layer_norm_ref(const Tensor& x, std::int64_t n, const std::vector<float>& g,
                                  const std::vector<float>& b, double eps, bool rms) {
  std::vector<float> out(static_cast<std::size_t>(x.num_elements()));
  for (std::int64_t r = 0; r < x.num_elements() / n; ++r) {
    double mean = 0, var = 0;
    for (std::int64_t j = 0; j < n; ++j) mean += x.f32()[r * n + j];
    mean /= n;
    for (std::int64_t j = 0; j < n; ++j) var += std::pow(x.f32()[r * n + j] - mean, 2);
    var /= n;
    for (std::int64_t j = 0; j < n; ++j) {
      const double v = rms ? x.f32()[r * n + j] : x.f32()[r * n + j] - mean;
      double y = v / std::sqrt(var + eps);
      if (!g.empty()) y *= g[j];
      if (!b.empty()) y += b[j];
      out[r * n + j] = static_cast<float>(y);
    }
  }
  return out;
}

BOOST_AUTO_TEST_CASE(layer_norm_last_axis_and_config_axis_list) {
  auto ln = layers::from_config("LayerNormalization", R"({"epsilon": 1e-5})");
  ln->build({{-1, 3, 4}});
  BOOST_TEST((var_names(*ln) == std::vector<std::string>{"gamma", "beta"}));
  const auto g = prand(4, 5), b = prand(4, 6);
  ln->set_weights({Tensor::from_floats({4}, g), Tensor::from_floats({4}, b)});
  const Tensor x = make({2, 3, 4}, 7, -3.0f, 5.0f);
  check_close(run(*ln, x), {2, 3, 4}, layer_norm_ref(x, 4, g, b, 1e-5, false));
  // Keras writes the canonical sorted axes after build.
  const auto doc = ln->to_object_dict();
  const JsonValue& axis = (*doc)["config"]["axis"];
  BOOST_TEST_REQUIRE(axis.IsArray());
  BOOST_TEST(axis[0].GetInt() == 2);
  BOOST_TEST(cfg::find((*doc)["config"], "rms_scaling") != nullptr);
}

BOOST_AUTO_TEST_CASE(layer_norm_over_two_axes_without_center) {
  // axis [1, 2] of (2, 2, 3, 2): gamma has shape (2, 3); normalization over 6 values per (b, w).
  auto ln = layers::from_config("LayerNormalization", R"({"axis": [2, 1], "center": false})");
  ln->build({{-1, 2, 3, 2}});
  BOOST_TEST((var_names(*ln) == std::vector<std::string>{"gamma"}));
  BOOST_TEST((ln->variables()[0].value.shape() == Shape{2, 3}));
  const auto g = prand(6, 8);
  ln->set_weights({Tensor::from_floats({2, 3}, g)});
  const Tensor x = make({2, 2, 3, 2}, 9);
  std::vector<float> want(24);
  for (int n = 0; n < 2; ++n) {
    for (int w = 0; w < 2; ++w) {
      double mean = 0, var = 0;
      for (int i = 0; i < 6; ++i) mean += x.f32()[n * 12 + i * 2 + w];
      mean /= 6;
      for (int i = 0; i < 6; ++i) var += std::pow(x.f32()[n * 12 + i * 2 + w] - mean, 2);
      var /= 6;
      for (int i = 0; i < 6; ++i) {
        want[n * 12 + i * 2 + w] =
            static_cast<float>((x.f32()[n * 12 + i * 2 + w] - mean) / std::sqrt(var + 1e-3) * g[i]);
      }
    }
  }
  check_close(run(*ln, x), {2, 2, 3, 2}, want);
  auto dup = layers::from_config("LayerNormalization", R"({"axis": [1, -2]})");
  BOOST_CHECK_THROW(dup->build({{-1, 2, 3}}), ConfigError);
}

BOOST_AUTO_TEST_CASE(layer_norm_rms_scaling_uses_variance_and_gamma_only) {
  auto ln = layers::from_config("LayerNormalization", R"({"rms_scaling": true})");
  ln->build({{-1, 5}});
  BOOST_TEST((var_names(*ln) == std::vector<std::string>{"gamma"}));
  const auto g = prand(5, 10);
  ln->set_weights({Tensor::from_floats({5}, g)});
  const Tensor x = make({3, 5}, 11, 0.0f, 4.0f);
  check_close(run(*ln, x), {3, 5}, layer_norm_ref(x, 5, g, {}, 1e-3, true));
}

BOOST_AUTO_TEST_CASE(group_norm_groups_channels_last_and_first) {
  // (2, 3, 4) channels_last, 2 groups of 2 channels: stats over 3 positions x 2 channels.
  auto gn = layers::from_config("GroupNormalization", R"({"groups": 2})");
  gn->build({{-1, 3, 4}});
  const auto g = prand(4, 12), b = prand(4, 13);
  gn->set_weights({Tensor::from_floats({4}, g), Tensor::from_floats({4}, b)});
  const Tensor x = make({2, 3, 4}, 14);
  std::vector<float> want(24);
  for (int n = 0; n < 2; ++n) {
    for (int grp = 0; grp < 2; ++grp) {
      double mean = 0, var = 0;
      for (int p = 0; p < 3; ++p)
        for (int c = grp * 2; c < grp * 2 + 2; ++c) mean += x.f32()[(n * 3 + p) * 4 + c];
      mean /= 6;
      for (int p = 0; p < 3; ++p)
        for (int c = grp * 2; c < grp * 2 + 2; ++c) var += std::pow(x.f32()[(n * 3 + p) * 4 + c] - mean, 2);
      var /= 6;
      for (int p = 0; p < 3; ++p)
        for (int c = grp * 2; c < grp * 2 + 2; ++c) {
          const int i = (n * 3 + p) * 4 + c;
          want[i] = static_cast<float>((x.f32()[i] - mean) / std::sqrt(var + 1e-3) * g[c] + b[c]);
        }
    }
  }
  check_close(run(*gn, x), {2, 3, 4}, want);

  // channels_first, groups=-1 (instance norm): per (n, c) over the 3 positions; no beta.
  auto inst = layers::from_config("GroupNormalization", R"({"groups": -1, "axis": 1, "center": false})");
  inst->build({{-1, 2, 3}});
  BOOST_TEST(cfg::get_int(inst->to_object_dict()->operator[]("config"), "groups", "t") == 2);
  inst->set_weights({Tensor::from_floats({2}, std::vector<float>{1.0f, 2.0f})});
  const Tensor y = make({1, 2, 3}, 15);
  std::vector<float> want2(6);
  for (int c = 0; c < 2; ++c) {
    double mean = 0, var = 0;
    for (int p = 0; p < 3; ++p) mean += y.f32()[c * 3 + p];
    mean /= 3;
    for (int p = 0; p < 3; ++p) var += std::pow(y.f32()[c * 3 + p] - mean, 2);
    var /= 3;
    for (int p = 0; p < 3; ++p) want2[c * 3 + p] = static_cast<float>((y.f32()[c * 3 + p] - mean) / std::sqrt(var + 1e-3) * (c + 1));
  }
  check_close(run(*inst, y), {1, 2, 3}, want2);

  auto bad = layers::from_config("GroupNormalization", R"({"groups": 3})");
  BOOST_CHECK_THROW(bad->build({{-1, 4}}), ShapeError);
  BOOST_CHECK_THROW(layers::from_config("GroupNormalization", R"({"groups": 0})"), ConfigError);
}

BOOST_AUTO_TEST_CASE(unit_norm_single_and_multiple_axes) {
  auto un = layers::from_config("UnitNormalization", "{}");
  const Tensor x = Tensor::from_floats({2, 2}, std::vector<float>{3, 4, 0, 0});
  check_close(run(*un, x), {2, 2}, {0.6f, 0.8f, 0.0f, 0.0f});  // zero rows stay zero
  auto un2 = layers::from_config("UnitNormalization", R"({"axis": [1, 2]})");
  const Tensor y = make({2, 2, 3}, 16);
  std::vector<float> want(12);
  for (int n = 0; n < 2; ++n) {
    double s = 0;
    for (int i = 0; i < 6; ++i) s += std::pow(y.f32()[n * 6 + i], 2);
    for (int i = 0; i < 6; ++i) want[n * 6 + i] = static_cast<float>(y.f32()[n * 6 + i] / std::sqrt(s));
  }
  check_close(run(*un2, y), {2, 2, 3}, want);
  BOOST_CHECK_THROW(run(*layers::from_config("UnitNormalization", R"({"axis": 4})"), y), ShapeError);
}

BOOST_AUTO_TEST_CASE(rms_norm_scales_by_root_mean_square) {
  auto rms = layers::from_config("RMSNormalization", "{}");
  rms->build({{-1, 4}});
  BOOST_TEST((var_names(*rms) == std::vector<std::string>{"scale"}));
  const auto s = prand(4, 17);
  rms->set_weights({Tensor::from_floats({4}, s)});
  const Tensor x = make({3, 4}, 18);
  std::vector<float> want(12);
  for (int r = 0; r < 3; ++r) {
    double ms = 0;
    for (int j = 0; j < 4; ++j) ms += std::pow(x.f32()[r * 4 + j], 2);
    ms /= 4;
    for (int j = 0; j < 4; ++j) want[r * 4 + j] = static_cast<float>(x.f32()[r * 4 + j] / std::sqrt(ms + 1e-6) * s[j]);
  }
  check_close(run(*rms, x), {3, 4}, want);
  const auto doc = rms->to_object_dict();
  const JsonValue& axis = (*doc)["config"]["axis"];
  BOOST_TEST_REQUIRE(axis.IsArray());
  BOOST_TEST(axis[0].GetInt() == -1);
}

BOOST_AUTO_TEST_SUITE_END()
