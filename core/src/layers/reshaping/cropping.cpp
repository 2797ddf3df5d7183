// keras.layers.Cropping1D/2D/3D: removes `cropping` (per axis (before, after)) elements from each
// spatial axis; each cropped axis must keep at least one element (ShapeError otherwise).
// Cropping1D has no data_format (axis 1); 2D/3D crop axes 1..n (channels_last) or 2..n+1
// (channels_first). `cropping` is saved normalized. No variables.
#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class CroppingBase : public Layer {
 public:
  CroppingBase(std::shared_ptr<JsonDocument> d, std::size_t spatial, const char* default_cropping)
      : Layer(std::move(d)), spatial_(spatial) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("cropping", default_cropping);
    crops_ = detail::border_pairs(object_dict(), "cropping", spatial, describe());
    if (spatial > 1) {
      config_default("data_format", "\"channels_last\"");
      const std::string f = cfg::get_string(config(), "data_format", describe(), "channels_last");
      if (f != "channels_last" && f != "channels_first") {
        cfg::fail(describe(),
                  "data_format must be 'channels_last' or 'channels_first', got '" + f + "'");
      }
      first_ = f == "channels_first" ? 2 : 1;
    }
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    output_shape(inputs[0].shape());  // validates rank and sizes
    Shape before(spatial_ + 2, 0);
    Shape after(spatial_ + 2, 0);
    for (std::size_t i = 0; i < spatial_; ++i) {
      before[first_ + i] = -crops_[i].first;
      after[first_ + i] = -crops_[i].second;
    }
    ctx.output_masks.clear();
    return {detail::pad_or_crop(inputs[0], before, after)};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    return {output_shape(in.at(0))};
  }

 private:
  Shape output_shape(const Shape& s0) const {
    if (s0.size() != spatial_ + 2) {
      throw ShapeError(describe() + " expects an input of rank " + std::to_string(spatial_ + 2) +
                       ", got " + shape_to_string(s0));
    }
    Shape s = s0;
    for (std::size_t i = 0; i < spatial_; ++i) {
      std::int64_t& dim = s[first_ + i];
      if (dim < 0) continue;
      dim -= crops_[i].first + crops_[i].second;
      if (dim <= 0) {
        throw ShapeError(describe() +
                         ": cropping must be smaller than the input's spatial size; "
                         "input shape " +
                         shape_to_string(s0));
      }
    }
    return s;
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    compute_output_shape(in);
  }

 private:
  std::size_t spatial_;
  std::size_t first_ = 1;
  std::vector<std::pair<std::int64_t, std::int64_t>> crops_;
};

class Cropping1D final : public CroppingBase {
 public:
  Cropping1D(std::shared_ptr<JsonDocument> d, Deserializer&)
      : CroppingBase(std::move(d), 1, "[1, 1]") {}
};

class Cropping2D final : public CroppingBase {
 public:
  Cropping2D(std::shared_ptr<JsonDocument> d, Deserializer&)
      : CroppingBase(std::move(d), 2, "[[0, 0], [0, 0]]") {}
};

class Cropping3D final : public CroppingBase {
 public:
  Cropping3D(std::shared_ptr<JsonDocument> d, Deserializer&)
      : CroppingBase(std::move(d), 3, "[[1, 1], [1, 1], [1, 1]]") {}
};

}  // namespace

KSERDE_REGISTER_LAYER(Cropping1D);
KSERDE_REGISTER_LAYER(Cropping2D);
KSERDE_REGISTER_LAYER(Cropping3D);

}  // namespace kserde
