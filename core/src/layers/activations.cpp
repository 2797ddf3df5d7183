// keras.activations, with the formulas and default arguments Keras 3 uses for string activations.
#include "kserde/activations.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "kserde/error.hpp"
#include "ops/kernel_set.hpp"

namespace kserde {

namespace {

template <class F>
void elementwise(std::span<float> d, F f) {
  for (float& x : d) x = f(x);
}

float softplus1(float x) {
  return std::max(x, 0.0f) + std::log1p(std::exp(-std::fabs(x)));
}
float sigmoid1(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}
float relu6_1(float x) {
  return std::min(std::max(x, 0.0f), 6.0f);
}

void relu(std::span<float> d, std::int64_t) {
  ops::active_kernels().relu(d.data(), static_cast<std::int64_t>(d.size()));
}
void relu6(std::span<float> d, std::int64_t) {
  elementwise(d, relu6_1);
}
void leaky_relu(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return x >= 0 ? x : 0.2f * x; });
}
void sigmoid(std::span<float> d, std::int64_t) {
  elementwise(d, sigmoid1);
}
void tanh_(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return std::tanh(x); });
}
void elu(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return x > 0 ? x : std::expm1(x); });
}
void selu(std::span<float> d, std::int64_t) {
  constexpr float alpha = 1.67326324f;
  constexpr float scale = 1.05070098f;
  elementwise(d, [](float x) { return scale * (x > 0 ? x : alpha * std::expm1(x)); });
}
void celu(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return std::max(x, 0.0f) + std::min(0.0f, std::expm1(x)); });
}
void softplus(std::span<float> d, std::int64_t) {
  elementwise(d, softplus1);
}
void softsign(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return x / (std::fabs(x) + 1.0f); });
}
void silu(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return x * sigmoid1(x); });
}
void gelu(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) {
    return 0.5f * x * (1.0f + std::erf(x / static_cast<float>(std::numbers::sqrt2)));
  });
}
void gelu_tanh(std::span<float> d, std::int64_t) {
  const float c = std::sqrt(2.0f / std::numbers::pi_v<float>);
  elementwise(
      d, [c](float x) { return 0.5f * x * (1.0f + std::tanh(c * (x + 0.044715f * x * x * x))); });
}
void exponential(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return std::exp(x); });
}
void hard_sigmoid(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return relu6_1(x + 3.0f) / 6.0f; });
}
void hard_silu(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return x * relu6_1(x + 3.0f) / 6.0f; });
}
void hard_tanh(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return std::min(std::max(x, -1.0f), 1.0f); });
}
void hard_shrink(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return std::fabs(x) > 0.5f ? x : 0.0f; });
}
void soft_shrink(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return x > 0.5f ? x - 0.5f : (x < -0.5f ? x + 0.5f : 0.0f); });
}
void tanh_shrink(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return x - std::tanh(x); });
}
void sparse_plus(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) {
    return x <= -1.0f ? 0.0f : (x >= 1.0f ? x : 0.25f * (x + 1.0f) * (x + 1.0f));
  });
}
void sparse_sigmoid(std::span<float> d, std::int64_t) {
  elementwise(d,
              [](float x) { return x <= -1.0f ? 0.0f : (x >= 1.0f ? 1.0f : 0.5f * (x + 1.0f)); });
}
void squareplus(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return 0.5f * (x + std::sqrt(x * x + 4.0f)); });
}
void log_sigmoid(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return -softplus1(-x); });
}
void mish(std::span<float> d, std::int64_t) {
  elementwise(d, [](float x) { return x * std::tanh(softplus1(x)); });
}

// Reductions over the last axis.
template <class RowFn>
void per_row(std::span<float> d, std::int64_t axis, RowFn f) {
  if (axis <= 0) return;
  const std::size_t n = static_cast<std::size_t>(axis);
  for (std::size_t off = 0; off + n <= d.size(); off += n) f(d.subspan(off, n));
}

void softmax(std::span<float> d, std::int64_t axis) {
  per_row(d, axis, [](std::span<float> r) {
    const float m = *std::max_element(r.begin(), r.end());
    float sum = 0;
    for (float& x : r) sum += (x = std::exp(x - m));
    for (float& x : r) x /= sum;
  });
}

void log_softmax(std::span<float> d, std::int64_t axis) {
  per_row(d, axis, [](std::span<float> r) {
    const float m = *std::max_element(r.begin(), r.end());
    float sum = 0;
    for (float x : r) sum += std::exp(x - m);
    const float lse = std::log(sum);
    for (float& x : r) x = x - m - lse;
  });
}

void sparsemax(std::span<float> d, std::int64_t axis) {
  per_row(d, axis, [](std::span<float> r) {
    std::vector<float> z(r.begin(), r.end());
    std::sort(z.begin(), z.end(), std::greater<>());
    float cumsum = 0;
    float tau_sum = 0;
    std::size_t k = 0;
    for (std::size_t i = 0; i < z.size(); ++i) {
      cumsum += z[i];
      if (1.0f + static_cast<float>(i + 1) * z[i] > cumsum) {
        k = i + 1;
        tau_sum = cumsum;
      }
    }
    const float tau = (tau_sum - 1.0f) / static_cast<float>(k);
    for (float& x : r) x = std::max(x - tau, 0.0f);
  });
}

struct Named {
  const char* name;
  ActivationFn fn;
};

constexpr Named kBuiltins[] = {
    {"relu", relu},
    {"relu6", relu6},
    {"leaky_relu", leaky_relu},
    {"sigmoid", sigmoid},
    {"tanh", tanh_},
    {"elu", elu},
    {"selu", selu},
    {"celu", celu},
    {"softplus", softplus},
    {"softsign", softsign},
    {"silu", silu},
    {"gelu", gelu},
    {"exponential", exponential},
    {"hard_sigmoid", hard_sigmoid},
    {"hard_silu", hard_silu},
    {"hard_tanh", hard_tanh},
    {"hard_shrink", hard_shrink},
    {"soft_shrink", soft_shrink},
    {"tanh_shrink", tanh_shrink},
    {"sparse_plus", sparse_plus},
    {"sparse_sigmoid", sparse_sigmoid},
    {"squareplus", squareplus},
    {"log_sigmoid", log_sigmoid},
    {"mish", mish},
    {"softmax", softmax},
    {"log_softmax", log_softmax},
    {"sparsemax", sparsemax},
};

// keras.activations.glu(x, axis=-1): a * sigmoid(b) for the halves a, b of the last axis.
Tensor glu_last_axis(const Tensor& x, const std::string& name) {
  const std::int64_t n = x.rank() == 0 ? 1 : x.shape().back();
  if (x.rank() == 0 || n % 2 != 0) {
    throw ShapeError("activation '" + name + "': the last axis must have an even size, got " +
                     shape_to_string(x.shape()));
  }
  const std::int64_t half = n / 2;
  Shape out_shape = x.shape();
  out_shape.back() = half;
  Tensor y = Tensor::uninitialized(out_shape, DType::Float32);  // every element written
  const float* px = x.f32();
  float* py = y.f32_mut();
  const std::int64_t rows = n == 0 ? 0 : x.num_elements() / n;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < half; ++j) {
      py[r * half + j] = px[r * n + j] * sigmoid1(px[r * n + half + j]);
    }
  }
  return y;
}

// glu's in-place form cannot change the length; it is only reachable through Activation::apply,
// which replaces the tensor. Cells refuse shape-changing activations before calling this.
void glu_in_place(std::span<float>, std::int64_t) {}

}  // namespace

void Activation::apply(Tensor& t) const {
  if (fn == nullptr) return;
  if (halves_last_axis) {
    t = glu_last_axis(t.dtype() == DType::Float32 ? t : t.to(DType::Float32), name);
    return;
  }
  if (t.dtype() != DType::Float32) {
    throw Error("activation '" + name + "' applied to a " + std::string(dtype_name(t.dtype())) +
                " tensor");
  }
  auto values = t.mutable_values<float>();
  const std::int64_t axis = t.rank() == 0 ? 1 : t.shape().back();
  fn(values, axis);
}

std::optional<Activation> builtin_activation(std::string_view name) {
  if (name == "linear" || name.empty()) return Activation{"linear", nullptr, nullptr, false};
  if (name == "swish") name = "silu";
  if (name == "hard_swish") name = "hard_silu";
  // gelu with approximate=True is reachable by name only through the GELU-approximate alias
  // Keras uses in some configs.
  if (name == "gelu_approximate") return Activation{"gelu_approximate", gelu_tanh, nullptr, false};
  if (name == "glu") return Activation{"glu", glu_in_place, nullptr, true};
  for (const Named& n : kBuiltins) {
    if (name == n.name) return Activation{n.name, n.fn, nullptr, false};
  }
  return std::nullopt;
}

std::vector<std::string> builtin_activation_names() {
  std::vector<std::string> names{"linear", "swish", "hard_swish", "glu"};
  for (const Named& n : kBuiltins) names.emplace_back(n.name);
  return names;
}

}  // namespace kserde
