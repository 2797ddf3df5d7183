// keras.layers.ZeroPadding1D/2D/3D: adds rows of zeros before/after each spatial axis.
// `padding` (per axis (before, after)) accepts Keras's int / tuple / tuple-of-tuples forms and is
// saved normalized. `data_format` channels_last pads axes 1..n, channels_first axes 2..n+1.
// No variables.
#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class ZeroPaddingBase : public Layer {
 public:
  ZeroPaddingBase(std::shared_ptr<JsonDocument> d, std::size_t spatial, const char* default_padding)
      : Layer(std::move(d)), spatial_(spatial) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("padding", default_padding);
    config_default("data_format", "\"channels_last\"");
    pads_ = detail::border_pairs(object_dict(), "padding", spatial, describe());
    const std::string f = cfg::get_string(config(), "data_format", describe(), "channels_last");
    if (f != "channels_last" && f != "channels_first") {
      cfg::fail(describe(),
                "data_format must be 'channels_last' or 'channels_first', got '" + f + "'");
    }
    first_ = f == "channels_first" ? 2 : 1;
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    check_rank(inputs[0].shape());
    Shape before(spatial_ + 2, 0);
    Shape after(spatial_ + 2, 0);
    for (std::size_t i = 0; i < spatial_; ++i) {
      before[first_ + i] = pads_[i].first;
      after[first_ + i] = pads_[i].second;
    }
    ctx.output_masks.clear();
    return {detail::pad_or_crop(inputs[0], before, after)};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    check_rank(in.at(0));
    Shape s = in[0];
    for (std::size_t i = 0; i < spatial_; ++i) {
      if (s[first_ + i] >= 0) s[first_ + i] += pads_[i].first + pads_[i].second;
    }
    return {s};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    check_rank(in[0]);
  }

 private:
  void check_rank(const Shape& s) const {
    if (s.size() != spatial_ + 2) {
      throw ShapeError(describe() + " expects an input of rank " + std::to_string(spatial_ + 2) +
                       ", got " + shape_to_string(s));
    }
  }

  std::size_t spatial_;
  std::size_t first_ = 1;
  std::vector<std::pair<std::int64_t, std::int64_t>> pads_;
};

class ZeroPadding1D final : public ZeroPaddingBase {
 public:
  ZeroPadding1D(std::shared_ptr<JsonDocument> d, Deserializer&)
      : ZeroPaddingBase(std::move(d), 1, "[1, 1]") {}
};

class ZeroPadding2D final : public ZeroPaddingBase {
 public:
  ZeroPadding2D(std::shared_ptr<JsonDocument> d, Deserializer&)
      : ZeroPaddingBase(std::move(d), 2, "[[1, 1], [1, 1]]") {}
};

class ZeroPadding3D final : public ZeroPaddingBase {
 public:
  ZeroPadding3D(std::shared_ptr<JsonDocument> d, Deserializer&)
      : ZeroPaddingBase(std::move(d), 3, "[[1, 1], [1, 1], [1, 1]]") {}
};

}  // namespace

KSERDE_REGISTER_LAYER(ZeroPadding1D);
KSERDE_REGISTER_LAYER(ZeroPadding2D);
KSERDE_REGISTER_LAYER(ZeroPadding3D);

}  // namespace kserde
