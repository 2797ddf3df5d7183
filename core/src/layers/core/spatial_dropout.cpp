// keras.layers.SpatialDropout1D/2D/3D: identity at inference (training drops whole channels).
// Inputs must have rank 3/4/5. Keras's get_config for these writes only rate, seed, name, dtype
// (+ data_format for 2D/3D), with dtype as a plain string. No variables. Masks pass through.
#include "layers/common.hpp"

namespace kserde {

namespace {

class SpatialDropoutBase : public Layer {
 public:
  bool supports_masking() const override { return true; }
  SpatialDropoutBase(std::shared_ptr<JsonDocument> d, std::size_t rank, bool has_data_format)
      : Layer(std::move(d)), rank_(rank) {
    config_default("seed", "null");
    config_default("dtype", "\"float32\"");
    if (has_data_format) {
      config_default("data_format", "\"channels_last\"");
      const std::string f = cfg::get_string(config(), "data_format", describe(), "channels_last");
      if (f != "channels_last" && f != "channels_first") {
        cfg::fail(describe(),
                  "data_format must be 'channels_last' or 'channels_first', got '" + f + "'");
      }
    }
    const double rate = cfg::get_float(config(), "rate", describe());
    if (!(rate >= 0.0 && rate <= 1.0)) cfg::fail(describe(), "rate must lie in [0, 1]");
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    if (inputs[0].rank() != rank_) {
      throw ShapeError(describe() + " expects an input of rank " + std::to_string(rank_) +
                       ", got " + shape_to_string(inputs[0].shape()));
    }
    return inputs;
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1 || in[0].size() != rank_) {
      throw ShapeError(describe() + " expects one input of rank " + std::to_string(rank_));
    }
  }

 private:
  std::size_t rank_;
};

class SpatialDropout1D final : public SpatialDropoutBase {
 public:
  SpatialDropout1D(std::shared_ptr<JsonDocument> d, Deserializer&)
      : SpatialDropoutBase(std::move(d), 3, false) {}
};

class SpatialDropout2D final : public SpatialDropoutBase {
 public:
  SpatialDropout2D(std::shared_ptr<JsonDocument> d, Deserializer&)
      : SpatialDropoutBase(std::move(d), 4, true) {}
};

class SpatialDropout3D final : public SpatialDropoutBase {
 public:
  SpatialDropout3D(std::shared_ptr<JsonDocument> d, Deserializer&)
      : SpatialDropoutBase(std::move(d), 5, true) {}
};

}  // namespace

KSERDE_REGISTER_LAYER(SpatialDropout1D);
KSERDE_REGISTER_LAYER(SpatialDropout2D);
KSERDE_REGISTER_LAYER(SpatialDropout3D);

}  // namespace kserde
