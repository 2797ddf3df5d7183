// keras.layers.UpSampling1D/2D/3D: enlarges spatial axes by integer factors.
//   UpSampling1D(size): repeats each step `size` times along axis 1.
//   UpSampling3D(size): repeats along the three spatial axes (nearest neighbour).
//   UpSampling2D(size, interpolation): "nearest" repeats rows/columns; "bilinear", "bicubic",
//   "lanczos3", "lanczos5" resample like keras.ops.image.resize on the NumPy/JAX backends
//   (half-pixel centres, separable kernel weights normalized per output pixel, no antialiasing),
//   height first, then width.
// `data_format` channels_first puts the spatial axes at 2.. instead of 1... No variables.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <numbers>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

// Repeats every element of `axis` `factor` times (np.repeat).
Tensor repeat_axis(const Tensor& x, std::size_t axis, std::int64_t factor) {
  if (factor == 1) return x;
  Shape s = x.shape();
  std::int64_t outer = 1;
  for (std::size_t d = 0; d <= axis; ++d) outer *= s[d];
  const std::int64_t inner_bytes = (outer == 0 ? 0 : x.num_elements() / outer) *
                                   static_cast<std::int64_t>(dtype_size(x.dtype()));
  s[axis] *= factor;
  Tensor out = Tensor::recycled_zeros(s, x.dtype());
  const std::byte* src = x.bytes().data();
  std::byte* dst = out.mutable_bytes().data();
  if (inner_bytes == 0) return out;
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t r = 0; r < factor; ++r) {
      std::memcpy(dst, src + o * inner_bytes, static_cast<std::size_t>(inner_bytes));
      dst += inner_bytes;
    }
  }
  return out;
}

class UpSamplingBase : public Layer {
 public:
  UpSamplingBase(std::shared_ptr<JsonDocument> d, std::size_t spatial)
      : Layer(std::move(d)), spatial_(spatial) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    if (spatial == 1) {
      config_default("size", "2");
      sizes_ = {cfg::get_int(config(), "size", describe())};
    } else {
      config_default("size", spatial == 2 ? "[2, 2]" : "[2, 2, 2]");
      sizes_ = cfg::get_int_tuple(config(), "size", describe(), spatial);
      // Keras saves the size as a tuple even when given an int.
      auto& a = object_dict().GetAllocator();
      JsonValue list(rapidjson::kArrayType);
      for (std::int64_t v : sizes_) list.PushBack(JsonValue(v), a);
      cfg::set(object_dict()["config"], "size", std::move(list), a);
      config_default("data_format", "\"channels_last\"");
      const std::string f = cfg::get_string(config(), "data_format", describe(), "channels_last");
      if (f != "channels_last" && f != "channels_first") {
        cfg::fail(describe(),
                  "data_format must be 'channels_last' or 'channels_first', got '" + f + "'");
      }
      first_ = f == "channels_first" ? 2 : 1;
    }
    for (std::int64_t v : sizes_) {
      if (v <= 0) cfg::fail(describe(), "size must be positive, got " + std::to_string(v));
    }
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    check_rank(inputs[0].shape());
    ctx.output_masks.clear();
    return {upsample(inputs[0])};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    check_rank(in.at(0));
    Shape s = in[0];
    for (std::size_t i = 0; i < spatial_; ++i) {
      if (s[first_ + i] >= 0) s[first_ + i] *= sizes_[i];
    }
    return {s};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    check_rank(in[0]);
  }
  virtual Tensor upsample(const Tensor& x) const {
    Tensor y = x;
    for (std::size_t i = 0; i < spatial_; ++i) y = repeat_axis(y, first_ + i, sizes_[i]);
    return y;
  }

  std::size_t spatial_;
  std::size_t first_ = 1;
  std::vector<std::int64_t> sizes_;

 private:
  void check_rank(const Shape& s) const {
    if (s.size() != spatial_ + 2) {
      throw ShapeError(describe() + " expects an input of rank " + std::to_string(spatial_ + 2) +
                       ", got " + shape_to_string(s));
    }
  }
};

class UpSampling1D final : public UpSamplingBase {
 public:
  UpSampling1D(std::shared_ptr<JsonDocument> d, Deserializer&) : UpSamplingBase(std::move(d), 1) {}
};

class UpSampling3D final : public UpSamplingBase {
 public:
  UpSampling3D(std::shared_ptr<JsonDocument> d, Deserializer&) : UpSamplingBase(std::move(d), 3) {}
};

// Resampling kernels of jax.image.resize / Keras's NumPy backend.
double triangle(double x) {
  return std::max(0.0, 1.0 - std::fabs(x));
}
double keys_cubic(double x) {
  x = std::fabs(x);
  if (x >= 2.0) return 0.0;
  if (x >= 1.0) return ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0;
  return ((1.5 * x - 2.5) * x) * x + 1.0;
}
double lanczos(double radius, double x) {
  x = std::fabs(x);
  if (x > radius) return 0.0;
  if (x <= 1e-3) return 1.0;
  const double pi = std::numbers::pi;
  return radius * std::sin(pi * x) * std::sin(pi * x / radius) / (pi * pi * x * x);
}

class UpSampling2D final : public UpSamplingBase {
 public:
  UpSampling2D(std::shared_ptr<JsonDocument> d, Deserializer&) : UpSamplingBase(std::move(d), 2) {
    config_default("interpolation", "\"nearest\"");
    interpolation_ = cfg::get_string(config(), "interpolation", describe());
    for (char& ch : interpolation_)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    cfg::set(object_dict()["config"], "interpolation",
             cfg::str(interpolation_, object_dict().GetAllocator()), object_dict().GetAllocator());
    if (interpolation_ != "nearest" && interpolation_ != "bilinear" &&
        interpolation_ != "bicubic" && interpolation_ != "lanczos3" &&
        interpolation_ != "lanczos5") {
      throw UnsupportedError(describe() + ": interpolation '" + interpolation_ +
                             "' is not supported (nearest, bilinear, bicubic, lanczos3, lanczos5)");
    }
  }

 protected:
  Tensor upsample(const Tensor& x) const override {
    if (interpolation_ == "nearest") return UpSamplingBase::upsample(x);
    // float64 (NumPy's tensordot with float64 weights) in double, anything else in float32.
    const bool f64 = x.dtype() == DType::Float64;
    Tensor y = f64 ? x : ops::as_float32(x);
    for (std::size_t i = 0; i < 2; ++i) {
      if (sizes_[i] == 1) continue;
      const std::int64_t n = y.dim(first_ + i) * sizes_[i];
      y = f64 ? resize_axis<double>(y, first_ + i, n) : resize_axis<float>(y, first_ + i, n);
    }
    return y;
  }

 private:
  double kernel(double v) const {
    if (interpolation_ == "bilinear") return triangle(v);
    if (interpolation_ == "bicubic") return keys_cubic(v);
    return lanczos(interpolation_ == "lanczos3" ? 3.0 : 5.0, v);
  }

  // Weights w[in][out] as Keras's _compute_weight_mat with scale = n/m, no translation.
  // The weights are computed in double and cast to T (NumPy's .astype(output.dtype)).
  template <class T>
  std::vector<T> weight_matrix(std::int64_t m, std::int64_t n) const {
    const double inv_scale = static_cast<double>(m) / static_cast<double>(n);
    std::vector<double> w(static_cast<std::size_t>(m * n));
    std::vector<T> out(w.size(), T(0));
    for (std::int64_t j = 0; j < n; ++j) {
      const double sample = (static_cast<double>(j) + 0.5) * inv_scale - 0.5;
      double total = 0.0;
      for (std::int64_t i = 0; i < m; ++i) {
        const double k = kernel(sample - static_cast<double>(i));
        w[static_cast<std::size_t>(i * n + j)] = k;
        total += k;
      }
      const bool valid = sample >= -0.5 && sample <= static_cast<double>(m) - 0.5;
      const bool normalizable = std::fabs(total) > 1000.0 * 1.1920928955078125e-07;
      if (!valid || !normalizable) continue;
      for (std::int64_t i = 0; i < m; ++i) {
        out[static_cast<std::size_t>(i * n + j)] =
            static_cast<T>(w[static_cast<std::size_t>(i * n + j)] / total);
      }
    }
    return out;
  }

  // out[..., j, ...] = sum_i w[i][j] * x[..., i, ...] along `axis`.
  template <class T>
  Tensor resize_axis(const Tensor& x, std::size_t axis, std::int64_t n) const {
    const std::int64_t m = x.dim(axis);
    const auto w = weight_matrix<T>(m, n);
    Shape s = x.shape();
    std::int64_t outer = 1;
    std::int64_t inner = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= s[d];
    for (std::size_t d = axis + 1; d < s.size(); ++d) inner *= s[d];
    s[axis] = n;
    Tensor out = Tensor::recycled_zeros(s, sizeof(T) == 8 ? DType::Float64 : DType::Float32);
    const T* px = x.template values<T>().data();
    T* po = out.template mutable_values<T>().data();
    for (std::int64_t o = 0; o < outer; ++o) {
      for (std::int64_t j = 0; j < n; ++j) {
        T* dst = po + (o * n + j) * inner;
        for (std::int64_t i = 0; i < m; ++i) {
          const T wij = w[static_cast<std::size_t>(i * n + j)];
          if (wij == T(0)) continue;
          const T* src = px + (o * m + i) * inner;
          for (std::int64_t k = 0; k < inner; ++k) dst[k] += wij * src[k];
        }
      }
    }
    return out;
  }

  std::string interpolation_;
};

}  // namespace

KSERDE_REGISTER_LAYER(UpSampling1D);
KSERDE_REGISTER_LAYER(UpSampling2D);
KSERDE_REGISTER_LAYER(UpSampling3D);

}  // namespace kserde
