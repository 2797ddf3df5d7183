// keras.activations, with the formulas and default arguments Keras 3 uses for string activations.
#include "kserde/activations.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kserde/error.hpp"
#include "layers/activation_formulas.hpp"
#include "ops/kernel_set.hpp"

namespace kserde {

namespace {

namespace formulas = detail::formulas;

// One element-wise formula over a tensor's values (the last-axis size is not needed).
template <float (*F)(float)>
void unary(std::span<float> d, std::int64_t) {
  for (float& x : d) x = F(x);
}

void relu(std::span<float> d, std::int64_t) {
  ops::active_kernels().relu(d.data(), static_cast<std::int64_t>(d.size()));
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
    {"relu6", unary<formulas::relu6<float>>},
    {"leaky_relu", unary<formulas::leaky_relu<float>>},
    {"sigmoid", unary<formulas::sigmoid<float>>},
    {"tanh", unary<formulas::tanh<float>>},
    {"elu", unary<formulas::elu<float>>},
    {"selu", unary<formulas::selu<float>>},
    {"celu", unary<formulas::celu<float>>},
    {"softplus", unary<formulas::softplus<float>>},
    {"softsign", unary<formulas::softsign<float>>},
    {"silu", unary<formulas::silu<float>>},
    {"gelu", unary<formulas::gelu<float>>},
    {"exponential", unary<formulas::exponential<float>>},
    {"hard_sigmoid", unary<formulas::hard_sigmoid<float>>},
    {"hard_silu", unary<formulas::hard_silu<float>>},
    {"hard_tanh", unary<formulas::hard_tanh<float>>},
    {"hard_shrink", unary<formulas::hard_shrink<float>>},
    {"soft_shrink", unary<formulas::soft_shrink<float>>},
    {"tanh_shrink", unary<formulas::tanh_shrink<float>>},
    {"sparse_plus", unary<formulas::sparse_plus<float>>},
    {"sparse_sigmoid", unary<formulas::sparse_sigmoid<float>>},
    {"squareplus", unary<formulas::squareplus<float>>},
    {"log_sigmoid", unary<formulas::log_sigmoid<float>>},
    {"mish", unary<formulas::mish<float>>},
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
      py[r * half + j] = px[r * n + j] * formulas::sigmoid(px[r * n + half + j]);
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
  if (name == "gelu_approximate")
    return Activation{"gelu_approximate", unary<formulas::gelu_tanh<float>>, nullptr, false};
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
