// keras.layers.Rescaling: y = x * scale + offset. `scale` and `offset` are numbers or arrays
// (lists or serialized NumPy arrays), broadcast against the input NumPy-style (a per-channel list
// applies to the last axis). Keras reshapes array scales for channels_first only when the global
// image_data_format is channels_first, which a saved file does not record; kserde assumes
// channels_last. No variables. The input mask passes through.
#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class Rescaling final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  Rescaling(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("offset", "0.0");
    const JsonValue* s = cfg::find(config(), "scale");
    if (s == nullptr || s->IsNull()) cfg::fail(describe(), "config has no 'scale'");
    scale_ = detail::array_from_json(*s, "scale", describe());
    offset_ = detail::array_from_json(*cfg::find(config(), "offset"), "offset", describe());
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    const Tensor x = ops::as_float32(inputs[0]);
    Tensor y = detail::broadcast_binary(
        x, scale_, [](float a, float b) { return a * b; }, describe());
    y = detail::broadcast_binary(
        y, offset_, [](float a, float b) { return a + b; }, describe());
    return {y};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    Shape s = detail::broadcast_shapes(in.at(0), scale_.shape(), describe());
    return {detail::broadcast_shapes(s, offset_.shape(), describe())};
  }

 private:
  Tensor scale_;
  Tensor offset_;
};

}  // namespace

KSERDE_REGISTER_LAYER(Rescaling);

}  // namespace kserde
