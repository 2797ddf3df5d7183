// A C++ version of MyLayers>ScaledDense and MyLayers>scaled_tanh from
// tests/golden/custom_layers.py, written in the test from that file's documented math: y =
// activation(scale * (x @ kernel) + bias).
#pragma once

#include <rapidjson/document.h>

#include <cmath>

#include "kserde/deserializer.hpp"
#include "kserde/layer.hpp"
#include "kserde/ops.hpp"

namespace kserde::test {

class ScaledDense final : public Layer {
 public:
  ScaledDense(std::shared_ptr<JsonDocument> d, Deserializer& ctx) : Layer(std::move(d)) {
    units_ = config()["units"].GetInt64();
    scale_ = config().HasMember("scale") ? config()["scale"].GetDouble() : 1.0;
    activation_ = ctx.activation(
        config().HasMember("activation") ? &config()["activation"] : nullptr, describe());
  }
  TensorList call(const TensorList& in, CallContext&) override {
    Tensor y = ops::matmul_last_axis(in.at(0), weight(0));
    ops::scale(y, static_cast<float>(scale_));
    ops::add_bias_last_axis(y, weight(1));
    activation_.apply(y);
    return {y};
  }
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    Shape s = in.at(0);
    s.back() = units_;
    return {s};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    add_weight("kernel", {in.at(0).back(), units_});
    add_weight("bias", {units_});
  }

 private:
  std::int64_t units_ = 0;
  double scale_ = 1.0;
  Activation activation_;
};

inline void scaled_tanh(std::span<float> data, std::int64_t) {
  for (float& x : data) x = 1.7159f * std::tanh(x * (2.0f / 3.0f));
}

}  // namespace kserde::test
