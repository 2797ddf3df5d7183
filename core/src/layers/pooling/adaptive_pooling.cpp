// keras.layers.AdaptiveAveragePooling1D/2D/3D and AdaptiveMaxPooling1D/2D/3D: pools the input
// to a fixed spatial `output_size`; output i along a dimension of length L and output length O
// covers input positions [floor(i * L / O), ceil((i + 1) * L / O)) (the windows Keras's
// backends use). No variables.
#include "layers/common.hpp"
#include "layers/convolutional/spatial.hpp"
#include "layers/pooling/pool_kernels.hpp"

namespace kserde {

namespace {

class AdaptivePooling : public Layer {
 public:
  AdaptivePooling(std::shared_ptr<JsonDocument> d, std::size_t rank, pool::Mode mode)
      : Layer(std::move(d)), rank_(rank), mode_(mode) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("data_format", "\"channels_last\"");
    const std::string where = describe();
    if (!cfg::has_non_null(config(), "output_size"))
      cfg::fail(where, "config has no 'output_size'");
    output_size_ = spatial::parse_tuple(config(), "output_size", where, rank_, 1);
    channels_first_ = spatial::parse_channels_first(config(), where);
    spatial::write_tuple(object_dict(), "output_size", output_size_);
    spatial::write_string(object_dict(), "data_format",
                          channels_first_ ? "channels_first" : "channels_last");
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    check_input(inputs[0].shape());
    Tensor x = ops::as_float32(inputs[0]);
    if (channels_first_) x = spatial::to_channels_last(x);
    Tensor y = pool::adaptive_pool(x, output_size_, mode_);
    return {channels_first_ ? spatial::to_channels_first(y) : y};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    check_input(in.at(0));
    return {spatial::make_shape(in[0][0], output_size_,
                                spatial::channels_of(in[0], channels_first_), channels_first_)};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + ": expects one input");
    check_input(in[0]);
  }

 private:
  void check_input(const Shape& s) const {
    if (s.size() != rank_ + 2) {
      throw ShapeError(describe() + ": expects an input of rank " + std::to_string(rank_ + 2) +
                       ", got shape " + shape_to_string(s));
    }
    for (std::int64_t d : spatial::spatial_of(s, channels_first_)) {
      if (d == 0) throw ShapeError(describe() + ": cannot pool an empty spatial dimension");
    }
  }

  std::size_t rank_;
  pool::Mode mode_;
  spatial::Dims output_size_;
  bool channels_first_ = false;
};

#define KSERDE_ADAPTIVE_POOLING_CLASS(NAME, RANK, MODE)            \
  class NAME final : public AdaptivePooling {                      \
   public:                                                         \
    NAME(std::shared_ptr<JsonDocument> d, Deserializer&)           \
        : AdaptivePooling(std::move(d), RANK, pool::Mode::MODE) {} \
  }

KSERDE_ADAPTIVE_POOLING_CLASS(AdaptiveMaxPooling1D, 1, Max);
KSERDE_ADAPTIVE_POOLING_CLASS(AdaptiveMaxPooling2D, 2, Max);
KSERDE_ADAPTIVE_POOLING_CLASS(AdaptiveMaxPooling3D, 3, Max);
KSERDE_ADAPTIVE_POOLING_CLASS(AdaptiveAveragePooling1D, 1, Average);
KSERDE_ADAPTIVE_POOLING_CLASS(AdaptiveAveragePooling2D, 2, Average);
KSERDE_ADAPTIVE_POOLING_CLASS(AdaptiveAveragePooling3D, 3, Average);

#undef KSERDE_ADAPTIVE_POOLING_CLASS

}  // namespace

KSERDE_REGISTER_LAYER(AdaptiveMaxPooling1D);
KSERDE_REGISTER_LAYER(AdaptiveMaxPooling2D);
KSERDE_REGISTER_LAYER(AdaptiveMaxPooling3D);
KSERDE_REGISTER_LAYER(AdaptiveAveragePooling1D);
KSERDE_REGISTER_LAYER(AdaptiveAveragePooling2D);
KSERDE_REGISTER_LAYER(AdaptiveAveragePooling3D);

}  // namespace kserde
