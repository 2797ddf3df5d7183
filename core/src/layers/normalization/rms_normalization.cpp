// keras.layers.RMSNormalization: y = x / sqrt(mean(x^2 over axis) + epsilon) * scale, with `axis`
// an int or list. Variable: scale (dims at the sorted axes). After build the config "axis" is a
// list (sorted, as given), as Keras stores it. Keras does not propagate masks through this layer.
#include <algorithm>
#include <cmath>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class RMSNormalization final : public Layer {
 public:
  RMSNormalization(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("axis", "-1");
    config_default("epsilon", "1e-06");
    axes_ = detail::axis_values(config(), "axis", describe(), -1);
    epsilon_ = cfg::get_float(config(), "epsilon", describe());
    if (!(epsilon_ >= 0.0)) cfg::fail(describe(), "epsilon must be non-negative");
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    if (!built()) throw ShapeError(describe() + " must be built before it is called");
    const bool f64 = compute_dtype() == DType::Float64;
    const Tensor x = f64 ? inputs[0].to(DType::Float64) : ops::as_float32(inputs[0]);
    const auto axes = resolve(x.shape());
    std::int64_t n = 1;
    for (std::size_t a : axes) n *= x.dim(a);
    if (weight(0).num_elements() != n) {
      throw ShapeError(describe() + ": input shape " + shape_to_string(x.shape()) +
                       " does not match the scale of shape " + shape_to_string(weight(0).shape()));
    }
    const double eps = epsilon_;
    ctx.output_masks.clear();
    if (f64) {
      // float64 policy: (x * rsqrt(mean(x^2) + epsilon)) * scale in double, as NumPy computes it.
      const Tensor sv = variables().at(0).value.to(DType::Float64);
      const double* scale = sv.values<double>().data();
      return {detail::map_rows<double>(x, axes, [&](double* row, std::int64_t len) {
        double ms = 0.0;
        for (std::int64_t j = 0; j < len; ++j) ms += row[j] * row[j];
        ms /= static_cast<double>(len);
        const double inv = 1.0 / std::sqrt(ms + eps);
        for (std::int64_t j = 0; j < len; ++j) row[j] = row[j] * inv * scale[j];
      })};
    }
    // float16/bfloat16: Keras computes in float32 from the autocast (rounded) scale.
    const DType compute = compute_dtype();
    const Tensor scale_t = compute == DType::Float16 || compute == DType::BFloat16
                               ? ops::rounded_to(weight(0), compute)
                               : weight(0);
    const float* scale = scale_t.f32();
    return {detail::map_rows(x, axes, [&](float* row, std::int64_t len) {
      double ms = 0.0;
      for (std::int64_t j = 0; j < len; ++j) ms += static_cast<double>(row[j]) * row[j];
      ms /= static_cast<double>(len);
      const auto inv = static_cast<float>(1.0 / std::sqrt(ms + eps));
      for (std::int64_t j = 0; j < len; ++j) row[j] = row[j] * inv * scale[j];
    })};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    resolve(in.at(0));
    return {in.at(0)};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    Shape param;
    for (std::size_t a : resolve(in[0])) {
      if (in[0][a] < 0) {
        throw ShapeError(describe() + ": axis " + std::to_string(a) + " of input shape " +
                         shape_to_string(in[0]) + " must be known");
      }
      param.push_back(in[0][a]);
    }
    add_weight("scale", param, true);
    // Keras keeps self.axis as a sorted list after build, so get_config writes a list.
    auto sorted = axes_;
    std::sort(sorted.begin(), sorted.end());
    auto& a = object_dict().GetAllocator();
    JsonValue list(rapidjson::kArrayType);
    for (std::int64_t ax : sorted) list.PushBack(JsonValue(ax), a);
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
  double epsilon_ = 1e-6;
};

}  // namespace

KSERDE_REGISTER_LAYER(RMSNormalization);

}  // namespace kserde
