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
    const JsonValue& o = *cfg::find(config(), "offset");
    scale_ = detail::array_from_json(*s, "scale", describe());
    offset_ = detail::array_from_json(o, "offset", describe());
    // Numbers (the usual 1/255) also kept in double for float64 policies.
    scale64_ = s->IsNumber() ? double_scalar(s->GetDouble()) : scale_.to(DType::Float64);
    offset64_ = o.IsNumber() ? double_scalar(o.GetDouble()) : offset_.to(DType::Float64);
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    const DType compute = compute_dtype();
    if (compute == DType::Float64) {  // integer images too: Keras casts them to float64
      const Tensor x =
          inputs[0].dtype() == DType::Float64 ? inputs[0] : inputs[0].to(DType::Float64);
      Tensor y = detail::broadcast_binary<double>(
          x, scale64_, [](double a, double b) { return a * b; }, describe());
      return {detail::broadcast_binary<double>(
          y, offset64_, [](double a, double b) { return a + b; }, describe())};
    }
    // float16/bfloat16: x, scale and offset cast to the half type, the product and the sum each
    // rounded, as NumPy computes them.
    const bool half = compute == DType::Float16 || compute == DType::BFloat16;
    const Tensor x = ops::rounded_to(inputs[0], compute);  // float32 unless half
    Tensor y = detail::broadcast_binary(
        x, half ? ops::rounded_to(scale_, compute) : scale_, [](float a, float b) { return a * b; },
        describe());
    if (half) ops::round_to(y, compute);
    y = detail::broadcast_binary(
        y, half ? ops::rounded_to(offset_, compute) : offset_,
        [](float a, float b) { return a + b; }, describe());
    if (half) ops::round_to(y, compute);
    return {y};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    Shape s = detail::broadcast_shapes(in.at(0), scale_.shape(), describe());
    return {detail::broadcast_shapes(s, offset_.shape(), describe())};
  }

 private:
  static Tensor double_scalar(double v) {
    Tensor t({}, DType::Float64);
    t.mutable_values<double>()[0] = v;
    return t;
  }

  Tensor scale_;
  Tensor offset_;
  Tensor scale64_;
  Tensor offset64_;
};

}  // namespace

KSERDE_REGISTER_LAYER(Rescaling);

}  // namespace kserde
