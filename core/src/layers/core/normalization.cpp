// keras.layers.Normalization (preprocessing): y = (x - mean) / max(sqrt(variance), 1e-7), or with
// invert=True y = mean + x * max(sqrt(variance), 1e-7). Statistics are kept per position along
// `axis` (int, list, or null/[] for one global mean) and broadcast over the other axes.
// Variables (only when the config gives no `mean`/`variance`, i.e. the layer was adapted):
// mean, variance (shape: dims at the sorted axes) and count (int64 scalar), all non-trainable.
// With `mean`/`variance` in the config (numbers or arrays aligned to the trailing kept axes)
// there are no variables. The input mask passes through.
#include <algorithm>
#include <cmath>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class Normalization final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  Normalization(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("axis", "[-1]");
    config_default("invert", "false");
    config_default("mean", "null");
    config_default("variance", "null");
    const JsonValue& c = config();
    if (cfg::has_non_null(c, "axis")) axes_ = cfg::get_int_tuple(c, "axis", describe(), 0);
    invert_ = cfg::get_bool(c, "invert", describe(), false);
    const bool has_mean = cfg::has_non_null(c, "mean");
    if (has_mean != cfg::has_non_null(c, "variance")) {
      cfg::fail(describe(), "both 'mean' and 'variance' must be set, or neither");
    }
    if (has_mean) {
      input_mean_ = detail::array_from_json(*cfg::find(c, "mean"), "mean", describe());
      input_var_ = detail::array_from_json(*cfg::find(c, "variance"), "variance", describe());
      if (input_mean_->shape() != input_var_->shape()) {
        cfg::fail(describe(), "'mean' and 'variance' must have the same shape");
      }
      if (input_mean_->rank() > axes_.size()) {
        cfg::fail(describe(), "the rank of 'mean' must not exceed the number of axes");
      }
    }
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    if (!built()) throw ShapeError(describe() + " must be built before it is called");
    const Tensor x = ops::as_float32(inputs[0]);
    const Shape& bs = build_input_shapes()[0];
    bool ok = x.rank() == bs.size();
    for (std::size_t a : keep_) ok = ok && x.dim(a) == bs[a];
    if (!ok) {
      throw ShapeError(describe() + ": input shape " + shape_to_string(x.shape()) +
                       " is incompatible with the build shape " + shape_to_string(bs));
    }
    if (inputs[0].dtype() == DType::Float64) return {call_float64(inputs[0])};
    Tensor mean = input_mean_ ? stat_mean_ : ops::as_float32(weight(0)).reshaped(bcast_);
    Tensor var = input_mean_ ? stat_var_ : ops::as_float32(weight(1)).reshaped(bcast_);
    Tensor denom = var.clone();
    for (float& v : denom.mutable_values<float>()) v = std::max(std::sqrt(v), 1e-7f);
    Tensor y;
    if (invert_) {
      y = detail::broadcast_binary(
          x, denom, [](float a, float b) { return a * b; }, describe());
      y = detail::broadcast_binary(
          y, mean, [](float a, float b) { return b + a; }, describe());
    } else {
      y = detail::broadcast_binary(
          x, mean, [](float a, float b) { return a - b; }, describe());
      y = detail::broadcast_binary(
          y, denom, [](float a, float b) { return a / b; }, describe());
    }
    return {y};
  }

  // float64 policy: Keras's (x - mean) / max(sqrt(variance), 1e-7) (invert: mean + x * ...) in
  // double, from the float64 variables (a config mean/variance is held as float32).
  Tensor call_float64(const Tensor& x) const {
    const Tensor mean = input_mean_ ? stat_mean_.to(DType::Float64)
                                    : variables().at(0).value.to(DType::Float64).reshaped(bcast_);
    Tensor denom = input_mean_ ? stat_var_.to(DType::Float64)
                               : variables().at(1).value.to(DType::Float64).reshaped(bcast_);
    for (double& v : denom.mutable_values<double>()) v = std::max(std::sqrt(v), 1e-7);
    if (invert_) {
      const Tensor y = detail::broadcast_binary<double>(
          x, denom, [](double a, double b) { return a * b; }, describe());
      return detail::broadcast_binary<double>(
          y, mean, [](double a, double b) { return b + a; }, describe());
    }
    const Tensor y = detail::broadcast_binary<double>(
        x, mean, [](double a, double b) { return a - b; }, describe());
    return detail::broadcast_binary<double>(
        y, denom, [](double a, double b) { return a / b; }, describe());
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    const Shape& s = in[0];
    keep_.clear();
    for (std::int64_t a : axes_) keep_.push_back(detail::canonical_axis(a, s.size(), *this));
    std::sort(keep_.begin(), keep_.end());
    Shape stat_shape;
    bcast_.assign(s.size(), 1);
    for (std::size_t a : keep_) {
      if (s[a] < 0) {
        throw ShapeError(describe() + ": kept axis " + std::to_string(a) + " of input shape " +
                         shape_to_string(s) + " must be known");
      }
      stat_shape.push_back(s[a]);
      bcast_[a] = s[a];
    }
    if (!input_mean_) {
      add_weight("mean", stat_shape, false);
      add_weight("variance", stat_shape, false);
      variables().push_back(Variable{"count", Tensor({}, DType::Int64), false});
      return;
    }
    // Config statistics: trailing dims line up with the trailing kept axes.
    Shape expanded(s.size(), 1);
    const Shape& ms = input_mean_->shape();
    if (ms.size() > keep_.size()) throw ShapeError(describe() + ": 'mean' has too many dimensions");
    for (std::size_t i = 1; i <= ms.size(); ++i)
      expanded[keep_[keep_.size() - i]] = ms[ms.size() - i];
    stat_mean_ = detail::broadcast_to(input_mean_->reshaped(expanded), bcast_, describe());
    stat_var_ = detail::broadcast_to(input_var_->reshaped(expanded), bcast_, describe());
  }

 private:
  std::vector<std::int64_t> axes_;
  bool invert_ = false;
  std::optional<Tensor> input_mean_;
  std::optional<Tensor> input_var_;
  detail::Axes keep_;
  Shape bcast_;
  Tensor stat_mean_;
  Tensor stat_var_;
};

}  // namespace

KSERDE_REGISTER_LAYER(Normalization);

}  // namespace kserde
