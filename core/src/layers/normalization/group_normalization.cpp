// keras.layers.GroupNormalization: the channels along `axis` are split into `groups` contiguous
// groups; per sample and group, mean and variance are taken over the group's channels and every
// non-batch position, then y = (x - mean) / sqrt(var + epsilon) * gamma[c] + beta[c].
// groups=-1 means one group per channel (instance normalization); after build the config holds
// the resolved count, as Keras's get_config writes it.
// Variables: gamma (channels,) if scale, beta (channels,) if center. The input mask passes through.
#include <cmath>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class GroupNormalization final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  GroupNormalization(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("groups", "32");
    config_default("axis", "-1");
    config_default("epsilon", "0.001");
    config_default("center", "true");
    config_default("scale", "true");
    config_default("beta_initializer", detail::kZeros);
    config_default("gamma_initializer", detail::kOnes);
    config_default("beta_regularizer", "null");
    config_default("gamma_regularizer", "null");
    config_default("beta_constraint", "null");
    config_default("gamma_constraint", "null");
    const JsonValue& c = config();
    groups_ = cfg::get_int(c, "groups", describe());
    if (groups_ <= 0 && groups_ != -1) {
      cfg::fail(describe(),
                "groups must be a positive integer or -1, got " + std::to_string(groups_));
    }
    axis_ = cfg::get_int(c, "axis", describe());
    epsilon_ = cfg::get_float(c, "epsilon", describe());
    if (!(epsilon_ >= 0.0)) cfg::fail(describe(), "epsilon must be non-negative");
    center_ = cfg::get_bool(c, "center", describe(), true);
    scale_ = cfg::get_bool(c, "scale", describe(), true);
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    if (!built()) throw ShapeError(describe() + " must be built before it is called");
    const bool f64 = compute_dtype() == DType::Float64;
    const Tensor x = f64 ? inputs[0].to(DType::Float64) : ops::as_float32(inputs[0]);
    const std::size_t ch_axis = channel_axis(x.shape());
    const std::int64_t channels = x.dim(ch_axis);
    if (channels != build_input_shapes()[0][ch_axis] ||
        x.rank() != build_input_shapes()[0].size()) {
      throw ShapeError(describe() + ": input shape " + shape_to_string(x.shape()) +
                       " is incompatible with the build shape " +
                       shape_to_string(build_input_shapes()[0]));
    }
    const std::int64_t per_group = channels / groups_;
    if (f64) return {call_float64(x, ch_axis, per_group)};
    // float16/bfloat16: Keras computes in float32 from the autocast (rounded) gamma and beta.
    const DType compute = compute_dtype();
    const bool half = compute == DType::Float16 || compute == DType::BFloat16;
    auto param = [&](std::size_t i) {
      return half ? ops::rounded_to(weight(i), compute) : weight(i);
    };
    const Tensor gamma_t = scale_ ? param(0) : Tensor();
    const Tensor beta_t = center_ ? param(scale_ ? 1 : 0) : Tensor();
    const float* gamma = scale_ ? gamma_t.f32() : nullptr;
    const float* beta = center_ ? beta_t.f32() : nullptr;
    // Rows are samples laid out as (positions..., channels).
    detail::Axes axes;
    for (std::size_t d = 1; d < x.rank(); ++d) {
      if (d != ch_axis) axes.push_back(d);
    }
    axes.push_back(ch_axis);
    const std::int64_t groups = groups_;
    const double eps = epsilon_;
    return {detail::map_rows(x, axes, [&](float* row, std::int64_t len) {
      const std::int64_t positions = len / channels;
      for (std::int64_t g = 0; g < groups; ++g) {
        const std::int64_t c0 = g * per_group;
        double mean = 0.0;
        for (std::int64_t p = 0; p < positions; ++p) {
          for (std::int64_t c = c0; c < c0 + per_group; ++c) mean += row[p * channels + c];
        }
        const auto count = static_cast<double>(positions * per_group);
        mean /= count;
        double var = 0.0;
        for (std::int64_t p = 0; p < positions; ++p) {
          for (std::int64_t c = c0; c < c0 + per_group; ++c) {
            const double dv = row[p * channels + c] - mean;
            var += dv * dv;
          }
        }
        var /= count;
        const auto inv = static_cast<float>(1.0 / std::sqrt(var + eps));
        const auto m = static_cast<float>(mean);
        for (std::int64_t p = 0; p < positions; ++p) {
          for (std::int64_t c = c0; c < c0 + per_group; ++c) {
            float v = (row[p * channels + c] - m) * inv;
            if (gamma != nullptr) v *= gamma[c];
            if (beta != nullptr) v += beta[c];
            row[p * channels + c] = v;
          }
        }
      }
    })};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    channel_axis(in.at(0));
    return {in.at(0)};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    const std::size_t a = channel_axis(in[0]);
    const std::int64_t dim = in[0][a];
    if (dim < 0) {
      throw ShapeError(describe() + ": axis " + std::to_string(axis_) + " of input shape " +
                       shape_to_string(in[0]) + " must be known");
    }
    if (groups_ == -1) {
      groups_ = dim;
      cfg::set(object_dict()["config"], "groups", JsonValue(dim), object_dict().GetAllocator());
    }
    if (dim < groups_ || dim % groups_ != 0) {
      throw ShapeError(describe() + ": the number of groups (" + std::to_string(groups_) +
                       ") must divide the number of channels (" + std::to_string(dim) + ")");
    }
    if (scale_) add_weight("gamma", {dim}, true);
    if (center_) add_weight("beta", {dim}, true);
  }

 private:
  // float64 policy, as Keras's NumPy backend computes it in double: ops.moments' mean and
  // E[x^2] - mean^2, inv = rsqrt(variance + epsilon) * gamma, y = x * inv + (beta - mean * inv).
  Tensor call_float64(const Tensor& x, std::size_t ch_axis, std::int64_t per_group) const {
    const std::int64_t channels = x.dim(ch_axis);
    const Tensor gt = scale_ ? variables().at(0).value.to(DType::Float64) : Tensor();
    const Tensor bt = center_ ? variables().at(scale_ ? 1 : 0).value.to(DType::Float64) : Tensor();
    const double* gamma = scale_ ? gt.values<double>().data() : nullptr;
    const double* beta = center_ ? bt.values<double>().data() : nullptr;
    detail::Axes axes;
    for (std::size_t d = 1; d < x.rank(); ++d) {
      if (d != ch_axis) axes.push_back(d);
    }
    axes.push_back(ch_axis);
    const double eps = epsilon_;
    return detail::map_rows<double>(x, axes, [&](double* row, std::int64_t len) {
      const std::int64_t positions = len / channels;
      for (std::int64_t c0 = 0; c0 < channels; c0 += per_group) {
        double sum = 0.0;
        double sq = 0.0;
        for (std::int64_t p = 0; p < positions; ++p) {
          for (std::int64_t c = c0; c < c0 + per_group; ++c) {
            sum += row[p * channels + c];
            sq += row[p * channels + c] * row[p * channels + c];
          }
        }
        const auto count = static_cast<double>(positions * per_group);
        const double mean = sum / count;
        const double var = sq / count - mean * mean;
        const double inv0 = 1.0 / std::sqrt(var + eps);
        for (std::int64_t c = c0; c < c0 + per_group; ++c) {
          const double inv = gamma != nullptr ? inv0 * gamma[c] : inv0;
          const double res = beta != nullptr ? -mean * inv + beta[c] : -mean * inv;
          for (std::int64_t p = 0; p < positions; ++p) {
            row[p * channels + c] = row[p * channels + c] * inv + res;
          }
        }
      }
    });
  }

  std::size_t channel_axis(const Shape& s) const {
    const std::size_t a = detail::canonical_axis(axis_, s.size(), *this);
    if (a == 0) throw ShapeError(describe() + ": axis must not be the batch axis");
    return a;
  }

  std::int64_t groups_ = 32;
  std::int64_t axis_ = -1;
  double epsilon_ = 1e-3;
  bool center_ = true;
  bool scale_ = true;
};

}  // namespace

KSERDE_REGISTER_LAYER(GroupNormalization);

}  // namespace kserde
