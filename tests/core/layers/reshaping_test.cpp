// Reshaping layers: ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling1D/2D/3D.
// References are index loops written here; bilinear up-sampling is checked against the classic
// half-pixel formula with edge clamping (equal to Keras's kernel resize when enlarging).
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

Tensor iota(const Shape& s) {
  std::vector<float> v(static_cast<std::size_t>(shape_num_elements(s)));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f - 3.0f;
  return Tensor::from_floats(s, v);
}

void check_close(const Tensor& got, const Shape& shape, const std::vector<float>& want) {
  BOOST_TEST_REQUIRE(got.shape() == shape, "shape " << shape_to_string(got.shape()) << " vs "
                                                    << shape_to_string(shape));
  const auto g = got.values<float>();
  BOOST_TEST_REQUIRE(g.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    BOOST_TEST(std::fabs(g[i] - want[i]) <= 1e-6 + 1e-5 * std::fabs(want[i]),
               "index " << i << ": " << g[i] << " vs " << want[i]);
  }
}

Tensor run(Layer& l, const Tensor& x) {
  CallContext ctx;
  return l.call({x}, ctx).at(0);
}

// Value of x (rank 4, channels_last) at (n, h, w, c), zero outside.
float at4(const Tensor& x, std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c) {
  if (h < 0 || w < 0 || h >= x.dim(1) || w >= x.dim(2)) return 0.0f;
  return x.f32()[((n * x.dim(1) + h) * x.dim(2) + w) * x.dim(3) + c];
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reshaping)

BOOST_AUTO_TEST_CASE(zero_padding_1d_2d_3d) {
  const Tensor x1 = iota({1, 2, 2});
  check_close(run(*layers::from_config("ZeroPadding1D", R"({"padding": [1, 2]})"), x1), {1, 5, 2},
              {0, 0, -3, -2.5f, -2, -1.5f, 0, 0, 0, 0});
  // channels_first 1D pads the last axis.
  check_close(run(*layers::from_config("ZeroPadding1D", R"({"padding": 1, "data_format": "channels_first"})"), x1),
              {1, 2, 4}, {0, -3, -2.5f, 0, 0, -2, -1.5f, 0});

  const Tensor x2 = iota({2, 2, 3, 2});
  auto zp2 = layers::from_config("ZeroPadding2D", R"({"padding": [[1, 0], [0, 2]]})");
  const Tensor y2 = run(*zp2, x2);
  std::vector<float> want;
  for (int n = 0; n < 2; ++n)
    for (int h = 0; h < 3; ++h)
      for (int w = 0; w < 5; ++w)
        for (int c = 0; c < 2; ++c) want.push_back(at4(x2, n, h - 1, w, c));
  check_close(y2, {2, 3, 5, 2}, want);
  BOOST_TEST((zp2->compute_output_shape({{-1, -1, 3, 2}})[0] == Shape{-1, -1, 5, 2}));
  // An int padding is saved in Keras's normalized nested form.
  auto zp_int = layers::from_config("ZeroPadding2D", R"({"padding": 2})");
  const auto doc = zp_int->to_object_dict();
  const JsonValue& p = (*doc)["config"]["padding"];
  BOOST_TEST_REQUIRE(p.IsArray());
  BOOST_TEST(p[1][0].GetInt() == 2);
  BOOST_CHECK_THROW(layers::from_config("ZeroPadding2D", R"({"padding": [1, -1]})"), ConfigError);
  BOOST_CHECK_THROW(layers::from_config("ZeroPadding2D", R"({"padding": [1, 1, 1]})"), ConfigError);
  BOOST_CHECK_THROW(run(*zp2, x1), ShapeError);

  const Tensor x3 = iota({1, 1, 2, 1, 2});  // channels_first: (n, c, d, h, w)
  auto zp3 = layers::from_config("ZeroPadding3D", R"({"padding": [0, [1, 0], 0], "data_format": "channels_first"})");
  check_close(run(*zp3, x3), {1, 1, 2, 2, 2}, {0, 0, -3, -2.5f, 0, 0, -2, -1.5f});
}

BOOST_AUTO_TEST_CASE(cropping_1d_2d_3d) {
  const Tensor x1 = iota({1, 4, 1});
  check_close(run(*layers::from_config("Cropping1D", R"({"cropping": [1, 2]})"), x1), {1, 1, 1}, {-2.5f});
  BOOST_CHECK_THROW(run(*layers::from_config("Cropping1D", R"({"cropping": [2, 2]})"), x1), ShapeError);

  const Tensor x2 = iota({1, 2, 3, 4});  // channels_first (n, c, h, w)
  auto c2 = layers::from_config("Cropping2D", R"({"cropping": [[1, 1], [0, 2]], "data_format": "channels_first"})");
  std::vector<float> want;
  for (int c = 0; c < 2; ++c)
    for (int w = 0; w < 2; ++w) want.push_back(x2.f32()[(c * 3 + 1) * 4 + w]);
  check_close(run(*c2, x2), {1, 2, 1, 2}, want);
  BOOST_TEST((c2->compute_output_shape({{-1, 2, -1, 4}})[0] == Shape{-1, 2, -1, 2}));
  auto c2l = layers::from_config("Cropping2D", R"({"cropping": 1})");
  BOOST_CHECK_THROW(c2l->build({{-1, 2, 5, 3}}), ShapeError);

  const Tensor x3 = iota({1, 3, 3, 3, 1});
  check_close(run(*layers::from_config("Cropping3D", "{}"), x3), {1, 1, 1, 1, 1}, {x3.f32()[13]});
}

BOOST_AUTO_TEST_CASE(up_sampling_nearest_1d_2d_3d) {
  const Tensor x1 = iota({1, 2, 2});
  check_close(run(*layers::from_config("UpSampling1D", R"({"size": 3})"), x1), {1, 6, 2},
              {-3, -2.5f, -3, -2.5f, -3, -2.5f, -2, -1.5f, -2, -1.5f, -2, -1.5f});
  BOOST_CHECK_THROW(layers::from_config("UpSampling1D", R"({"size": 0})"), ConfigError);

  const Tensor x2 = iota({1, 2, 2, 1});
  auto up2 = layers::from_config("UpSampling2D", R"({"size": [1, 2]})");
  check_close(run(*up2, x2), {1, 2, 4, 1}, {-3, -3, -2.5f, -2.5f, -2, -2, -1.5f, -1.5f});
  BOOST_TEST((up2->compute_output_shape({{-1, 5, -1, 3}})[0] == Shape{-1, 5, -1, 3}));
  // channels_first repeats axes 2 and 3.
  auto up2cf = layers::from_config("UpSampling2D", R"({"size": 2, "data_format": "channels_first"})");
  const Tensor xc = iota({1, 1, 1, 2});
  check_close(run(*up2cf, xc), {1, 1, 2, 4}, {-3, -3, -2.5f, -2.5f, -3, -3, -2.5f, -2.5f});
  const auto doc = up2cf->to_object_dict();
  BOOST_TEST((*doc)["config"]["size"].IsArray());

  const Tensor x3 = iota({1, 1, 1, 2, 1});
  check_close(run(*layers::from_config("UpSampling3D", R"({"size": [2, 1, 2]})"), x3), {1, 2, 1, 4, 1},
              {-3, -3, -2.5f, -2.5f, -3, -3, -2.5f, -2.5f});
}

BOOST_AUTO_TEST_CASE(up_sampling_2d_bilinear_half_pixel_centres) {
  const Tensor x = iota({2, 3, 4, 2});
  const std::int64_t fh = 2, fw = 3;
  auto up = layers::from_config("UpSampling2D", R"({"size": [2, 3], "interpolation": "Bilinear"})");
  std::vector<float> want;
  auto coord = [](std::int64_t o, std::int64_t f, std::int64_t m, std::int64_t& i0, std::int64_t& i1, float& t) {
    float s = (static_cast<float>(o) + 0.5f) / static_cast<float>(f) - 0.5f;
    s = std::min(std::max(s, 0.0f), static_cast<float>(m - 1));
    i0 = static_cast<std::int64_t>(std::floor(s));
    i1 = std::min(i0 + 1, m - 1);
    t = s - static_cast<float>(i0);
  };
  for (int n = 0; n < 2; ++n)
    for (std::int64_t oh = 0; oh < 3 * fh; ++oh)
      for (std::int64_t ow = 0; ow < 4 * fw; ++ow)
        for (int c = 0; c < 2; ++c) {
          std::int64_t h0, h1, w0, w1;
          float th, tw;
          coord(oh, fh, 3, h0, h1, th);
          coord(ow, fw, 4, w0, w1, tw);
          const float top = at4(x, n, h0, w0, c) * (1 - tw) + at4(x, n, h0, w1, c) * tw;
          const float bot = at4(x, n, h1, w0, c) * (1 - tw) + at4(x, n, h1, w1, c) * tw;
          want.push_back(top * (1 - th) + bot * th);
        }
  check_close(run(*up, x), {2, 6, 12, 2}, want);
  BOOST_TEST(cfg::get_string((*up->to_object_dict())["config"], "interpolation", "t") == "bilinear");
}

BOOST_AUTO_TEST_CASE(up_sampling_2d_bicubic_channels_first_and_unknown_methods) {
  // One channel, 1 x 4 image, widened 2x: each output is the Keys-cubic weighted mean of the
  // inputs around its half-pixel-centred sample, weights renormalized over the image.
  const Tensor x = Tensor::from_floats({1, 1, 1, 4}, std::vector<float>{1, 4, 2, 8});
  auto keys = [](double d) {
    d = std::fabs(d);
    if (d >= 2) return 0.0;
    if (d >= 1) return ((-0.5 * d + 2.5) * d - 4) * d + 2;
    return (1.5 * d - 2.5) * d * d + 1;
  };
  std::vector<float> want;
  for (int o = 0; o < 8; ++o) {
    const double s = (o + 0.5) / 2 - 0.5;
    double num = 0, den = 0;
    for (int i = 0; i < 4; ++i) {
      num += keys(s - i) * x.f32()[i];
      den += keys(s - i);
    }
    want.push_back(static_cast<float>(num / den));
  }
  auto up = layers::from_config("UpSampling2D", R"({"size": [1, 2], "interpolation": "bicubic", "data_format": "channels_first"})");
  check_close(run(*up, x), {1, 1, 1, 8}, want);
  BOOST_CHECK_THROW(layers::from_config("UpSampling2D", R"({"interpolation": "area"})"), UnsupportedError);
}

BOOST_AUTO_TEST_SUITE_END()
