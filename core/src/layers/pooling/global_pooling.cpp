// keras.layers.GlobalMaxPooling1D/2D/3D and GlobalAveragePooling1D/2D/3D: max or mean over all
// spatial positions, per channel; keepdims keeps the spatial axes as size 1.
// GlobalAveragePooling1D honours a mask (batch, steps) as Keras does: sum(x * mask) / sum(mask)
// (a fully masked row gives 0/0 = NaN, as in Keras); GlobalMaxPooling1D ignores masks, as in
// Keras (its call takes no mask). Neither passes a mask on. No variables.
#include <algorithm>
#include <limits>

#include "layers/common.hpp"
#include "layers/convolutional/spatial.hpp"

namespace kserde {

namespace {

class GlobalPooling : public Layer {
 public:
  GlobalPooling(std::shared_ptr<JsonDocument> d, std::size_t rank, bool max)
      : Layer(std::move(d)), rank_(rank), max_(max) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("data_format", "\"channels_last\"");
    config_default("keepdims", "false");
    channels_first_ = spatial::parse_channels_first(config(), describe());
    keepdims_ = cfg::get_bool(config(), "keepdims", describe(), false);
    spatial::write_string(object_dict(), "data_format",
                          channels_first_ ? "channels_first" : "channels_last");
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    check_rank(inputs[0].shape());
    // Keras reduces with NumPy's max / mean in the input's dtype: float64 stays double.
    const bool f64 = inputs[0].dtype() == DType::Float64;
    const Tensor x = f64 ? inputs[0] : ops::as_float32(inputs[0]);
    const std::int64_t n = x.dim(0);
    const std::int64_t p = spatial::product(spatial::spatial_of(x.shape(), channels_first_));
    const Tensor mask = (!max_ && rank_ == 1) ? find_mask(ctx, n, p) : Tensor();
    const float* m = mask.valid() && mask.num_elements() > 0 ? mask.f32() : nullptr;
    Tensor y = Tensor::recycled_zeros(output_shape(x.shape()), x.dtype());
    if (f64) {
      reduce<double>(x, m, y);
    } else {
      reduce<float>(x, m, y);
    }
    return {y};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    check_rank(in.at(0));
    return {output_shape(in[0])};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + ": expects one input");
    check_rank(in[0]);
  }

 private:
  void check_rank(const Shape& s) const {
    if (s.size() != rank_ + 2) {
      throw ShapeError(describe() + ": expects an input of rank " + std::to_string(rank_ + 2) +
                       ", got shape " + shape_to_string(s));
    }
  }

  Shape output_shape(const Shape& in) const {
    const std::int64_t c = spatial::channels_of(in, channels_first_);
    if (!keepdims_) return {in[0], c};
    return spatial::make_shape(in[0], spatial::Dims(rank_, 1), c, channels_first_);
  }

  // The mask of the input (keyword "mask" first, then the propagated one) as float32 (n, steps),
  // or an invalid tensor when there is none.
  Tensor find_mask(const CallContext& ctx, std::int64_t n, std::int64_t steps) const {
    const Tensor* mask = nullptr;
    if (auto it = ctx.kwargs.find("mask"); it != ctx.kwargs.end()) {
      mask = &it->second;
    } else if (!ctx.input_masks.empty() && ctx.input_masks[0].has_value()) {
      mask = &*ctx.input_masks[0];
    }
    if (mask == nullptr) return Tensor();
    if (mask->shape() != Shape{n, steps}) {
      throw ShapeError(
          describe() + ": mask shape " + shape_to_string(mask->shape()) +
          " does not match the input's (batch, steps) = " + shape_to_string({n, steps}));
    }
    return mask->to(DType::Float32);
  }

  template <class T>
  void reduce(const Tensor& x, const float* m, Tensor& y) const {
    const std::int64_t n = x.dim(0);
    const std::int64_t c = spatial::channels_of(x.shape(), channels_first_);
    const std::int64_t p = spatial::product(spatial::spatial_of(x.shape(), channels_first_));
    const T* xd = x.values<T>().data();
    T* yd = y.mutable_values<T>().data();
    // Element (b, position, channel) lives at b*p*c + position*cs + channel*ps.
    const std::int64_t cs = channels_first_ ? 1 : c;
    const std::int64_t ps = channels_first_ ? p : 1;
    for (std::int64_t b = 0; b < n; ++b) {
      const T* xb = xd + b * p * c;
      const float* mb = m == nullptr ? nullptr : m + b * p;
      for (std::int64_t ch = 0; ch < c; ++ch) {
        T acc = max_ ? -std::numeric_limits<T>::infinity() : T(0);
        T weight = 0;
        for (std::int64_t i = 0; i < p; ++i) {
          const T v = xb[i * cs + ch * ps];
          if (max_) {
            acc = std::max(acc, v);
          } else if (mb == nullptr) {
            acc += v;
          } else if (mb[i] != 0.0f) {
            acc += v;
            weight += 1;
          }
        }
        if (!max_) acc /= mb == nullptr ? static_cast<T>(p) : weight;
        yd[b * c + ch] = acc;
      }
    }
  }

  std::size_t rank_;
  bool max_;
  bool channels_first_ = false;
  bool keepdims_ = false;
};

#define KSERDE_GLOBAL_POOLING_CLASS(NAME, RANK, MAX)     \
  class NAME final : public GlobalPooling {              \
   public:                                               \
    NAME(std::shared_ptr<JsonDocument> d, Deserializer&) \
        : GlobalPooling(std::move(d), RANK, MAX) {}      \
  }

KSERDE_GLOBAL_POOLING_CLASS(GlobalMaxPooling1D, 1, true);
KSERDE_GLOBAL_POOLING_CLASS(GlobalMaxPooling2D, 2, true);
KSERDE_GLOBAL_POOLING_CLASS(GlobalMaxPooling3D, 3, true);
KSERDE_GLOBAL_POOLING_CLASS(GlobalAveragePooling1D, 1, false);
KSERDE_GLOBAL_POOLING_CLASS(GlobalAveragePooling2D, 2, false);
KSERDE_GLOBAL_POOLING_CLASS(GlobalAveragePooling3D, 3, false);

#undef KSERDE_GLOBAL_POOLING_CLASS

}  // namespace

KSERDE_REGISTER_LAYER(GlobalMaxPooling1D);
KSERDE_REGISTER_LAYER(GlobalMaxPooling2D);
KSERDE_REGISTER_LAYER(GlobalMaxPooling3D);
KSERDE_REGISTER_LAYER(GlobalAveragePooling1D);
KSERDE_REGISTER_LAYER(GlobalAveragePooling2D);
KSERDE_REGISTER_LAYER(GlobalAveragePooling3D);

}  // namespace kserde
