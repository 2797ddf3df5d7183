// keras.layers.LayerNormalization: per sample, over the axes in `axis` (int or list),
//   y = (x - mean) / sqrt(var + epsilon) * gamma + beta
// with gamma/beta of shape (dims at the sorted axes). With the deprecated rms_scaling=True Keras
// computes y = x / sqrt(var + epsilon) * gamma (no centering, no beta; var is still the variance).
// Variables: gamma (if scale or rms_scaling), beta (if center and not rms_scaling).
// After build, config "axis" holds the sorted non-negative axes, as Keras's get_config writes it.
// The input mask, if any, passes through.
#include <algorithm>
#include <cmath>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class LayerNormalization final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  // Keras computes it in float32 whatever the input dtype (autocast=False), then casts.
  bool autocast() const override { return false; }
  LayerNormalization(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("axis", "-1");
    config_default("epsilon", "0.001");
    config_default("center", "true");
    config_default("scale", "true");
    config_default("rms_scaling", "false");
    config_default("beta_initializer", detail::kZeros);
    config_default("gamma_initializer", detail::kOnes);
    config_default("beta_regularizer", "null");
    config_default("gamma_regularizer", "null");
    config_default("beta_constraint", "null");
    config_default("gamma_constraint", "null");
    const JsonValue& c = config();
    axes_ = detail::axis_values(c, "axis", describe(), -1);
    epsilon_ = cfg::get_float(c, "epsilon", describe());
    if (!(epsilon_ >= 0.0)) cfg::fail(describe(), "epsilon must be non-negative");
    center_ = cfg::get_bool(c, "center", describe(), true);
    scale_ = cfg::get_bool(c, "scale", describe(), true);
    rms_ = cfg::get_bool(c, "rms_scaling", describe(), false);
    has_gamma_ = scale_ || rms_;
    has_beta_ = center_ && !rms_;
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    if (!built()) throw ShapeError(describe() + " must be built before it is called");
    if (inputs[0].dtype() == DType::Float64) return {call_float64(inputs[0])};
    const Tensor x = ops::as_float32(inputs[0]);
    const auto axes = resolve(x.shape());
    std::int64_t n = 1;
    for (std::size_t a : axes) n *= x.dim(a);
    const float* gamma = has_gamma_ ? weight(0).f32() : nullptr;
    const float* beta = has_beta_ ? weight(has_gamma_ ? 1 : 0).f32() : nullptr;
    if ((has_gamma_ && weight(0).num_elements() != n) ||
        (has_beta_ && weight(has_gamma_ ? 1 : 0).num_elements() != n)) {
      throw ShapeError(describe() + ": input shape " + shape_to_string(x.shape()) +
                       " does not match the layer's parameters");
    }
    const double eps = epsilon_;
    const bool rms = rms_;
    return {detail::map_rows(x, axes, [&](float* row, std::int64_t len) {
      double mean = 0.0;
      for (std::int64_t j = 0; j < len; ++j) mean += row[j];
      mean /= static_cast<double>(len);
      double var = 0.0;
      for (std::int64_t j = 0; j < len; ++j) var += (row[j] - mean) * (row[j] - mean);
      var /= static_cast<double>(len);
      const auto inv = static_cast<float>(1.0 / std::sqrt(var + eps));
      const auto m = static_cast<float>(mean);
      for (std::int64_t j = 0; j < len; ++j) {
        const auto k = static_cast<std::size_t>(j);
        float v = rms ? row[j] * inv : (row[j] - m) * inv;
        if (gamma != nullptr) v *= gamma[k];
        if (beta != nullptr) v += beta[k];
        row[j] = v;
      }
    })};
  }

  // float64 inputs: Keras computes in float64 (at least float32) with ops.layer_normalization's
  // folding, inv = gamma / sqrt(var + epsilon), y = x * inv + (beta - mean * inv).
  Tensor call_float64(const Tensor& x) const {
    const auto axes = resolve(x.shape());
    std::int64_t n = 1;
    for (std::size_t a : axes) n *= x.dim(a);
    const Tensor gamma = has_gamma_ ? variables().at(0).value.to(DType::Float64) : Tensor();
    const Tensor beta =
        has_beta_ ? variables().at(has_gamma_ ? 1 : 0).value.to(DType::Float64) : Tensor();
    if ((has_gamma_ && gamma.num_elements() != n) || (has_beta_ && beta.num_elements() != n)) {
      throw ShapeError(describe() + ": input shape " + shape_to_string(x.shape()) +
                       " does not match the layer's parameters");
    }
    const double* g = has_gamma_ ? gamma.values<double>().data() : nullptr;
    const double* b = has_beta_ ? beta.values<double>().data() : nullptr;
    return detail::map_rows<double>(x, axes, [&](double* row, std::int64_t len) {
      double mean = 0.0;
      for (std::int64_t j = 0; j < len; ++j) mean += row[j];
      mean /= static_cast<double>(len);
      double var = 0.0;
      for (std::int64_t j = 0; j < len; ++j) var += (row[j] - mean) * (row[j] - mean);
      var /= static_cast<double>(len);
      const double inv0 = 1.0 / std::sqrt(var + epsilon_);
      for (std::int64_t j = 0; j < len; ++j) {
        const double inv = g != nullptr ? inv0 * g[j] : inv0;
        if (rms_) {
          row[j] = row[j] * inv0 * (g != nullptr ? g[j] : 1.0);
        } else {
          row[j] = row[j] * inv + ((b != nullptr ? b[j] : 0.0) - mean * inv);
        }
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
    if (has_gamma_) add_weight("gamma", param, true);
    if (has_beta_) add_weight("beta", param, true);
    // Keras stores the canonical axes back into self.axis, so get_config writes that list.
    auto& a = object_dict().GetAllocator();
    JsonValue list(rapidjson::kArrayType);
    for (std::size_t ax : axes) list.PushBack(JsonValue(static_cast<std::int64_t>(ax)), a);
    cfg::set(object_dict()["config"], "axis", std::move(list), a);
  }

 private:
  detail::Axes resolve(const Shape& s) const {
    detail::Axes axes;
    for (std::int64_t a : axes_) axes.push_back(detail::canonical_axis(a, s.size(), *this));
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) {
      cfg::fail(describe(), "duplicate axes are not allowed");
    }
    return axes;
  }

  std::vector<std::int64_t> axes_;
  double epsilon_ = 1e-3;
  bool center_ = true;
  bool scale_ = true;
  bool rms_ = false;
  bool has_gamma_ = true;
  bool has_beta_ = true;
};

}  // namespace

KSERDE_REGISTER_LAYER(LayerNormalization);

}  // namespace kserde
