// keras.layers.CenterCrop: the centred (height, width) window of each image, starting at
// ((H - height) // 2, (W - width) // 2). When the image is smaller than the target in either
// dimension, Keras instead crops the largest centred window of the target aspect ratio and
// resizes it to (height, width) bilinearly (image_utils.smart_resize), and so does kserde.
// Runs at inference and in training. Output float32 (Keras casts to the compute dtype). Rank 3
// (one image) or 4 (a batch). No variables; no mask.
#include "layers/common.hpp"
#include "layers/preprocessing/image_util.hpp"

namespace kserde {

namespace {

class CenterCrop final : public Layer {
 public:
  CenterCrop(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("data_format", "\"channels_last\"");
    height_ = cfg::get_int(config(), "height", describe());
    width_ = cfg::get_int(config(), "width", describe());
    if (height_ <= 0 || width_ <= 0) cfg::fail(describe(), "height and width must be positive");
    channels_first_ = detail::parse_data_format(
        cfg::get_string(config(), "data_format", describe(), "channels_last"), describe());
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    ctx.output_masks.clear();
    detail::ImageLayout l = detail::image_layout(inputs[0].shape(), channels_first_, describe());
    const Tensor x = ops::as_float32(inputs[0]);
    const std::int64_t dh = l.height - height_;
    const std::int64_t dw = l.width - width_;
    if (dh >= 0 && dw >= 0) {
      // Python's floor division of a non-negative difference.
      return {detail::image_window(x, l, dh / 2, dw / 2, height_, width_, 0.0f)};
    }
    const detail::CropBox b = detail::aspect_ratio_crop(l.height, l.width, height_, width_);
    const Tensor c = detail::image_window(x, l, b.top, b.left, b.height, b.width, 0.0f);
    l.height = b.height;
    l.width = b.width;
    return {detail::image_resize(c, l, height_, width_, "bilinear", false)};
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
  bool channels_first_ = false;
};

}  // namespace

KSERDE_REGISTER_LAYER(CenterCrop);

}  // namespace kserde
