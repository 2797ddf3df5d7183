// A minimal kserde plugin: the Keras layer MyLayers>ScaledDense and the function
// MyLayers>scaled_tanh from tests/golden/custom_layers.py.
#include <rapidjson/document.h>

#include <kserde/deserializer.hpp>
#include <kserde/layer.hpp>
#include <kserde/ops.hpp>
#include <kserde/plugin.hpp>

#include <cmath>

namespace {

// ---- the layer: y = activation(scale * (x @ kernel) + bias)
class ScaledDense final : public kserde::Layer {
 public:
  ScaledDense(std::shared_ptr<kserde::JsonDocument> d, kserde::Deserializer& ctx)
      : Layer(std::move(d)) {
    config_default("scale", "1.0");
    config_default("activation", "\"linear\"");
    units_ = config()["units"].GetInt64();
    scale_ = static_cast<float>(config()["scale"].GetDouble());
    activation_ = ctx.activation(&config()["activation"], describe());
  }
  kserde::TensorList call(const kserde::TensorList& in, kserde::CallContext&) override {
    kserde::Tensor y = kserde::ops::matmul_last_axis(in.at(0), weight(0));
    kserde::ops::scale(y, scale_);
    kserde::ops::add_bias_last_axis(y, weight(1));
    activation_.apply(y);
    return {y};
  }
  std::vector<kserde::Shape> compute_output_shape(
      const std::vector<kserde::Shape>& in) const override {
    kserde::Shape s = in.at(0);
    s.back() = units_;
    return {s};
  }

 protected:
  void build_impl(const std::vector<kserde::Shape>& in) override {
    add_weight("kernel", {in.at(0).back(), units_});
    add_weight("bias", {units_});
  }

 private:
  std::int64_t units_ = 0;
  float scale_ = 1.0f;
  kserde::Activation activation_;
};

void scaled_tanh(std::span<float> data, std::int64_t) {
  for (float& x : data) x = 1.7159f * std::tanh(x * (2.0f / 3.0f));
}

// ---- the plugin: register what it provides, and declare it
void register_example(kserde::PluginRegistrar& r) {
  r.add_layer<ScaledDense>("MyLayers>ScaledDense");
  r.add_function("MyLayers>scaled_tanh", &scaled_tanh);
}

}  // namespace

KSERDE_PLUGIN(example_layers, KSERDE_THIS_PLUGIN_VERSION, register_example,
              KSERDE_LAYERS("MyLayers>ScaledDense"), KSERDE_FUNCTIONS("MyLayers>scaled_tanh"));
