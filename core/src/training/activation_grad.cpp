// Derivatives of Keras's activations, and the Activation layer's backward pass.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>

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

// The activation layers ReLU, LeakyReLU, ELU and Softmax (last axis): the forward pass is the
// layer's own; the derivative follows the same branches its call takes.
class ActivationLayerBackprop final : public LayerBackprop {
 public:
  explicit ActivationLayerBackprop(Layer& layer) : layer_(layer), cls_(layer.class_name()) {
    const JsonValue& c = layer.config();
    const std::string& where = layer.describe();
    if (cls_ == "ReLU") {
      max_value_ = cfg::get_optional_float(c, "max_value", where);
      slope_ = cfg::get_float(c, "negative_slope", where, 0.0);
      threshold_ = cfg::get_float(c, "threshold", where, 0.0);
    } else if (cls_ == "LeakyReLU") {
      slope_ = cfg::has_non_null(c, "alpha") ? cfg::get_float(c, "alpha", where)
                                             : cfg::get_float(c, "negative_slope", where, 0.3);
    } else if (cls_ == "ELU") {
      alpha_ = cfg::get_float(c, "alpha", where, 1.0);
    }
  }
  TensorList forward(const TensorList& in, TrainContext&) override {
    x_ = in.at(0).to(DType::Float32);
    if (cls_ == "Softmax") {
      const JsonValue* axis = cfg::find(layer_.config(), "axis");
      std::int64_t a = -1;
      if (axis != nullptr && axis->IsInt64()) a = axis->GetInt64();
      if (axis != nullptr && axis->IsArray() && axis->Size() == 1 && (*axis)[0].IsInt64()) {
        a = (*axis)[0].GetInt64();
      } else if (axis != nullptr && !axis->IsInt64() && !axis->IsNull()) {
        a = -2;  // several axes
      }
      if (a != -1 && a != static_cast<std::int64_t>(x_.rank()) - 1) {
        throw UnsupportedError(layer_.describe() +
                               ": kserde trains Softmax over the last axis only");
      }
    }
    CallContext ctx;
    ctx.training = true;
    TensorList out = layer_.call(in, ctx);
    y_ = out.at(0);
    return out;
  }
  TensorList backward(const TensorList& d, GradMap&) override {
    if (cls_ == "Softmax") return {activation_backward("softmax", x_, y_, d.at(0))};
    Tensor dx = Tensor::uninitialized(x_.shape(), DType::Float32);
    const float* px = x_.f32();
    const float* py = y_.f32();
    const float* pd = d.at(0).f32();
    float* o = dx.f32_mut();
    const auto s = static_cast<float>(slope_);
    const auto thr = static_cast<float>(threshold_);
    const bool clip = max_value_.has_value();
    const float hi = clip ? static_cast<float>(*max_value_) : 0.0f;
    for (std::int64_t i = 0; i < x_.num_elements(); ++i) {
      const float v = px[i];
      float g = 1.0f;
      if (cls_ == "LeakyReLU" || (cls_ == "ReLU" && s != 0.0f && !clip && thr == 0.0f)) {
        g = v < s * v ? s : 1.0f;  // max(v, s * v)
      } else if (cls_ == "ReLU") {
        const bool pos = v > thr && (!clip || v < hi);
        g = (pos ? 1.0f : 0.0f) + (thr - v > 0.0f ? s : 0.0f);
      } else {  // ELU
        g = v > 0 ? 1.0f : py[i] + static_cast<float>(alpha_);
      }
      o[i] = pd[i] * g;
    }
    return {dx};
  }

 private:
  Layer& layer_;
  std::string cls_;
  std::optional<double> max_value_;
  double slope_ = 0.0, threshold_ = 0.0, alpha_ = 1.0;
  Tensor x_, y_;
};

}  // namespace

std::unique_ptr<LayerBackprop> make_activation_backprop(Layer& layer) {
  const std::string cls = layer.class_name();
  if (cls == "ReLU" || cls == "LeakyReLU" || cls == "ELU" || cls == "Softmax") {
    return std::make_unique<ActivationLayerBackprop>(layer);
  }
  if (cls != "Activation") return nullptr;
  const std::string name = activation_name(layer);
  if (!activation_has_backprop(name)) {
    throw UnsupportedError(layer.describe() + ": activation '" + name +
                           "' has no backward pass in kserde, so it cannot train this model");
  }
  return std::make_unique<ActivationBackprop>(name);
}

}  // namespace kserde::training
