// keras.layers.Resizing: resizes images to (height, width) with keras.ops.image.resize as the
// NumPy/JAX backends compute it (half-pixel centres; "nearest" picks floor((j + 0.5) * m / n);
// "bilinear", "bicubic", "lanczos3", "lanczos5" use normalized separable kernels, widened by the
// scale when downscaling with `antialias`). `crop_to_aspect_ratio` first takes the largest centred
// window of the target aspect ratio; `pad_to_aspect_ratio` first pads the short side on both ends
// with `fill_value` (only fill_mode "constant", as Keras). Runs at inference and in training.
// Floating inputs come out float32; integer inputs are resized in float32, rounded half to even
// and clipped to the (cropped) input's minimum and maximum, keeping their dtype (NumPy backend).
// Rank 3 (one image) or 4 (a batch). No variables; no mask.
#include <algorithm>
#include <cctype>

#include "layers/common.hpp"
#include "layers/preprocessing/image_util.hpp"

namespace kserde {

namespace {

class Resizing final : public Layer {
 public:
  Resizing(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("interpolation", "\"bilinear\"");
    config_default("crop_to_aspect_ratio", "false");
    config_default("pad_to_aspect_ratio", "false");
    config_default("fill_mode", "\"constant\"");
    config_default("fill_value", "0.0");
    config_default("antialias", "false");
    config_default("data_format", "\"channels_last\"");
    height_ = cfg::get_int(config(), "height", describe());
    width_ = cfg::get_int(config(), "width", describe());
    if (height_ <= 0 || width_ <= 0) cfg::fail(describe(), "height and width must be positive");
    interpolation_ = cfg::get_string(config(), "interpolation", describe());
    if (interpolation_ != "nearest" && interpolation_ != "bilinear" &&
        interpolation_ != "bicubic" && interpolation_ != "lanczos3" &&
        interpolation_ != "lanczos5") {
      throw UnsupportedError(describe() + ": interpolation '" + interpolation_ +
                             "' is not supported (nearest, bilinear, bicubic, lanczos3, lanczos5)");
    }
    crop_ = cfg::get_bool(config(), "crop_to_aspect_ratio", describe(), false);
    pad_ = cfg::get_bool(config(), "pad_to_aspect_ratio", describe(), false);
    if (crop_ && pad_) {
      cfg::fail(describe(), "only one of pad_to_aspect_ratio and crop_to_aspect_ratio can be true");
    }
    const std::string fill_mode = cfg::get_string(config(), "fill_mode", describe(), "constant");
    if (fill_mode != "constant") {
      cfg::fail(describe(), "fill_mode must be 'constant', got '" + fill_mode + "'");
    }
    fill_value_ = static_cast<float>(cfg::get_float(config(), "fill_value", describe(), 0.0));
    antialias_ = cfg::get_bool(config(), "antialias", describe(), false);
    channels_first_ = detail::parse_data_format(
        cfg::get_string(config(), "data_format", describe(), "channels_last"), describe());
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    ctx.output_masks.clear();
    const Tensor& in = inputs[0];
    detail::ImageLayout l = detail::image_layout(in.shape(), channels_first_, describe());
    Tensor x = ops::as_float32(in);
    Tensor source = in;  // the image actually resized, for the integer clip
    bool saturate = false;
    if (crop_) {
      const detail::CropBox b = detail::aspect_ratio_crop(l.height, l.width, height_, width_);
      x = detail::image_window(x, l, b.top, b.left, b.height, b.width, 0.0f);
      if (!is_floating(in.dtype())) {
        source =
            detail::image_window(ops::as_float32(in), l, b.top, b.left, b.height, b.width, 0.0f)
                .to(in.dtype());
      }
      l.height = b.height;
      l.width = b.width;
    } else if (pad_) {
      auto ratio = [](std::int64_t a, std::int64_t b, std::int64_t c) {
        return static_cast<std::int64_t>(static_cast<double>(a * b) / static_cast<double>(c));
      };
      const std::int64_t ph = std::max(l.height, ratio(l.width, height_, width_));
      const std::int64_t pw = std::max(l.width, ratio(l.height, width_, height_));
      const auto top = static_cast<std::int64_t>(static_cast<double>(ph - l.height) / 2.0);
      const auto left = static_cast<std::int64_t>(static_cast<double>(pw - l.width) / 2.0);
      // Keras pads the height when it needs padding, else the width, by the same amount on
      // both sides.
      if (top > 0) {
        x = detail::image_window(x, l, -top, 0, l.height + 2 * top, l.width, fill_value_);
        l.height += 2 * top;
      } else if (left > 0) {
        x = detail::image_window(x, l, 0, -left, l.height, l.width + 2 * left, fill_value_);
        l.width += 2 * left;
      }
      // Keras's padding makes integer images float64, cast back with saturation.
      saturate = top > 0 || left > 0;
    }
    const Tensor y = detail::image_resize(x, l, height_, width_, interpolation_, antialias_);
    return {detail::restore_image_dtype(y, in.dtype(), saturate ? nullptr : &source)};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    return {detail::resized_image_shape(in.at(0), channels_first_, height_, width_, describe())};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    compute_output_shape(in);
  }

 private:
  std::int64_t height_ = 0;
  std::int64_t width_ = 0;
  std::string interpolation_;
  bool crop_ = false;
  bool pad_ = false;
  float fill_value_ = 0.0f;
  bool antialias_ = false;
  bool channels_first_ = false;
};

}  // namespace

KSERDE_REGISTER_LAYER(Resizing);

}  // namespace kserde
