// Derivatives of Keras's activations, and the Activation layer's backward pass.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "json/config_access.hpp"
#include "kserde/activations.hpp"
#include "kserde/error.hpp"
#include "training/backprop.hpp"

namespace kserde::training {

namespace {

float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

// Elementwise derivative dy/dz from z and y; false for names handled elsewhere or unknown.
bool elementwise_derivative(const std::string& n, float z, float y, float& d) {
  if (n == "linear") {
    d = 1.0f;
  } else if (n == "relu") {
    d = z > 0 ? 1.0f : 0.0f;
  } else if (n == "relu6") {
    d = z > 0 && z < 6 ? 1.0f : 0.0f;
  } else if (n == "leaky_relu") {
    d = z >= 0 ? 1.0f : 0.2f;
  } else if (n == "sigmoid") {
    d = y * (1.0f - y);
  } else if (n == "tanh") {
    d = 1.0f - y * y;
  } else if (n == "elu") {
    d = z > 0 ? 1.0f : y + 1.0f;
  } else if (n == "selu") {
    constexpr float alpha = 1.67326324f;
    constexpr float scale = 1.05070098f;
    d = z > 0 ? scale : y + scale * alpha;
  } else if (n == "softplus") {
    d = sigmoid(z);
  } else if (n == "softsign") {
    const float a = 1.0f + std::fabs(z);
    d = 1.0f / (a * a);
  } else if (n == "silu") {
    const float s = sigmoid(z);
    d = s + z * s * (1.0f - s);
  } else if (n == "gelu") {
    const float cdf = 0.5f * (1.0f + std::erf(z / static_cast<float>(std::numbers::sqrt2)));
    const auto inv_sqrt_2pi = static_cast<float>(0.3989422804014327);
    d = cdf + z * inv_sqrt_2pi * std::exp(-0.5f * z * z);
  } else if (n == "exponential") {
    d = y;
  } else if (n == "hard_sigmoid") {
    d = z > -3 && z < 3 ? 1.0f / 6.0f : 0.0f;
  } else if (n == "hard_silu") {
    d = z < -3 ? 0.0f : z > 3 ? 1.0f : (2.0f * z + 3.0f) / 6.0f;
  } else if (n == "log_sigmoid") {
    d = sigmoid(-z);
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string activation_name(const Layer& layer) {
  const JsonValue* a = cfg::find(layer.config(), "activation");
  std::string name = "linear";
  if (a != nullptr && a->IsString()) {
    name = a->GetString();
  } else if (a != nullptr && a->IsObject()) {
    const JsonValue* c = cfg::find(*a, "config");
    if (c != nullptr && c->IsString())
      name = c->GetString();
    else
      name = "<object>";
  }
  if (name.empty()) name = "linear";
  if (name == "swish") name = "silu";
  if (name == "hard_swish") name = "hard_silu";
  return name;
}

bool activation_has_backprop(const std::string& name) {
  float d = 0;
  return name == "softmax" || name == "log_softmax" || elementwise_derivative(name, 0, 0, d);
}

void activation_forward(const std::string& name, Tensor& y) {
  auto a = builtin_activation(name);
  if (!a) throw UnsupportedError("activation '" + name + "' has no backward pass in kserde");
  a->apply(y);
}

Tensor activation_backward(const std::string& name, const Tensor& z, const Tensor& y,
                           const Tensor& dy) {
  Tensor dz = Tensor::uninitialized(dy.shape(), DType::Float32);
  const float* pz = z.f32();
  const float* py = y.f32();
  const float* pd = dy.f32();
  float* o = dz.f32_mut();
  const std::int64_t n = dy.num_elements();
  if (name == "softmax" || name == "log_softmax") {
    const std::int64_t axis = dy.rank() == 0 ? 1 : dy.shape().back();
    for (std::int64_t r = 0; axis > 0 && r < n / axis; ++r) {
      const std::int64_t b = r * axis;
      float s = 0;
      if (name == "softmax") {
        for (std::int64_t i = 0; i < axis; ++i) s += pd[b + i] * py[b + i];
        for (std::int64_t i = 0; i < axis; ++i) o[b + i] = py[b + i] * (pd[b + i] - s);
      } else {
        for (std::int64_t i = 0; i < axis; ++i) s += pd[b + i];
        for (std::int64_t i = 0; i < axis; ++i) o[b + i] = pd[b + i] - std::exp(py[b + i]) * s;
      }
    }
    return dz;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    float d = 0;
    if (!elementwise_derivative(name, pz[i], py[i], d)) {
      throw UnsupportedError("activation '" + name + "' has no backward pass in kserde");
    }
    o[i] = pd[i] * d;
  }
  return dz;
}

namespace {

// keras.layers.Activation (and ReLU/Softmax-like layers are not covered here).
class ActivationBackprop final : public LayerBackprop {
 public:
  explicit ActivationBackprop(std::string name) : name_(std::move(name)) {}
  TensorList forward(const TensorList& in, TrainContext&) override {
    z_ = in.at(0).to(DType::Float32);
    y_ = z_.clone();
    activation_forward(name_, y_);
    return {y_};
  }
  TensorList backward(const TensorList& d, GradMap&) override {
    return {activation_backward(name_, z_, y_, d.at(0))};
  }

 private:
  std::string name_;
  Tensor z_, y_;
};

}  // namespace

std::unique_ptr<LayerBackprop> make_activation_backprop(Layer& layer) {
  if (layer.class_name() != "Activation") return nullptr;
  const std::string name = activation_name(layer);
  if (!activation_has_backprop(name)) {
    throw UnsupportedError(layer.describe() + ": activation '" + name +
                           "' has no backward pass in kserde, so it cannot train this model");
  }
  return std::make_unique<ActivationBackprop>(name);
}

}  // namespace kserde::training
