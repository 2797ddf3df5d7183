// keras.layers.EinsumDense: y = activation(einsum(equation, x, kernel) + bias).
// Equations take Keras's three forms: "X,Y->Z", "...X,Y->...Z" (leading dims elided) and
// "X...,Y->Z..." (trailing dims elided), with letters naming axes. `output_shape` gives the
// output's non-batch, non-elided dims (int or list; null for an unknown dim). `bias_axes` names
// output letters that get a bias; the bias spans the output from the first such letter to the end
// (size 1 at letters without bias) and broadcasts from the right.
// Variables: 0 kernel (shape from the weight spec), 1 bias (if bias_axes).
// The contraction runs as one GEMM per shared ("batch") label combination after transposing the
// operands to (shared, free, contracted) order.
#include <algorithm>
#include <optional>
#include <regex>

#include "layers/activation_dtype.hpp"
#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_f64.hpp"

namespace kserde {

namespace {

enum class Elided { None, Left, Right };

struct Equation {
  std::string in, w, out;
  Elided elided = Elided::None;
};

// Sums `x` (float32, or float64 with `T` double) over the axes whose labels are absent from both
// `keep1` and `keep2`.
template <class T>
Tensor sum_out(const Tensor& x, std::string& labels, const std::string& keep1,
               const std::string& keep2) {
  detail::Axes drop;
  std::string kept;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (keep1.find(labels[i]) == std::string::npos && keep2.find(labels[i]) == std::string::npos) {
      drop.push_back(i);
    } else {
      kept.push_back(labels[i]);
    }
  }
  if (drop.empty()) return x;
  const Tensor t = detail::transpose(x, detail::axes_last_perm(x.rank(), drop));
  std::int64_t n = 1;
  for (std::size_t a : drop) n *= x.dim(a);
  Shape s;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (std::find(drop.begin(), drop.end(), i) == drop.end()) s.push_back(x.dim(i));
  }
  Tensor out = Tensor::recycled_zeros(s, sizeof(T) == 8 ? DType::Float64 : DType::Float32);
  const T* p = t.template values<T>().data();
  T* o = out.template mutable_values<T>().data();
  for (std::int64_t r = 0; r < out.num_elements(); ++r) {
    T acc = 0;
    for (std::int64_t j = 0; j < n; ++j) acc += p[r * n + j];
    o[r] = acc;
  }
  labels = kept;
  return out;
}

// Two-operand einsum with explicit, distinct labels per operand: float32 operands through the
// blocked GEMM, or (`T` double) float64 operands summed in double, as NumPy's float64 einsum.
template <class T = float>
Tensor einsum2(std::string lx, const Tensor& x_in, std::string lw, const Tensor& w_in,
               const std::string& lo, const std::string& where) {
  Tensor x = sum_out<T>(x_in, lx, lw, lo);
  Tensor w = sum_out<T>(w_in, lw, lx, lo);
  std::string batch, m, k, n;
  for (char c : lx) {
    const bool in_w = lw.find(c) != std::string::npos;
    const bool in_o = lo.find(c) != std::string::npos;
    if (in_w && in_o) {
      batch.push_back(c);
    } else if (in_w) {
      k.push_back(c);
    } else {
      m.push_back(c);
    }
  }
  for (char c : lw) {
    if (lx.find(c) == std::string::npos) n.push_back(c);
  }
  auto dim_of = [&](char c) -> std::int64_t {
    const auto px = lx.find(c);
    const auto pw = lw.find(c);
    if (px != std::string::npos && pw != std::string::npos && x.dim(px) != w.dim(pw)) {
      throw ShapeError(where + ": dimension '" + std::string(1, c) + "' is " +
                       std::to_string(x.dim(px)) + " in the input but " +
                       std::to_string(w.dim(pw)) + " in the kernel");
    }
    return px != std::string::npos ? x.dim(px) : w.dim(pw);
  };
  auto perm_for = [](const std::string& labels, const std::string& order) {
    detail::Axes p;
    for (char c : order) p.push_back(labels.find(c));
    return p;
  };
  auto prod = [&](const std::string& ls) {
    std::int64_t r = 1;
    for (char c : ls) r *= dim_of(c);
    return r;
  };
  const Tensor xt = detail::transpose(x, perm_for(lx, batch + m + k));
  const Tensor wt = detail::transpose(w, perm_for(lw, batch + k + n));
  const std::int64_t nb = prod(batch), nm = prod(m), nk = prod(k), nn = prod(n);
  Shape mid_shape;
  for (char c : batch + m + n) mid_shape.push_back(dim_of(c));
  Tensor mid = Tensor::recycled_zeros(mid_shape, sizeof(T) == 8 ? DType::Float64 : DType::Float32);
  if (nm > 0 && nn > 0 && nk > 0) {
    if constexpr (sizeof(T) == 8) {
      ops::batched_gemm_f64(nb, nm, nn, nk, xt.values<double>().data(), wt.values<double>().data(),
                            false, mid.mutable_values<double>().data());
    } else {
      ops::batched_gemm(nb, nm, nn, nk, xt.f32(), wt.f32(), false, mid.f32_mut());
    }
  }
  return detail::transpose(mid, perm_for(batch + m + n, lo));
}

class EinsumDense final : public Layer {
 public:
  EinsumDense(std::shared_ptr<JsonDocument> d, Deserializer& ctx) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    const JsonValue& c = config();
    equation_ = cfg::get_string(c, "equation", describe());
    eq_ = parse(equation_);
    const JsonValue* os = cfg::find(c, "output_shape");
    if (os == nullptr || os->IsNull()) cfg::fail(describe(), "config has no 'output_shape'");
    partial_out_ = os->IsArray() ? cfg::to_shape(*os, describe())
                                 : Shape{cfg::get_int(c, "output_shape", describe())};
    for (std::int64_t v : partial_out_) {
      if (v == 0) cfg::fail(describe(), "output_shape entries must be positive");
    }
    config_default("activation", "\"linear\"");
    config_default("bias_axes", "null");
    config_default("kernel_initializer", detail::kGlorotUniform);
    config_default("bias_initializer", detail::kZeros);
    config_default("kernel_regularizer", "null");
    config_default("bias_regularizer", "null");
    config_default("activity_regularizer", "null");
    config_default("kernel_constraint", "null");
    config_default("bias_constraint", "null");
    config_default("quantization_config", "null");
    if (cfg::has_non_null(c, "bias_axes")) {
      bias_axes_ = cfg::get_string(c, "bias_axes", describe());
      for (char ch : *bias_axes_) {
        if (eq_.out.find(ch) == std::string::npos) {
          cfg::fail(describe(), "bias dimension '" + std::string(1, ch) +
                                    "' is not part of the output spec '" + eq_.out + "'");
        }
      }
    }
    activation_ = ctx.activation(cfg::find(c, "activation"), describe());
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    if (!built()) throw ShapeError(describe() + " must be built before it is called");
    // float16/bfloat16: as NumPy computes it, the operands rounded to the half type, the einsum
    // (summed in float32) rounded, the bias add rounded, each operation of the activation rounded.
    const DType compute = compute_dtype();
    if (compute == DType::Float64) return {call_float64(inputs[0])};
    const bool half = compute == DType::Float16 || compute == DType::BFloat16;
    const Tensor x = ops::rounded_to(inputs[0], compute);  // float32 unless half
    const auto [lx, lo] = full_labels(x.rank());
    Tensor y = einsum2(lx, x, eq_.w, ops::rounded_to(weight(0), compute), lo, describe());
    if (half) ops::round_to(y, compute);
    if (bias_axes_) {
      y = detail::broadcast_binary(
          y, ops::rounded_to(weight(1), compute), [](float a, float b) { return a + b; },
          describe());
      if (half) ops::round_to(y, compute);
    }
    if (half) {
      detail::activate_half(activation_, y, compute);
    } else {
      activation_.apply(y);
    }
    ctx.output_masks.clear();
    return {y};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    return {analyze(in.at(0)).output};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    const Analysis a = analyze(in[0]);
    add_weight("kernel", a.kernel, true);
    if (a.bias) add_weight("bias", *a.bias, true);
  }

 private:
  // float64 policy: the einsum, the bias add and the built-in activations in double, as NumPy
  // computes them (other activations run in float32 on the double result).
  Tensor call_float64(const Tensor& x_in) const {
    const Tensor x = x_in.to(DType::Float64);
    const auto [lx, lo] = full_labels(x.rank());
    Tensor y =
        einsum2<double>(lx, x, eq_.w, variables().at(0).value.to(DType::Float64), lo, describe());
    if (bias_axes_) {
      y = detail::broadcast_binary<double>(
          y, variables().at(1).value.to(DType::Float64), [](double a, double b) { return a + b; },
          describe());
    }
    return detail::activate_float64(activation_, std::move(y));
  }

  struct Analysis {
    Shape kernel;
    std::optional<Shape> bias;
    Shape output;
  };

  Equation parse(const std::string& eq) const {
    const std::string s = std::regex_replace(eq, std::regex("\\.\\.\\."), "0");
    std::smatch m;
    Equation e;
    if (std::regex_match(s, m, std::regex("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"))) {
      e.elided = Elided::None;
    } else if (std::regex_match(s, m, std::regex("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"))) {
      e.elided = Elided::Left;
    } else if (std::regex_match(s, m, std::regex("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"))) {
      e.elided = Elided::Right;
    } else {
      cfg::fail(describe(), "invalid einsum equation '" + eq +
                                "'; equations must be of the form [X],[Y]->[Z], ...[X],[Y]->...[Z] "
                                "or [X]...,[Y]->[Z]...");
    }
    e.in = m[1];
    e.w = m[2];
    e.out = m[3];
    for (const std::string* spec : {&e.in, &e.w, &e.out}) {
      std::string sorted = *spec;
      std::sort(sorted.begin(), sorted.end());
      if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
        cfg::fail(describe(), "equation '" + eq + "' repeats a label within one operand");
      }
    }
    for (char c : e.out) {
      if (e.in.find(c) == std::string::npos && e.w.find(c) == std::string::npos) {
        cfg::fail(describe(), "output dimension '" + std::string(1, c) +
                                  "' has no corresponding dimension in the input or weight spec");
      }
    }
    for (char c : e.w) {
      if (e.in.find(c) == std::string::npos && e.out.find(c) == std::string::npos) {
        cfg::fail(describe(), "weight dimension '" + std::string(1, c) +
                                  "' matches neither the input nor the output spec");
      }
    }
    return e;
  }

  // Labels of the input and output with elided axes spelled out (digits never clash with letters).
  std::pair<std::string, std::string> full_labels(std::size_t rank) const {
    if (rank < eq_.in.size() || (eq_.elided == Elided::None && rank != eq_.in.size())) {
      throw ShapeError(describe() + ": input of rank " + std::to_string(rank) +
                       " does not match the equation '" + equation_ + "'");
    }
    const std::size_t e = rank - eq_.in.size();
    if (e > 10) throw ShapeError(describe() + ": too many elided dimensions");
    std::string extra;
    for (std::size_t i = 0; i < e; ++i) extra.push_back(static_cast<char>('0' + i));
    if (eq_.elided == Elided::Left) return {extra + eq_.in, extra + eq_.out};
    if (eq_.elided == Elided::Right) return {eq_.in + extra, eq_.out + extra};
    return {eq_.in, eq_.out};
  }

  // Keras's _analyze_split_string: kernel, bias and full output shapes for an input shape.
  Analysis analyze(const Shape& in) const {
    // Not a structured binding: clang 14 cannot capture those in the lambdas below.
    const auto labels = full_labels(in.size());
    const std::string& lx = labels.first;
    const std::string& lo = labels.second;
    const std::size_t e = in.size() - eq_.in.size();
    // Output: batch, then (left elision) the elided non-batch dims, the given dims, then
    // (right elision) the elided trailing dims.
    Shape out{in[0]};
    if (eq_.elided == Elided::Left && e > 0)
      out.insert(out.end(), in.begin() + 1, in.begin() + static_cast<std::ptrdiff_t>(e));
    out.insert(out.end(), partial_out_.begin(), partial_out_.end());
    if (eq_.elided == Elided::Right)
      out.insert(out.end(), in.end() - static_cast<std::ptrdiff_t>(e), in.end());
    if (out.size() != lo.size()) {
      throw ShapeError(describe() + ": output_shape " + shape_to_string(partial_out_) +
                       " does not fit the equation '" + equation_ + "' for input shape " +
                       shape_to_string(in));
    }
    auto in_dim = [&](char c) { return in[lx.find(c)]; };
    auto out_dim = [&](char c) { return out[lo.find(c)]; };
    for (char c : eq_.in) {
      if (eq_.out.find(c) != std::string::npos && out_dim(c) >= 0 && out_dim(c) != in_dim(c)) {
        throw ShapeError(describe() +
                         ": input and output shapes do not match at shared dimension '" +
                         std::string(1, c) + "': input has " + std::to_string(in_dim(c)) +
                         ", output has " + std::to_string(out_dim(c)));
      }
    }
    Analysis a;
    a.output = out;
    for (char c : eq_.out) {
      if (eq_.in.find(c) != std::string::npos) a.output[lo.find(c)] = in_dim(c);
    }
    for (char c : eq_.w) {
      const bool in_out = eq_.out.find(c) != std::string::npos;
      // Keras takes the output's size; an unknown one is the input's size for shared labels.
      a.kernel.push_back(in_out && (out_dim(c) >= 0 || eq_.in.find(c) == std::string::npos)
                             ? out_dim(c)
                             : in_dim(c));
    }
    if (bias_axes_) {
      std::size_t first = eq_.out.size();
      for (char c : *bias_axes_) first = std::min(first, eq_.out.find(c));
      Shape b;
      for (std::size_t i = first; i < eq_.out.size(); ++i) {
        const char c = eq_.out[i];
        b.push_back(bias_axes_->find(c) != std::string::npos ? out_dim(c) : 1);
      }
      if (eq_.elided != Elided::Left) b.insert(b.end(), e, 1);
      a.bias = b;
    }
    return a;
  }

  std::string equation_;
  Equation eq_;
  Shape partial_out_;
  std::optional<std::string> bias_axes_;
  ::kserde::Activation activation_;
};

}  // namespace

KSERDE_REGISTER_LAYER(EinsumDense);

}  // namespace kserde
