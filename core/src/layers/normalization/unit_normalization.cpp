// keras.layers.UnitNormalization: scales each sample to unit L2 norm over `axis` (int or list),
//   y = x / sqrt(max(sum(x^2), 1e-24))   (keras.ops.normalize with epsilon=1e-12)
// No variables. The input mask passes through.
#include <algorithm>
#include <cmath>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class UnitNormalization final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  UnitNormalization(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("axis", "-1");
    axes_ = detail::axis_values(config(), "axis", describe(), -1);
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    if (compute_dtype() == DType::Float64) {
      // float64 policy: the same in double, as NumPy computes it.
      const Tensor x = inputs[0].to(DType::Float64);
      return {detail::map_rows<double>(x, resolve(x.shape()), [](double* row, std::int64_t len) {
        double sq = 0.0;
        for (std::int64_t j = 0; j < len; ++j) sq += row[j] * row[j];
        const double inv = 1.0 / std::sqrt(std::max(sq, 1e-24));
        for (std::int64_t j = 0; j < len; ++j) row[j] *= inv;
      })};
    }
    const Tensor x = ops::as_float32(inputs[0]);
    return {detail::map_rows(x, resolve(x.shape()), [](float* row, std::int64_t len) {
      float sq = 0.0f;
      for (std::int64_t j = 0; j < len; ++j) sq += row[j] * row[j];
      const float inv = 1.0f / std::sqrt(std::max(sq, 1e-24f));
      for (std::int64_t j = 0; j < len; ++j) row[j] *= inv;
    })};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    resolve(in.at(0));
    return {in.at(0)};
  }

 private:
  detail::Axes resolve(const Shape& s) const {
    detail::Axes axes;
    for (std::int64_t a : axes_) axes.push_back(detail::canonical_axis(a, s.size(), *this));
    std::sort(axes.begin(), axes.end());
    axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
    return axes;
  }

  std::vector<std::int64_t> axes_;
};

}  // namespace

KSERDE_REGISTER_LAYER(UnitNormalization);

}  // namespace kserde
