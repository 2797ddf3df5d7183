// keras.layers.Masking: a timestep (all but the last axis) is kept when any of its features
// differs from mask_value; kept steps pass through, others become 0. Sets the output mask
// any(x != mask_value, axis=-1). No variables.
#include "layers/common.hpp"

namespace kserde {

namespace {

class Masking final : public Layer {
 public:
  Masking(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("mask_value", "0.0");
    const JsonValue* v = cfg::find(config(), "mask_value");
    // A NumPy scalar is serialized as an object dict whose config holds "value".
    if (v != nullptr && v->IsObject()) {
      const JsonValue* c = cfg::find(*v, "config");
      if (c == nullptr || !cfg::has_non_null(*c, "value")) {
        cfg::fail(describe(), "mask_value must be a number");
      }
      mask_value_ = static_cast<float>(cfg::get_float(*c, "value", describe()));
    } else {
      mask_value_ = static_cast<float>(cfg::get_float(config(), "mask_value", describe()));
    }
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    const Tensor x = ops::as_float32(inputs[0]);
    if (x.rank() < 1) throw ShapeError(describe() + ": input must have rank >= 1");
    const std::int64_t features = x.shape().back();
    Shape mask_shape(x.shape().begin(), x.shape().end() - 1);
    Tensor mask = Tensor::recycled_zeros(mask_shape, DType::Bool);
    Tensor y = Tensor::recycled_zeros(x.shape(), DType::Float32);
    auto m = mask.mutable_values<bool>();
    const float* px = x.f32();
    float* py = y.f32_mut();
    for (std::size_t s = 0; s < m.size(); ++s) {
      const std::int64_t off = static_cast<std::int64_t>(s) * features;
      bool keep = false;
      for (std::int64_t j = 0; j < features && !keep; ++j) keep = px[off + j] != mask_value_;
      m[s] = keep;
      for (std::int64_t j = 0; j < features; ++j) py[off + j] = keep ? px[off + j] : 0.0f;
    }
    ctx.output_masks.clear();
    ctx.output_masks.emplace_back(mask);
    return {y};
  }

 private:
  float mask_value_ = 0.0f;
};

}  // namespace

KSERDE_REGISTER_LAYER(Masking);

}  // namespace kserde
