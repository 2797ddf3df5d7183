// keras.layers.Softmax: softmax over `axis` (an int, or a list of axes normalized jointly as
// exp(x - logsumexp(x over axes))). An optional mask (the "mask" keyword tensor, else the input's
// mask) must broadcast to the input; masked-out positions (false, or <= 0.5 for non-bool masks)
// get logits of -1e9 and an output of 0. No variables. The input mask passes through.
#include <algorithm>
#include <cmath>

#include "layers/common.hpp"
#include "layers/merging/merge.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class Softmax final : public Layer {
 public:
  bool supports_masking() const override { return true; }
  Softmax(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("axis", "-1");
    axes_ = detail::axis_values(config(), "axis", describe(), -1);
    if (axes_.empty()) cfg::fail(describe(), "'axis' must name at least one axis");
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    Tensor x = ops::as_float32(inputs[0]);
    std::optional<Tensor> keep;  // float 0/1, broadcastable to x
    if (auto it = ctx.kwargs.find("mask"); it != ctx.kwargs.end()) {
      keep = mask_to_keep(it->second, x.shape());
    } else if (!ctx.input_masks.empty() && ctx.input_masks[0]) {
      keep = mask_to_keep(*ctx.input_masks[0], x.shape());
    }
    if (keep) {
      const Tensor big = Tensor::from_floats({}, std::vector<float>{-1e9f});
      x = detail::select(*keep, x, big, describe());
    }
    detail::Axes axes;
    for (std::int64_t a : axes_) axes.push_back(detail::canonical_axis(a, x.rank(), *this));
    std::sort(axes.begin(), axes.end());
    axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
    if (inputs[0].dtype() == DType::Float64) {  // a float64 policy: in double
      // Keras replaces masked logits by -1e9 and masked results by 0 (numpy.where).
      const Tensor keep64 = keep ? keep->to(DType::Float64) : Tensor();
      const Tensor x64 =
          keep ? detail::broadcast_binary<double>(
                     inputs[0], keep64, [](double a, double k) { return k > 0.5 ? a : -1e9; },
                     describe())
               : inputs[0];
      Tensor y64 = detail::map_rows<double>(x64, axes, [](double* row, std::int64_t len) {
        double mx = -INFINITY;
        for (std::int64_t j = 0; j < len; ++j) mx = std::max(mx, row[j]);
        double sum = 0.0;
        for (std::int64_t j = 0; j < len; ++j) {
          row[j] = std::exp(row[j] - mx);
          sum += row[j];
        }
        for (std::int64_t j = 0; j < len; ++j) row[j] /= sum;
      });
      if (keep) {
        y64 = detail::broadcast_binary<double>(
            y64, keep64, [](double a, double k) { return k > 0.5 ? a : 0.0; }, describe());
      }
      return {y64};
    }
    Tensor y = detail::map_rows(x, axes, [](float* row, std::int64_t len) {
      float mx = -INFINITY;
      for (std::int64_t j = 0; j < len; ++j) mx = std::max(mx, row[j]);
      float sum = 0.0f;
      for (std::int64_t j = 0; j < len; ++j) {
        row[j] = std::exp(row[j] - mx);
        sum += row[j];
      }
      for (std::int64_t j = 0; j < len; ++j) row[j] /= sum;
    });
    if (keep) {
      const Tensor zero = Tensor::from_floats({}, std::vector<float>{0.0f});
      y = detail::select(*keep, y, zero, describe());
    }
    return {y};
  }

 private:
  // Validates the mask's broadcastability and converts it to 0/1 floats.
  Tensor mask_to_keep(const Tensor& mask, const Shape& x_shape) const {
    bool ok = mask.rank() <= x_shape.size();
    for (std::size_t i = 1; ok && i <= mask.rank(); ++i) {
      const std::int64_t m = mask.dim(mask.rank() - i);
      ok = m == 1 || m == x_shape[x_shape.size() - i];
    }
    if (!ok) {
      throw ShapeError(describe() + ": the mask of shape " + shape_to_string(mask.shape()) +
                       " must be broadcastable to the input of shape " + shape_to_string(x_shape));
    }
    Tensor keep = Tensor::recycled_zeros(mask.shape(), DType::Float32);
    float* k = keep.f32_mut();
    if (mask.dtype() == DType::Bool) {
      const auto v = mask.values<bool>();
      for (std::size_t i = 0; i < v.size(); ++i) k[i] = v[i] ? 1.0f : 0.0f;
    } else {
      const Tensor f = ops::as_float32(mask);
      const float* v = f.f32();
      for (std::int64_t i = 0; i < f.num_elements(); ++i) k[i] = v[i] > 0.5f ? 1.0f : 0.0f;
    }
    return keep;
  }

  std::vector<std::int64_t> axes_;
};

}  // namespace

KSERDE_REGISTER_LAYER(Softmax);

}  // namespace kserde
