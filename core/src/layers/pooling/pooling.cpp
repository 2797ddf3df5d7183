// keras.layers.MaxPooling1D/2D/3D and AveragePooling1D/2D/3D: max or mean over windows of
// `pool_size` moved by `strides` (default: pool_size). padding "valid" keeps whole windows only;
// "same" gives ceil(in / stride) outputs, padding split as XLA does (the odd element after), and
// padded positions never count (average divides by the number of real elements, as Keras's
// backends do). No variables.
#include "layers/common.hpp"
#include "layers/convolutional/spatial.hpp"
#include "layers/pooling/pool_kernels.hpp"

namespace kserde {

namespace {

class Pooling : public Layer {
 public:
  Pooling(std::shared_ptr<JsonDocument> d, std::size_t rank, pool::Mode mode)
      : Layer(std::move(d)), rank_(rank), mode_(mode) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("padding", "\"valid\"");
    config_default("data_format", "\"channels_last\"");
    const std::string where = describe();
    const JsonValue& c = config();
    // MaxPooling* default to 2 per dimension; AveragePooling* require pool_size.
    if (mode_ == pool::Mode::Average && !cfg::has_non_null(c, "pool_size")) {
      cfg::fail(where, "config has no 'pool_size'");
    }
    pool_size_ = spatial::parse_tuple(c, "pool_size", where, rank_, 2);
    // strides None means pool_size; Keras writes the resolved tuple.
    strides_ = cfg::has_non_null(c, "strides") ? spatial::parse_tuple(c, "strides", where, rank_, 1)
                                               : pool_size_;
    padding_ = spatial::parse_padding(c, where, false);
    channels_first_ = spatial::parse_channels_first(c, where);
    spatial::write_tuple(object_dict(), "pool_size", pool_size_);
    spatial::write_tuple(object_dict(), "strides", strides_);
    spatial::write_string(object_dict(), "padding", spatial::padding_name(padding_));
    spatial::write_string(object_dict(), "data_format",
                          channels_first_ ? "channels_first" : "channels_last");
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    check_rank(inputs[0].shape());
    Tensor x = ops::as_float32(inputs[0]);
    if (channels_first_) x = spatial::to_channels_last(x);
    const spatial::Dims in = spatial::spatial_of(x.shape(), false);
    spatial::Dims pad;
    for (std::size_t d = 0; d < rank_; ++d) {
      pad.push_back(spatial::pad_before(in[d], pool_size_[d], strides_[d], padding_));
    }
    Tensor y = pool::window_pool(x, output_dims(in), pool_size_, strides_, pad, mode_);
    return {channels_first_ ? spatial::to_channels_first(y) : y};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    check_rank(in.at(0));
    return {spatial::make_shape(in[0][0], output_dims(spatial::spatial_of(in[0], channels_first_)),
                                spatial::channels_of(in[0], channels_first_), channels_first_)};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + ": expects one input");
    compute_output_shape(in);
  }

 private:
  void check_rank(const Shape& s) const {
    if (s.size() != rank_ + 2) {
      throw ShapeError(describe() + ": expects an input of rank " + std::to_string(rank_ + 2) +
                       ", got shape " + shape_to_string(s));
    }
  }

  spatial::Dims output_dims(const spatial::Dims& in) const {
    spatial::Dims out;
    for (std::size_t d = 0; d < rank_; ++d) {
      const std::int64_t o = spatial::output_length(in[d], pool_size_[d], strides_[d], padding_);
      if (in[d] >= 0 && o <= 0) {
        throw ShapeError(describe() + ": input spatial size " + std::to_string(in[d]) +
                         " is smaller than pool_size " + std::to_string(pool_size_[d]) +
                         " with padding 'valid'");
      }
      out.push_back(o);
    }
    return out;
  }

  std::size_t rank_;
  pool::Mode mode_;
  spatial::Dims pool_size_, strides_;
  spatial::Padding padding_ = spatial::Padding::Valid;
  bool channels_first_ = false;
};

#define KSERDE_POOLING_CLASS(NAME, RANK, MODE)             \
  class NAME final : public Pooling {                      \
   public:                                                 \
    NAME(std::shared_ptr<JsonDocument> d, Deserializer&)   \
        : Pooling(std::move(d), RANK, pool::Mode::MODE) {} \
  }

KSERDE_POOLING_CLASS(MaxPooling1D, 1, Max);
KSERDE_POOLING_CLASS(MaxPooling2D, 2, Max);
KSERDE_POOLING_CLASS(MaxPooling3D, 3, Max);
KSERDE_POOLING_CLASS(AveragePooling1D, 1, Average);
KSERDE_POOLING_CLASS(AveragePooling2D, 2, Average);
KSERDE_POOLING_CLASS(AveragePooling3D, 3, Average);

#undef KSERDE_POOLING_CLASS

}  // namespace

KSERDE_REGISTER_LAYER(MaxPooling1D);
KSERDE_REGISTER_LAYER(MaxPooling2D);
KSERDE_REGISTER_LAYER(MaxPooling3D);
KSERDE_REGISTER_LAYER(AveragePooling1D);
KSERDE_REGISTER_LAYER(AveragePooling2D);
KSERDE_REGISTER_LAYER(AveragePooling3D);

}  // namespace kserde
