// keras.layers.BatchNormalization at inference: normalizes with the moving statistics,
//   y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta
// per position along `axis` (an int; a list of axes from Keras 2 files is accepted too, giving
// parameters of shape (dims at those axes)). Training-mode batch statistics are not used.
// Variables: gamma (if scale), beta (if center), moving_mean, moving_variance (non-trainable),
// then moving_stddev, renorm_mean, renorm_stddev (non-trainable) when renorm.
// The input mask, if any, passes through.
#include <algorithm>
#include <cmath>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class BatchNormalization final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  BatchNormalization(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("axis", "-1");
    config_default("momentum", "0.99");
    config_default("epsilon", "0.001");
    config_default("center", "true");
    config_default("scale", "true");
    config_default("beta_initializer", detail::kZeros);
    config_default("gamma_initializer", detail::kOnes);
    config_default("moving_mean_initializer", detail::kZeros);
    config_default("moving_variance_initializer", detail::kOnes);
    config_default("beta_regularizer", "null");
    config_default("gamma_regularizer", "null");
    config_default("beta_constraint", "null");
    config_default("gamma_constraint", "null");
    config_default("synchronized", "false");
    config_default("renorm", "false");
    config_default("renorm_clipping", "null");
    config_default("renorm_momentum", "0.99");
    const JsonValue& c = config();
    axes_ = detail::axis_values(c, "axis", describe(), -1);
    if (axes_.empty()) cfg::fail(describe(), "'axis' must name at least one axis");
    epsilon_ = cfg::get_float(c, "epsilon", describe());
    if (!(epsilon_ >= 0.0)) cfg::fail(describe(), "epsilon must be non-negative");
    center_ = cfg::get_bool(c, "center", describe(), true);
    scale_ = cfg::get_bool(c, "scale", describe(), true);
    renorm_ = cfg::get_bool(c, "renorm", describe(), false);
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    if (inputs[0].dtype() == DType::Float64) return {call_float64(inputs[0])};
    const Tensor x = ops::as_float32(inputs[0]);
    const auto axes = resolve(x.shape());
    check_against_build(x.shape(), axes);
    // Fold the statistics into one scale and offset per parameter position.
    const std::size_t first_stat = (scale_ ? 1 : 0) + (center_ ? 1 : 0);
    const auto n = static_cast<std::size_t>(weight(first_stat).num_elements());
    detail::FloatBuffer inv(n);
    detail::FloatBuffer res(n);
    const float* mean = weight(first_stat).f32();
    const float* var = weight(first_stat + 1).f32();
    const float* gamma = scale_ ? weight(0).f32() : nullptr;
    const float* beta = center_ ? weight(scale_ ? 1 : 0).f32() : nullptr;
    const auto eps = static_cast<float>(epsilon_);
    for (std::size_t i = 0; i < inv.size(); ++i) {
      inv[i] = 1.0f / std::sqrt(var[i] + eps);
      if (gamma != nullptr) inv[i] *= gamma[i];
      res[i] = -mean[i] * inv[i];
      if (beta != nullptr) res[i] += beta[i];
    }
    if (axes.size() == 1) {  // (outer, C, inner) without transposing
      const std::size_t a = axes[0];
      std::int64_t inner = 1;
      for (std::size_t d = a + 1; d < x.rank(); ++d) inner *= x.dim(d);
      const std::int64_t ch = x.dim(a);
      Tensor y = Tensor::uninitialized(x.shape(), DType::Float32);  // every element is written
      const float* px = x.f32();
      float* py = y.f32_mut();
      const std::int64_t total = x.num_elements();
      for (std::int64_t base = 0; base < total; base += ch * inner) {
        for (std::int64_t c = 0; c < ch; ++c) {
          const float s = inv[static_cast<std::size_t>(c)];
          const float o = res[static_cast<std::size_t>(c)];
          const std::int64_t off = base + c * inner;
          for (std::int64_t i = 0; i < inner; ++i) py[off + i] = px[off + i] * s + o;
        }
      }
      return {y};
    }
    return {detail::map_rows(x, axes, [&](float* row, std::int64_t len) {
      for (std::int64_t j = 0; j < len; ++j) {
        row[j] = row[j] * inv[static_cast<std::size_t>(j)] + res[static_cast<std::size_t>(j)];
      }
    })};
  }

  // float64 inputs (a float64 policy): Keras computes in float64, with the same folding.
  Tensor call_float64(const Tensor& x) const {
    const auto axes = resolve(x.shape());
    check_against_build(x.shape(), axes);
    const std::size_t first_stat = (scale_ ? 1 : 0) + (center_ ? 1 : 0);
    auto as_double = [this](std::size_t i) { return variables().at(i).value.to(DType::Float64); };
    const Tensor mean = as_double(first_stat);
    const Tensor var = as_double(first_stat + 1);
    const Tensor gamma = scale_ ? as_double(0) : Tensor();
    const Tensor beta = center_ ? as_double(scale_ ? 1 : 0) : Tensor();
    const auto n = static_cast<std::size_t>(mean.num_elements());
    std::vector<double> inv(n), res(n);
    for (std::size_t i = 0; i < n; ++i) {
      inv[i] = 1.0 / std::sqrt(var.values<double>()[i] + epsilon_);
      if (scale_) inv[i] *= gamma.values<double>()[i];
      res[i] = -mean.values<double>()[i] * inv[i];
      if (center_) res[i] += beta.values<double>()[i];
    }
    return detail::map_rows<double>(x, axes, [&](double* row, std::int64_t len) {
      for (std::int64_t j = 0; j < len; ++j) {
        const auto k = static_cast<std::size_t>(j);
        row[j] = row[j] * inv[k] + res[k];
      }
    });
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    resolve(in.at(0));
    return {in.at(0)};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    const auto axes = resolve(in[0]);
    Shape param;
    for (std::size_t a : axes) {
      if (in[0][a] < 0) {
        throw ShapeError(describe() + ": axis " + std::to_string(a) + " of input shape " +
                         shape_to_string(in[0]) + " must be known");
      }
      param.push_back(in[0][a]);
    }
    if (scale_) add_weight("gamma", param, true);
    if (center_) add_weight("beta", param, true);
    add_weight("moving_mean", param, false);
    add_weight("moving_variance", param, false);
    if (renorm_) {
      add_weight("moving_stddev", param, false);
      add_weight("renorm_mean", param, false);
      add_weight("renorm_stddev", param, false);
    }
  }

 private:
  detail::Axes resolve(const Shape& s) const {
    detail::Axes axes;
    for (std::int64_t a : axes_) axes.push_back(detail::canonical_axis(a, s.size(), *this));
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) {
      cfg::fail(describe(), "'axis' contains duplicates");
    }
    return axes;
  }

  void check_against_build(const Shape& s, const detail::Axes& axes) const {
    if (!built()) throw ShapeError(describe() + " must be built before it is called");
    const Shape& built_shape = build_input_shapes().at(0);
    bool ok = s.size() == built_shape.size();
    for (std::size_t a : axes) ok = ok && (built_shape[a] < 0 || s[a] == built_shape[a]);
    if (!ok) {
      throw ShapeError(describe() + ": input shape " + shape_to_string(s) +
                       " is incompatible with the build shape " + shape_to_string(built_shape));
    }
  }

  std::vector<std::int64_t> axes_;
  double epsilon_ = 1e-3;
  bool center_ = true;
  bool scale_ = true;
  bool renorm_ = false;
};

}  // namespace

KSERDE_REGISTER_LAYER(BatchNormalization);

}  // namespace kserde
