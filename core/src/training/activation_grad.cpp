// Derivatives of Keras's activations, and the Activation layer's backward pass.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>
#include <string_view>

#include "json/config_access.hpp"
#include "kserde/activations.hpp"
#include "kserde/error.hpp"
#include "training/backprop.hpp"

namespace kserde::training {

namespace {

float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

// Derivatives dy/dz of the element-wise activations, from z and y = f(z).
float d_linear(float, float) {
  return 1.0f;
}
float d_relu(float z, float) {
  return z > 0 ? 1.0f : 0.0f;
}
float d_relu6(float z, float) {
  return z > 0 && z < 6 ? 1.0f : 0.0f;
}
float d_leaky_relu(float z, float) {
  return z >= 0 ? 1.0f : 0.2f;
}
float d_sigmoid(float, float y) {
  return y * (1.0f - y);
}
float d_tanh(float, float y) {
  return 1.0f - y * y;
}
float d_elu(float z, float y) {
  return z > 0 ? 1.0f : y + 1.0f;
}
float d_selu(float z, float y) {
  constexpr float alpha = 1.67326324f;
  constexpr float scale = 1.05070098f;
  return z > 0 ? scale : y + scale * alpha;
}
float d_softplus(float z, float) {
  return sigmoid(z);
}
float d_softsign(float z, float) {
  const float a = 1.0f + std::fabs(z);
  return 1.0f / (a * a);
}
float d_silu(float z, float) {
  const float s = sigmoid(z);
  return s + z * s * (1.0f - s);
}
float d_gelu(float z, float) {
  const float cdf = 0.5f * (1.0f + std::erf(z / static_cast<float>(std::numbers::sqrt2)));
  const auto inv_sqrt_2pi = static_cast<float>(0.3989422804014327);
  return cdf + z * inv_sqrt_2pi * std::exp(-0.5f * z * z);
}
float d_exponential(float, float y) {
  return y;
}
float d_hard_sigmoid(float z, float) {
  return z > -3 && z < 3 ? 1.0f / 6.0f : 0.0f;
}
float d_hard_silu(float z, float) {
  return z < -3 ? 0.0f : z > 3 ? 1.0f : (2.0f * z + 3.0f) / 6.0f;
}
float d_log_sigmoid(float z, float) {
  return sigmoid(-z);
}

// dz = dy * f'(z) over n elements; one instantiation per derivative, so the name is resolved
// once per tensor and the derivative inlines into the loop.
using BackwardLoop = void (*)(const float* z, const float* y, const float* dy, float* dz,
                              std::int64_t n);
template <float (*D)(float, float)>
void backward_loop(const float* z, const float* y, const float* dy, float* dz, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dz[i] = dy[i] * D(z[i], y[i]);
}

// The loop of the element-wise activation `name`, or nullptr (softmax, log_softmax and names
// without a backward pass).
BackwardLoop elementwise_backward(std::string_view name) {
  struct Entry {
    std::string_view name;
    BackwardLoop loop;
  };
  static constexpr Entry kEntries[] = {
      {"linear", backward_loop<d_linear>},
      {"relu", backward_loop<d_relu>},
      {"relu6", backward_loop<d_relu6>},
      {"leaky_relu", backward_loop<d_leaky_relu>},
      {"sigmoid", backward_loop<d_sigmoid>},
      {"tanh", backward_loop<d_tanh>},
      {"elu", backward_loop<d_elu>},
      {"selu", backward_loop<d_selu>},
      {"softplus", backward_loop<d_softplus>},
      {"softsign", backward_loop<d_softsign>},
      {"silu", backward_loop<d_silu>},
      {"gelu", backward_loop<d_gelu>},
      {"exponential", backward_loop<d_exponential>},
      {"hard_sigmoid", backward_loop<d_hard_sigmoid>},
      {"hard_silu", backward_loop<d_hard_silu>},
      {"log_sigmoid", backward_loop<d_log_sigmoid>},
  };
  for (const Entry& e : kEntries) {
    if (e.name == name) return e.loop;
  }
  return nullptr;
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
  return name == "softmax" || name == "log_softmax" || elementwise_backward(name) != nullptr;
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
  const BackwardLoop loop = elementwise_backward(name);
  if (loop == nullptr) {
    throw UnsupportedError("activation '" + name + "' has no backward pass in kserde");
  }
  loop(pz, py, pd, o, n);
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
