// keras.layers.Dot: batched dot product of two inputs over one axis each (Keras's batch_dot).
// With x (b, xs..., k at axes[0]) and y (b, ys..., k at axes[1]) the output is (b, xs..., ys...),
// or (b, 1) when nothing else remains. `axes` is an int (same axis in both; negative counts from
// each input's end) or a pair. `normalize` L2-normalizes each input along its dot axis first
// (x * rsqrt(max(sum(x^2), 1e-7^2)), as keras.ops.normalize). No variables; no output mask.
#include <algorithm>
#include <cmath>
#include <span>

#include "layers/merging/merge.hpp"
#include "layers/merging/tensor_algebra.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_f64.hpp"

namespace kserde {

namespace {

class Dot final : public detail::Merge {
 public:
  Dot(std::shared_ptr<JsonDocument> d, Deserializer&) : Merge(std::move(d)) {
    config_default("normalize", "false");
    const JsonValue* a = cfg::find(config(), "axes");
    if (a == nullptr || a->IsNull()) cfg::fail(describe(), "config has no 'axes'");
    if (a->IsArray()) {
      axes_ = cfg::get_int_tuple(config(), "axes", describe(), 2);
      pair_ = true;
    } else {
      axes_ = {cfg::get_int(config(), "axes", describe())};
    }
    normalize_ = cfg::get_bool(config(), "normalize", describe(), false);
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    check_input_count(inputs.size());
    ctx.output_masks.clear();
    // float64 policy (or a float64 operand): normalization and products in double, as NumPy.
    const bool f64 = compute_dtype() == DType::Float64 || inputs[0].dtype() == DType::Float64 ||
                     inputs[1].dtype() == DType::Float64;
    Tensor x = f64 ? inputs[0].to(DType::Float64) : ops::as_float32(inputs[0]);
    Tensor y = f64 ? inputs[1].to(DType::Float64) : ops::as_float32(inputs[1]);
    const Shape shapes[2] = {x.shape(), y.shape()};
    const auto [a0, a1] = resolve(shapes);
    check_dims(x.shape(), y.shape(), a0, a1);
    if (x.dim(0) != y.dim(0)) {
      throw ShapeError(describe() + ": inputs have different batch sizes " +
                       shape_to_string(x.shape()) + " and " + shape_to_string(y.shape()));
    }
    if (normalize_) {
      x = f64 ? l2_normalize<double>(x, a0) : l2_normalize<float>(x, a0);
      y = f64 ? l2_normalize<double>(y, a1) : l2_normalize<float>(y, a1);
    }
    // x -> (b, rest..., k); y -> (b, k, rest...); then one matmul per batch entry.
    detail::Axes px;
    for (std::size_t d = 0; d < x.rank(); ++d) {
      if (d != a0) px.push_back(d);
    }
    px.push_back(a0);
    detail::Axes py{0, a1};
    for (std::size_t d = 1; d < y.rank(); ++d) {
      if (d != a1) py.push_back(d);
    }
    const Tensor xt = detail::transpose(x, px);
    const Tensor yt = detail::transpose(y, py);
    const std::int64_t b = x.dim(0);
    const std::int64_t k = x.dim(a0);
    const std::int64_t m = b == 0 || k == 0 ? 0 : x.num_elements() / (b * k);
    const std::int64_t n = b == 0 || k == 0 ? 0 : y.num_elements() / (b * k);
    Shape out_shape = output_shape(shapes, a0, a1);
    Tensor out = Tensor::recycled_zeros(out_shape, f64 ? DType::Float64 : DType::Float32);
    if (k == 0 || m == 0 || n == 0) return {out};
    if (f64) {
      ops::batched_gemm_f64(b, m, n, k, xt.values<double>().data(), yt.values<double>().data(),
                            false, out.mutable_values<double>().data());
      return {out};
    }
    ops::batched_gemm(b, m, n, k, xt.f32(), yt.f32(), false, out.f32_mut());
    return {out};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    check_input_count(in.size());
    const auto [a0, a1] = resolve(in);
    return {output_shape(in, a0, a1)};
  }

 protected:
  std::size_t exact_inputs() const override { return 2; }
  void build_impl(const std::vector<Shape>& in) override {
    check_input_count(in.size());
    const auto [a0, a1] = resolve(in);
    check_dims(in[0], in[1], a0, a1);
  }
  Tensor merge(const TensorList&, const MaskList&) const override {
    return {};  // call() is overridden
  }

 private:
  std::pair<std::size_t, std::size_t> resolve(std::span<const Shape> in) const {
    for (const Shape& s : in) {
      if (s.size() < 2) {
        throw ShapeError(describe() + ": inputs need rank >= 2, got " + shape_to_string(s));
      }
    }
    const std::int64_t ax0 = axes_[0];
    const std::int64_t ax1 = pair_ ? axes_[1] : axes_[0];
    const std::size_t a0 = detail::canonical_axis(ax0, in[0].size(), *this);
    const std::size_t a1 = detail::canonical_axis(ax1, in[1].size(), *this);
    if (a0 == 0 || a1 == 0)
      throw ShapeError(describe() + ": cannot take a dot product over the batch axis 0");
    return {a0, a1};
  }

  void check_dims(const Shape& s0, const Shape& s1, std::size_t a0, std::size_t a1) const {
    if (s0[a0] >= 0 && s1[a1] >= 0 && s0[a0] != s1[a1]) {
      throw ShapeError(describe() + ": incompatible input shapes " + shape_to_string(s0) + " and " +
                       shape_to_string(s1) + ": axis " + std::to_string(a0) + " has size " +
                       std::to_string(s0[a0]) + ", axis " + std::to_string(a1) + " has size " +
                       std::to_string(s1[a1]));
    }
  }

  static Shape output_shape(std::span<const Shape> in, std::size_t a0, std::size_t a1) {
    Shape out;
    for (std::size_t d = 0; d < in[0].size(); ++d) {
      if (d != a0) out.push_back(in[0][d]);
    }
    for (std::size_t d = 1; d < in[1].size(); ++d) {
      if (d != a1) out.push_back(in[1][d]);
    }
    if (out.size() == 1) out.push_back(1);
    return out;
  }

  template <class T>
  static Tensor l2_normalize(const Tensor& x, std::size_t axis) {
    const Shape& s = x.shape();
    std::int64_t outer = 1;
    std::int64_t inner = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= s[d];
    for (std::size_t d = axis + 1; d < s.size(); ++d) inner *= s[d];
    const std::int64_t len = s[axis];
    Tensor out = x.clone();
    T* p = out.template mutable_values<T>().data();
    constexpr T kEps = static_cast<T>(1e-7);
    for (std::int64_t o = 0; o < outer; ++o) {
      for (std::int64_t i = 0; i < inner; ++i) {
        T* base = p + o * len * inner + i;
        T sq = 0;
        for (std::int64_t j = 0; j < len; ++j) sq += base[j * inner] * base[j * inner];
        const T inv = T(1) / std::sqrt(std::max(sq, kEps * kEps));
        for (std::int64_t j = 0; j < len; ++j) base[j * inner] *= inv;
      }
    }
    return out;
  }

  std::vector<std::int64_t> axes_;
  bool pair_ = false;
  bool normalize_ = false;
};

}  // namespace

KSERDE_REGISTER_LAYER(Dot);

}  // namespace kserde
