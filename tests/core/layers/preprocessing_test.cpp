// Image preprocessing layers: Resizing and CenterCrop against hand-worked values and a naive
// two-dimensional resampler written here from the formulas of keras.ops.image.resize (NumPy
// backend: half-pixel centres, kernel weights normalized per output pixel, kernels widened by the
// scale with antialias); AutoContrast against hand-worked values; the augmentation layers
// (identity at inference, as Keras's training=False path) for values, dtypes, shapes and config.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/json.hpp"
#include "kserde/layer.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "kserde/saving.hpp"

using namespace kserde;

namespace {

std::vector<float> prand(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 7u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>((s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
  }
  return v;
}

std::vector<float> iota(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  return v;
}

std::vector<float> values(const Tensor& t) {
  const Tensor f = t.to(DType::Float32);
  return {f.values<float>().begin(), f.values<float>().end()};
}

void check_close(const Tensor& got, const Shape& shape, const std::vector<float>& want,
                 float tol = 1e-5f) {
  BOOST_TEST_REQUIRE(got.shape() == shape,
                     "shape " << shape_to_string(got.shape()) << " vs " << shape_to_string(shape));
  const auto g = values(got);
  BOOST_TEST_REQUIRE(g.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    BOOST_TEST(std::fabs(g[i] - want[i]) <= tol * (1.0f + std::fabs(want[i])),
               "index " << i << ": " << g[i] << " vs " << want[i]);
  }
}

Tensor run(Layer& l, const Tensor& x) {
  CallContext ctx;
  return l.call({x}, ctx).at(0);
}

Tensor run(const std::string& cls, const std::string& cfg, const Tensor& x) {
  auto l = layers::from_config(cls, cfg);
  return run(*l, x);
}

// ---- naive reference resampler (NHWC, float64), written from Keras's formulas ----
double ref_kernel(const std::string& m, double x) {
  x = std::fabs(x);
  if (m == "bilinear") return x < 1.0 ? 1.0 - x : 0.0;
  if (m == "bicubic") {
    if (x < 1.0) return 1.5 * x * x * x - 2.5 * x * x + 1.0;
    if (x < 2.0) return -0.5 * x * x * x + 2.5 * x * x - 4.0 * x + 2.0;
    return 0.0;
  }
  const double r = m == "lanczos3" ? 3.0 : 5.0;
  if (x > r) return 0.0;
  if (x <= 1e-3) return 1.0;
  const double pi = std::numbers::pi;
  return r * std::sin(pi * x) * std::sin(pi * x / r) / (pi * pi * x * x);
}

// Weights of the input samples for output sample j of an m -> n axis (identity if m == n).
std::vector<double> ref_weights(std::int64_t m, std::int64_t n, std::int64_t j,
                                const std::string& method, bool antialias) {
  std::vector<double> w(static_cast<std::size_t>(m), 0.0);
  if (m == n) {
    w[static_cast<std::size_t>(j)] = 1.0;
    return w;
  }
  const double stretch = static_cast<double>(m) / static_cast<double>(n);  // input per output
  const double centre = (static_cast<double>(j) + 0.5) * stretch - 0.5;
  if (centre < -0.5 || centre > static_cast<double>(m) - 0.5) return w;
  const double widen = antialias && stretch > 1.0 ? stretch : 1.0;
  double sum = 0.0;
  for (std::int64_t i = 0; i < m; ++i) {
    w[static_cast<std::size_t>(i)] = ref_kernel(method, (centre - static_cast<double>(i)) / widen);
    sum += w[static_cast<std::size_t>(i)];
  }
  if (std::fabs(sum) <= 1000.0 * 1.1920928955078125e-07) sum = INFINITY;
  for (double& v : w) v /= sum;
  return w;
}

std::vector<float> ref_resize(const std::vector<float>& x, std::int64_t b, std::int64_t h,
                              std::int64_t w, std::int64_t c, std::int64_t oh, std::int64_t ow,
                              const std::string& method, bool antialias) {
  std::vector<float> out;
  for (std::int64_t ib = 0; ib < b; ++ib) {
    for (std::int64_t y = 0; y < oh; ++y) {
      const auto wy = ref_weights(h, oh, y, method, antialias);
      for (std::int64_t xo = 0; xo < ow; ++xo) {
        const auto wx = ref_weights(w, ow, xo, method, antialias);
        for (std::int64_t ic = 0; ic < c; ++ic) {
          double acc = 0.0;
          for (std::int64_t i = 0; i < h; ++i) {
            for (std::int64_t j = 0; j < w; ++j) {
              acc += wy[static_cast<std::size_t>(i)] * wx[static_cast<std::size_t>(j)] *
                     x[static_cast<std::size_t>(((ib * h + i) * w + j) * c + ic)];
            }
          }
          out.push_back(static_cast<float>(acc));
        }
      }
    }
  }
  return out;
}

}  // namespace

// A Sequential as Keras 3.16 saves keras.Sequential([Input((6, 6, 3)), RandomFlip("horizontal"),
// RandomRotation(0.1), CenterCrop(4, 4), Rescaling(1 / 255)]) (configs from the layers'
// get_config).
const char* kAugmentedModel =
    R"({"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "layers": [)"
    R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 6, 6, 3], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_layer", "optional": false}, "registered_name": null}, )"
    R"({"module": "keras.layers", "class_name": "RandomFlip", "config": {"name": "random_flip", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "data_format": "channels_last", "seed": null, "mode": "horizontal"}, "registered_name": null, "build_config": {"input_shape": [null, 6, 6, 3]}}, )"
    R"({"module": "keras.layers", "class_name": "RandomRotation", "config": {"name": "random_rotation", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "data_format": "channels_last", "factor": [-0.1, 0.1], "fill_mode": "reflect", "fill_value": 0.0, "interpolation": "bilinear", "seed": null}, "registered_name": null, "build_config": {"input_shape": [null, 6, 6, 3]}}, )"
    R"({"module": "keras.layers", "class_name": "CenterCrop", "config": {"name": "center_crop", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "data_format": "channels_last", "height": 4, "width": 4}, "registered_name": null, "build_config": {"input_shape": [null, 6, 6, 3]}}, )"
    R"({"module": "keras.layers", "class_name": "Rescaling", "config": {"name": "rescaling", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "scale": 0.00392156862745098, "offset": 0.0}, "registered_name": null, "build_config": {"input_shape": [null, 4, 4, 3]}})"
    R"(], "build_input_shape": [null, 6, 6, 3]}, "registered_name": null, "build_config": {"input_shape": [null, 6, 6, 3]}, "compile_config": {}})";

BOOST_AUTO_TEST_SUITE(preprocessing_layers)

BOOST_AUTO_TEST_CASE(an_augmented_model_predicts_the_crop_and_saves_its_config_back) {
  auto model = model_from_json(kAugmentedModel);
  const Tensor x = Tensor::from_floats({2, 6, 6, 3}, iota(216));
  const Tensor y = model->predict(x);
  // Rows and columns 1..4 of each image, divided by 255.
  std::vector<float> want;
  for (int b = 0; b < 2; ++b)
    for (int i = 1; i < 5; ++i)
      for (int j = 1; j < 5; ++j)
        for (int c = 0; c < 3; ++c)
          want.push_back(static_cast<float>(((b * 6 + i) * 6 + j) * 3 + c) / 255.0f);
  check_close(y, {2, 4, 4, 3}, want);
  auto original = parse_json(kAugmentedModel, "original");
  auto saved = parse_json(to_json(*model), "saved");
  const JsonValue& a = (*original)["config"]["layers"];
  const JsonValue& b = (*saved)["config"]["layers"];
  BOOST_TEST_REQUIRE(a.Size() == b.Size());
  for (rapidjson::SizeType i = 1; i < a.Size(); ++i) {
    BOOST_TEST((a[i] == b[i]), "layer " << i << " saves back differently");
  }
}

BOOST_AUTO_TEST_CASE(resizing_bilinear_upscale_hand_worked) {
  // Half-pixel centres: output 2x2 -> 4x4 samples at -0.25, 0.25, 0.75, 1.25 per axis.
  const Tensor x = Tensor::from_floats({1, 2, 2, 1}, std::vector<float>{1, 2, 3, 4});
  check_close(
      run("Resizing", R"({"height": 4, "width": 4})", x), {1, 4, 4, 1},
      {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4});
}

BOOST_AUTO_TEST_CASE(resizing_nearest_picks_floor_of_half_pixel_centres) {
  // 4 -> 2 takes indices floor(1) = 1 and floor(3) = 3; 2 -> 3 takes 0, 1, 1.
  const Tensor x = Tensor::from_floats({1, 2, 4, 1}, iota(8));
  check_close(run("Resizing", R"({"height": 3, "width": 2, "interpolation": "nearest"})", x),
              {1, 3, 2, 1}, {1, 3, 5, 7, 5, 7});
}

BOOST_AUTO_TEST_CASE(resizing_antialias_widens_the_kernel_when_downscaling) {
  // 4 -> 2 with antialias: the triangle is stretched by 2; weights (3, 3, 1, 0)/7 and
  // (0, 1, 3, 3)/7. The height (1) does not change.
  const Tensor x = Tensor::from_floats({1, 1, 4, 1}, std::vector<float>{0, 1, 2, 3});
  check_close(run("Resizing", R"({"height": 1, "width": 2, "antialias": true})", x), {1, 1, 2, 1},
              {5.0f / 7.0f, 16.0f / 7.0f});
  // Without antialias: samples at 0.5 and 2.5, plain averages of neighbours.
  check_close(run("Resizing", R"({"height": 1, "width": 2})", x), {1, 1, 2, 1}, {0.5f, 2.5f});
}

BOOST_AUTO_TEST_CASE(resizing_matches_a_naive_two_dimensional_resampler) {
  const std::vector<float> data = prand(2 * 5 * 7 * 3, 11);
  const Tensor x = Tensor::from_floats({2, 5, 7, 3}, data);
  for (const std::string method : {"bilinear", "bicubic", "lanczos3", "lanczos5"}) {
    for (const bool aa : {false, true}) {
      for (const auto& [oh, ow] : std::vector<std::pair<int, int>>{{9, 4}, {3, 11}, {5, 2}}) {
        const std::string cfg = R"({"height": )" + std::to_string(oh) + R"(, "width": )" +
                                std::to_string(ow) + R"(, "interpolation": ")" + method +
                                R"(", "antialias": )" + (aa ? "true" : "false") + "}";
        BOOST_TEST_CONTEXT(cfg) {
          check_close(run("Resizing", cfg, x), {2, oh, ow, 3},
                      ref_resize(data, 2, 5, 7, 3, oh, ow, method, aa), 2e-5f);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(resizing_by_integer_factors_matches_up_sampling_2d) {
  // UpSampling2D's interpolating modes are the same keras.ops.image.resize, computed by its own
  // code.
  const Tensor x = Tensor::from_floats({2, 3, 4, 2}, prand(48, 9));
  for (const std::string method : {"nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"}) {
    BOOST_TEST_CONTEXT(method) {
      const Tensor up =
          run("UpSampling2D", R"({"size": [2, 3], "interpolation": ")" + method + R"("})", x);
      check_close(
          run("Resizing", R"({"height": 6, "width": 12, "interpolation": ")" + method + R"("})", x),
          {2, 6, 12, 2}, values(up), 1e-6f);
    }
  }
}

BOOST_AUTO_TEST_CASE(resizing_channels_first_matches_channels_last) {
  const std::vector<float> data = prand(1 * 3 * 4 * 6, 5);  // NCHW
  std::vector<float> nhwc(data.size());
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 6; ++j) nhwc[(i * 6 + j) * 3 + c] = data[(c * 4 + i) * 6 + j];
  const auto want = ref_resize(nhwc, 1, 4, 6, 3, 3, 5, "bilinear", false);
  std::vector<float> want_nchw(want.size());
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j) want_nchw[(c * 3 + i) * 5 + j] = want[(i * 5 + j) * 3 + c];
  check_close(run("Resizing", R"({"height": 3, "width": 5, "data_format": "channels_first"})",
                  Tensor::from_floats({1, 3, 4, 6}, data)),
              {1, 3, 3, 5}, want_nchw);
}

BOOST_AUTO_TEST_CASE(resizing_crop_and_pad_to_aspect_ratio) {
  // 4x6 -> 2x2 with crop: the centred 4x4 window (columns 1..4), then 2x downscale = means of
  // 2x2 blocks.
  const Tensor x = Tensor::from_floats({1, 4, 6, 1}, iota(24));
  check_close(run("Resizing", R"({"height": 2, "width": 2, "crop_to_aspect_ratio": true})", x),
              {1, 2, 2, 1}, {4.5f, 6.5f, 16.5f, 18.5f});
  // 2x4 -> 4x4 with pad: one row of fill_value above and below, then no resampling.
  const Tensor y = Tensor::from_floats({1, 2, 4, 1}, iota(8));
  check_close(run("Resizing",
                  R"({"height": 4, "width": 4, "pad_to_aspect_ratio": true, "fill_value": 9})", y),
              {1, 4, 4, 1}, {9, 9, 9, 9, 0, 1, 2, 3, 4, 5, 6, 7, 9, 9, 9, 9});
  BOOST_CHECK_THROW(
      layers::from_config(
          "Resizing",
          R"({"height": 2, "width": 2, "crop_to_aspect_ratio": true, "pad_to_aspect_ratio": true})"),
      ConfigError);
  BOOST_CHECK_THROW(
      layers::from_config("Resizing", R"({"height": 2, "width": 2, "interpolation": "area"})"),
      UnsupportedError);
}

BOOST_AUTO_TEST_CASE(resizing_integer_images_round_half_to_even_and_keep_their_dtype) {
  // [0, 255] -> 4 wide: 0, 63.75, 191.25, 255 -> 0, 64, 191, 255 (uint8).
  const Tensor x = Tensor::from_floats({1, 1, 2, 1}, std::vector<float>{0, 255}).to(DType::UInt8);
  const Tensor y = run("Resizing", R"({"height": 1, "width": 4})", x);
  BOOST_TEST(y.dtype() == DType::UInt8);
  check_close(y, {1, 1, 4, 1}, {0, 64, 191, 255});
  // 2.5 rounds to 2 (half to even): [2, 3] -> 4 wide = 2, 2.25, 2.75, 3 -> 2, 2, 3, 3.
  const Tensor z = Tensor::from_floats({1, 1, 2, 1}, std::vector<float>{2, 3}).to(DType::Int32);
  check_close(run("Resizing", R"({"height": 1, "width": 4})", z), {1, 1, 4, 1}, {2, 2, 3, 3});
}

BOOST_AUTO_TEST_CASE(resizing_config_defaults_and_output_shape) {
  auto l = layers::from_config("Resizing", R"({"height": 5, "width": 7})");
  const JsonValue& c = l->config();
  BOOST_TEST(cfg::get_string(c, "interpolation", "t") == "bilinear");
  BOOST_TEST(cfg::get_bool(c, "crop_to_aspect_ratio", "t", true) == false);
  BOOST_TEST(cfg::get_bool(c, "pad_to_aspect_ratio", "t", true) == false);
  BOOST_TEST(cfg::get_string(c, "fill_mode", "t") == "constant");
  BOOST_TEST(cfg::get_bool(c, "antialias", "t", true) == false);
  BOOST_TEST(cfg::get_string(c, "data_format", "t") == "channels_last");
  BOOST_TEST(l->compute_output_shape({{-1, 9, 9, 3}}).at(0) == (Shape{-1, 5, 7, 3}));
  BOOST_CHECK_THROW(run(*l, Tensor::from_floats({2, 3}, prand(6, 1))), ShapeError);
}

BOOST_AUTO_TEST_CASE(center_crop_takes_the_centred_window) {
  // 4x5 -> 2x3: rows 1..2, columns 1..3 (floor of half the difference).
  const Tensor x = Tensor::from_floats({1, 4, 5, 1}, iota(20));
  const Tensor y = run("CenterCrop", R"({"height": 2, "width": 3})", x);
  BOOST_TEST(y.dtype() == DType::Float32);
  check_close(y, {1, 2, 3, 1}, {6, 7, 8, 11, 12, 13});
  // channels_first: the same window per channel.
  const Tensor xc = Tensor::from_floats({1, 1, 4, 5}, iota(20));
  check_close(
      run("CenterCrop", R"({"height": 2, "width": 3, "data_format": "channels_first"})", xc),
      {1, 1, 2, 3}, {6, 7, 8, 11, 12, 13});
  // Integer images come out float32.
  const Tensor xi = x.to(DType::UInt8);
  BOOST_TEST(run("CenterCrop", R"({"height": 2, "width": 3})", xi).dtype() == DType::Float32);
}

BOOST_AUTO_TEST_CASE(center_crop_of_a_smaller_image_crops_to_aspect_ratio_and_resizes) {
  // 2x2 -> 4x4: nothing to crop, bilinear upscale (as resizing_bilinear_upscale_hand_worked).
  const Tensor x = Tensor::from_floats({1, 2, 2, 1}, std::vector<float>{1, 2, 3, 4});
  check_close(
      run("CenterCrop", R"({"height": 4, "width": 4})", x), {1, 4, 4, 1},
      {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4});
  // 6x2 -> 4x4: the width is too small; the square window is rows 2..3, then upscaled.
  const Tensor y =
      Tensor::from_floats({1, 6, 2, 1}, std::vector<float>{0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0});
  check_close(
      run("CenterCrop", R"({"height": 4, "width": 4})", y), {1, 4, 4, 1},
      {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4});
}

BOOST_AUTO_TEST_CASE(auto_contrast_stretches_each_channel) {
  // Two channels: [10, 20, 30] -> [0, 127.5, 255]; a constant channel keeps its values.
  const Tensor x = Tensor::from_floats({1, 1, 3, 2}, std::vector<float>{10, 5, 20, 5, 30, 5});
  check_close(run("AutoContrast", "{}", x), {1, 1, 3, 2}, {0, 5, 127.5f, 5, 255, 5});
  // value_range [0, 1]: 0.2, 0.4, 0.6 -> 0, 0.5, 1.
  const Tensor y = Tensor::from_floats({1, 3, 1, 1}, std::vector<float>{0.2f, 0.4f, 0.6f});
  check_close(run("AutoContrast", R"({"value_range": [0, 1]})", y), {1, 3, 1, 1}, {0, 0.5f, 1});
  // Per image of the batch.
  const Tensor z = Tensor::from_floats({2, 1, 2, 1}, std::vector<float>{0, 51, 100, 200});
  check_close(run("AutoContrast", "{}", z), {2, 1, 2, 1}, {0, 255, 0, 255});
}

BOOST_AUTO_TEST_CASE(augmentation_layers_are_the_identity_at_inference) {
  const Tensor x = Tensor::from_floats({2, 3, 4, 3}, prand(72, 3));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"RandomFlip", R"({"mode": "horizontal"})"},
      {"RandomRotation", R"({"factor": 0.2, "fill_mode": "constant"})"},
      {"RandomZoom", R"({"height_factor": [-0.2, 0.3]})"},
      {"RandomTranslation", R"({"height_factor": 0.1, "width_factor": 0.1})"},
      {"RandomContrast", R"({"factor": 0.5})"},
      {"RandomBrightness", R"({"factor": 0.2})"},
      {"RandomGrayscale", "{}"},
      {"RandomHue", R"({"factor": 0.2})"},
      {"RandomSaturation", R"({"factor": 0.2})"},
      {"RandomSharpness", R"({"factor": 0.2})"},
      {"RandomShear", R"({"x_factor": 0.2})"},
      {"RandomPosterization", R"({"factor": [1, 8]})"},
      {"RandomInvert", "{}"},
      {"RandomColorJitter", R"({"brightness_factor": 0.2})"},
      {"RandomColorDegeneration", R"({"factor": 0.5})"},
      {"RandomElasticTransform", "{}"},
      {"RandomErasing", "{}"},
      {"RandomGaussianBlur", "{}"},
      {"RandomPerspective", "{}"},
      {"Solarization", R"({"addition_factor": 0.1})"},
      {"Equalization", "{}"},
      {"MixUp", "{}"},
      {"CutMix", "{}"},
      {"AugMix", "{}"},
      {"RandAugment", "{}"},
      {"MaxNumBoundingBoxes", R"({"max_number": 3})"},
  };
  for (const auto& [cls, cfg] : cases) {
    BOOST_TEST_CONTEXT(cls) {
      auto l = layers::from_config(cls, cfg);
      check_close(run(*l, x), x.shape(), values(x), 0.0f);
      BOOST_TEST(l->compute_output_shape({{-1, 3, 4, 3}}).at(0) == (Shape{-1, 3, 4, 3}));
      BOOST_TEST(!l->supports_masking());
      BOOST_CHECK_THROW(run(*l, Tensor::from_floats({2, 3}, prand(6, 1))), ShapeError);
    }
  }
}

BOOST_AUTO_TEST_CASE(augmentation_output_dtype_follows_keras) {
  const Tensor x =
      Tensor::from_floats({1, 2, 2, 1}, std::vector<float>{1, 2, 3, 4}).to(DType::UInt8);
  // Cast to the compute dtype by transform_images even at inference.
  for (const char* cls : {"RandomFlip", "RandomZoom", "RandomShear", "RandomErasing"}) {
    const std::string cfg = std::string(cls) == "RandomZoom" ? R"({"height_factor": 0.1})" : "{}";
    BOOST_TEST_CONTEXT(cls) {
      const Tensor y = run(cls, cfg, x);
      BOOST_TEST(y.dtype() == DType::Float32);
      check_close(y, {1, 2, 2, 1}, {1, 2, 3, 4}, 0.0f);
    }
  }
  // Returned as they came.
  for (const char* cls : {"RandomContrast", "RandomBrightness", "RandomHue"}) {
    BOOST_TEST_CONTEXT(cls) {
      BOOST_TEST(run(cls, R"({"factor": 0.1})", x).dtype() == DType::UInt8);
    }
  }
}

BOOST_AUTO_TEST_CASE(random_crop_returns_the_input_at_inference_like_keras_3_16) {
  // transform_images crops only when training (keras-team/keras issue 21868); the declared
  // output shape is still (height, width).
  auto l = layers::from_config("RandomCrop", R"({"height": 2, "width": 2, "seed": 1337})");
  const Tensor x = Tensor::from_floats({1, 4, 5, 1}, iota(20));
  check_close(run(*l, x), {1, 4, 5, 1}, iota(20), 0.0f);
  BOOST_TEST(l->compute_output_shape({{-1, 4, 5, 1}}).at(0) == (Shape{-1, 2, 2, 1}));
  BOOST_TEST(run(*l, x.to(DType::UInt8)).dtype() == DType::UInt8);
}

BOOST_AUTO_TEST_CASE(augmentation_config_defaults_and_validation) {
  auto flip = layers::from_config("RandomFlip", "{}");
  BOOST_TEST(cfg::get_string(flip->config(), "mode", "t") == "horizontal_and_vertical");
  BOOST_TEST(cfg::find(flip->config(), "seed")->IsNull());
  BOOST_TEST(cfg::get_string(flip->config(), "data_format", "t") == "channels_last");
  auto rot = layers::from_config("RandomRotation", R"({"factor": [-0.1, 0.1]})");
  BOOST_TEST(cfg::get_string(rot->config(), "fill_mode", "t") == "reflect");
  BOOST_TEST(cfg::get_string(rot->config(), "interpolation", "t") == "bilinear");
  BOOST_TEST(cfg::get_float(rot->config(), "fill_value", "t") == 0.0);
  auto zoom = layers::from_config("RandomZoom", R"({"height_factor": 0.1})");
  BOOST_TEST(cfg::find(zoom->config(), "width_factor")->IsNull());
  BOOST_CHECK_THROW(layers::from_config("RandomRotation", "{}"), ConfigError);
  BOOST_CHECK_THROW(layers::from_config("RandomContrast", "{}"), ConfigError);
  BOOST_CHECK_THROW(layers::from_config("RandomTranslation", R"({"height_factor": 0.1})"),
                    ConfigError);
  BOOST_CHECK_THROW(layers::from_config("RandomCrop", R"({"height": 2})"), ConfigError);
  BOOST_CHECK_THROW(
      layers::from_config("RandomRotation", R"({"factor": 0.1, "fill_mode": "mirror"})"),
      ConfigError);
  BOOST_CHECK_THROW(layers::from_config("RandomFlip", R"({"mode": "diagonal"})"), ConfigError);
}

BOOST_AUTO_TEST_SUITE_END()
