// MyLayers: the C++ side of tests/golden/custom_layers.py, as a kserde plugin.
//
//   MyLayers>ScaledDense   config {units, scale = 1.0, activation = "linear"};
//                          weights kernel (input_dim, units), bias (units,);
//                          y = activation(scale * (x @ kernel) + bias)
//   MyLayers>scaled_tanh   1.7159 * tanh(2/3 x)
#include <rapidjson/document.h>

#include <cmath>
#include <cstdint>
#include <span>

#include "kserde/deserializer.hpp"
#include "kserde/error.hpp"
#include "kserde/layer.hpp"
#include "kserde/ops.hpp"
#include "kserde/plugin.hpp"

namespace my_layers {

using namespace kserde;

class ScaledDense final : public Layer {
 public:
  ScaledDense(std::shared_ptr<JsonDocument> d, Deserializer& ctx) : Layer(std::move(d)) {
    const JsonValue& c = config();
    if (!c.HasMember("units") || !c["units"].IsInt64() || c["units"].GetInt64() <= 0) {
      throw ConfigError(describe() + ": config 'units' must be a positive integer");
    }
    units_ = c["units"].GetInt64();
    // Keras's constructor defaults, so a kserde-saved config carries every key get_config() writes.
    config_default("scale", "1.0");
    config_default("activation", "\"linear\"");
    const JsonValue& scale = config()["scale"];
    if (!scale.IsNumber()) throw ConfigError(describe() + ": config 'scale' must be a number");
    scale_ = scale.GetDouble();
    activation_ = ctx.activation(&config()["activation"], describe());
  }

  TensorList call(const TensorList& in, CallContext&) override {
    expect_inputs(in, 1);
    Tensor y = ops::matmul_last_axis(in[0], weight(0));
    ops::scale(y, static_cast<float>(scale_));
    ops::add_bias_last_axis(y, weight(1));
    activation_.apply(y);
    return {y};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    Shape s = in.at(0);
    if (s.empty()) throw ShapeError(describe() + ": needs inputs of rank >= 1");
    s.back() = units_;
    return {s};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.empty() || in[0].empty() || in[0].back() < 0) {
      throw ShapeError(describe() + ": the last input dimension must be known to build");
    }
    add_weight("kernel", {in[0].back(), units_});
    add_weight("bias", {units_});
  }

 private:
  std::int64_t units_ = 0;
  double scale_ = 1.0;
  Activation activation_;
};

void scaled_tanh(std::span<float> data, std::int64_t) {
  for (float& x : data) x = 1.7159f * std::tanh(x * (2.0f / 3.0f));
}

void register_plugin(PluginRegistrar& r) {
  r.add_layer<ScaledDense>("MyLayers>ScaledDense");
  r.add_function("MyLayers>scaled_tanh", &scaled_tanh);
}

}  // namespace my_layers

KSERDE_PLUGIN(my_layers, KSERDE_THIS_PLUGIN_VERSION, my_layers::register_plugin,
              KSERDE_LAYERS("MyLayers>ScaledDense"), KSERDE_FUNCTIONS("MyLayers>scaled_tanh"));
