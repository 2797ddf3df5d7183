// keras.layers.Maximum and keras.layers.Minimum: elementwise max/min of the inputs (NaN
// propagates, as np.maximum/np.minimum). With masks, a masked-out entry never wins (Keras's
// _apply_merge_op_and_or_mask). No variables.
#include <cmath>

#include "layers/merging/merge.hpp"

namespace kserde {

namespace {

float nan_max(float a, float b) {
  return std::isnan(a) ? a : (std::isnan(b) ? b : (a > b ? a : b));
}
float nan_min(float a, float b) {
  return std::isnan(a) ? a : (std::isnan(b) ? b : (a < b ? a : b));
}

class Maximum final : public detail::Merge {
 public:
  Maximum(std::shared_ptr<JsonDocument> d, Deserializer&) : Merge(std::move(d)) {}

 protected:
  DoubleOp float64_op() const override {
    return [](double a, double b) {
      return std::isnan(a) ? a : (std::isnan(b) ? b : (a > b ? a : b));
    };
  }
  Tensor merge(const TensorList& xs, const MaskList& masks) const override {
    return detail::masked_fold(xs, masks, nan_max, describe()).clone();
  }
  Tensor merge_float64(const TensorList& xs, const MaskList& masks) const override {
    return detail::masked_fold(xs, masks, float64_op(), describe()).clone();
  }
};

class Minimum final : public detail::Merge {
 public:
  Minimum(std::shared_ptr<JsonDocument> d, Deserializer&) : Merge(std::move(d)) {}

 protected:
  DoubleOp float64_op() const override {
    return [](double a, double b) {
      return std::isnan(a) ? a : (std::isnan(b) ? b : (a < b ? a : b));
    };
  }
  Tensor merge(const TensorList& xs, const MaskList& masks) const override {
    return detail::masked_fold(xs, masks, nan_min, describe()).clone();
  }
  Tensor merge_float64(const TensorList& xs, const MaskList& masks) const override {
    return detail::masked_fold(xs, masks, float64_op(), describe()).clone();
  }
};

}  // namespace

KSERDE_REGISTER_LAYER(Maximum);
KSERDE_REGISTER_LAYER(Minimum);

}  // namespace kserde
