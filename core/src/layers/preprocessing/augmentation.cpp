// The Keras image augmentation layers, which change nothing at inference: model.predict calls
// them with training=False, and BaseImagePreprocessingLayer.transform_images (or the layer's own
// override) then returns the images as they came. keras.layers.RandomFlip, RandomRotation,
// RandomZoom, RandomTranslation, RandomShear, RandomPerspective, RandomSharpness,
// RandomGaussianBlur, RandomElasticTransform, RandomErasing, Solarization, CutMix, AugMix and
// RandAugment cast the images to the compute dtype first (integer images come out float32);
// RandomContrast, RandomBrightness, RandomGrayscale, RandomHue, RandomSaturation,
// RandomPosterization, RandomInvert, RandomColorJitter, RandomColorDegeneration, Equalization,
// MixUp, MaxNumBoundingBoxes and RandomCrop return them in their own dtype.
//
// RandomCrop: Keras 3.16 returns the input uncropped at inference (transform_images crops only
// when training; keras-team/keras issue 21868), although its docstring and compute_output_shape
// say (height, width); kserde computes what Keras computes and reports Keras's declared shape.
//
// Every one takes a rank-3 (one image) or rank-4 (a batch) input, as Keras's _is_batched
// requires. None supports masking (Keras's default), so an incoming mask is dropped. No variables:
// their SeedGenerator state is not saved. The training-mode randomness is not reproduced, so fit
// refuses them (docs/training.md).
#include <initializer_list>
#include <utility>

#include "layers/common.hpp"
#include "layers/preprocessing/image_util.hpp"

namespace kserde {

namespace {

using Defaults = std::initializer_list<std::pair<const char*, const char*>>;

class InferenceIdentity : public Layer {
 public:
  // `casts`: Keras casts the images to the compute dtype even at inference. `defaults`: Keras's
  // constructor defaults of the config keys its get_config writes. `required`: keys without one.
  InferenceIdentity(std::shared_ptr<JsonDocument> d, bool casts, Defaults defaults,
                    std::initializer_list<const char*> required)
      : Layer(std::move(d)), casts_(casts) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("data_format", "\"channels_last\"");
    for (const auto& [key, value] : defaults) config_default(key, value);
    for (const char* key : required) {
      if (!cfg::has_non_null(config(), key)) {
        cfg::fail(describe(), std::string("config has no '") + key + "'");
      }
    }
    channels_first_ = detail::parse_data_format(
        cfg::get_string(config(), "data_format", describe(), "channels_last"), describe());
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    detail::image_height_axis(inputs[0].rank(), channels_first_, describe());
    ctx.output_masks.clear();
    if (casts_ && inputs[0].dtype() != compute_dtype()) return {inputs[0].to(compute_dtype())};
    return inputs;
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    detail::image_height_axis(in.at(0).size(), channels_first_, describe());
    return {in[0]};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    compute_output_shape(in);
  }
  // Keras's check of fill_mode and interpolation for the affine layers.
  void check_affine_options() const {
    const std::string fill = cfg::get_string(config(), "fill_mode", describe(), "reflect");
    if (fill != "reflect" && fill != "wrap" && fill != "constant" && fill != "nearest") {
      cfg::fail(describe(), "unknown fill_mode '" + fill + "'");
    }
    const std::string interp = cfg::get_string(config(), "interpolation", describe(), "bilinear");
    if (interp != "nearest" && interp != "bilinear") {
      cfg::fail(describe(), "unknown interpolation '" + interp + "'");
    }
  }

  bool channels_first_ = false;

 private:
  bool casts_;
};

constexpr const char* kNull = "null";
constexpr const char* kValueRange = "[0, 255]";

#define KSERDE_IDENTITY_LAYER(CLASS, CASTS, DEFAULTS, REQUIRED)                  \
  class CLASS final : public InferenceIdentity {                                 \
   public:                                                                       \
    CLASS(std::shared_ptr<JsonDocument> d, Deserializer&)                        \
        : InferenceIdentity(std::move(d), CASTS, Defaults DEFAULTS, REQUIRED) {} \
  }

KSERDE_IDENTITY_LAYER(RandomContrast, false, ({{"value_range", kValueRange}, {"seed", kNull}}),
                      {"factor"});
KSERDE_IDENTITY_LAYER(RandomBrightness, false, ({{"value_range", kValueRange}, {"seed", kNull}}),
                      {"factor"});
KSERDE_IDENTITY_LAYER(RandomGrayscale, false, ({}), {});
KSERDE_IDENTITY_LAYER(RandomHue, false, ({{"value_range", kValueRange}, {"seed", kNull}}),
                      {"factor"});
KSERDE_IDENTITY_LAYER(RandomSaturation, false, ({{"value_range", kValueRange}, {"seed", kNull}}),
                      {"factor"});
KSERDE_IDENTITY_LAYER(RandomPosterization, false, ({{"value_range", kValueRange}, {"seed", kNull}}),
                      {"factor"});
KSERDE_IDENTITY_LAYER(RandomInvert, false, ({{"value_range", kValueRange}, {"seed", kNull}}), {});
KSERDE_IDENTITY_LAYER(RandomColorJitter, false,
                      ({{"value_range", kValueRange},
                        {"brightness_factor", kNull},
                        {"contrast_factor", kNull},
                        {"saturation_factor", kNull},
                        {"hue_factor", kNull},
                        {"seed", kNull}}),
                      {});
KSERDE_IDENTITY_LAYER(RandomColorDegeneration, false,
                      ({{"value_range", kValueRange}, {"seed", kNull}}), {"factor"});
KSERDE_IDENTITY_LAYER(Equalization, false, ({{"bins", "256"}, {"value_range", kValueRange}}), {});
KSERDE_IDENTITY_LAYER(MixUp, false, ({{"alpha", "0.2"}, {"seed", kNull}}), {});
KSERDE_IDENTITY_LAYER(MaxNumBoundingBoxes, false, ({}), {"max_number"});
KSERDE_IDENTITY_LAYER(RandomSharpness, true, ({{"value_range", kValueRange}, {"seed", kNull}}),
                      {"factor"});
KSERDE_IDENTITY_LAYER(
    RandomGaussianBlur, true,
    ({{"kernel_size", "3"}, {"sigma", "1.0"}, {"value_range", kValueRange}, {"seed", kNull}}), {});
KSERDE_IDENTITY_LAYER(RandomElasticTransform, true,
                      ({{"scale", "1.0"},
                        {"interpolation", "\"bilinear\""},
                        {"fill_mode", "\"reflect\""},
                        {"fill_value", "0.0"},
                        {"value_range", kValueRange},
                        {"seed", kNull}}),
                      {});
KSERDE_IDENTITY_LAYER(RandomErasing, true,
                      ({{"scale", "[0.02, 0.33]"},
                        {"fill_value", kNull},
                        {"value_range", kValueRange},
                        {"seed", kNull}}),
                      {});
KSERDE_IDENTITY_LAYER(
    RandomPerspective, true,
    ({{"scale", "1.0"}, {"interpolation", "\"bilinear\""}, {"fill_value", "0.0"}, {"seed", kNull}}),
    {});
KSERDE_IDENTITY_LAYER(Solarization, true,
                      ({{"value_range", kValueRange},
                        {"addition_factor", "0.0"},
                        {"threshold_factor", "0.0"},
                        {"seed", kNull}}),
                      {});
KSERDE_IDENTITY_LAYER(CutMix, true, ({{"seed", kNull}}), {});
KSERDE_IDENTITY_LAYER(AugMix, true,
                      ({{"value_range", kValueRange},
                        {"num_chains", "3"},
                        {"chain_depth", "3"},
                        {"alpha", "1.0"},
                        {"all_ops", "true"},
                        {"interpolation", "\"bilinear\""},
                        {"seed", kNull}}),
                      {});
KSERDE_IDENTITY_LAYER(RandAugment, true,
                      ({{"value_range", kValueRange},
                        {"num_ops", "2"},
                        {"interpolation", "\"bilinear\""},
                        {"seed", kNull}}),
                      {});

#undef KSERDE_IDENTITY_LAYER

// The affine layers also check fill_mode and interpolation as Keras's constructors do.
constexpr Defaults kAffineDefaults = {{"fill_mode", "\"reflect\""},
                                      {"interpolation", "\"bilinear\""},
                                      {"seed", kNull},
                                      {"fill_value", "0.0"}};

class RandomRotation final : public InferenceIdentity {
 public:
  RandomRotation(std::shared_ptr<JsonDocument> d, Deserializer&)
      : InferenceIdentity(std::move(d), true, kAffineDefaults, {"factor"}) {
    check_affine_options();
  }
};

class RandomTranslation final : public InferenceIdentity {
 public:
  RandomTranslation(std::shared_ptr<JsonDocument> d, Deserializer&)
      : InferenceIdentity(std::move(d), true, kAffineDefaults, {"height_factor", "width_factor"}) {
    check_affine_options();
  }
};

class RandomZoom final : public InferenceIdentity {
 public:
  RandomZoom(std::shared_ptr<JsonDocument> d, Deserializer&)
      : InferenceIdentity(std::move(d), true, kAffineDefaults, {"height_factor"}) {
    config_default("width_factor", kNull);
    check_affine_options();
  }
};

class RandomShear final : public InferenceIdentity {
 public:
  RandomShear(std::shared_ptr<JsonDocument> d, Deserializer&)
      : InferenceIdentity(std::move(d), true, kAffineDefaults, {}) {
    config_default("x_factor", "0.0");
    config_default("y_factor", "0.0");
    check_affine_options();
  }
};

class RandomFlip final : public InferenceIdentity {
 public:
  RandomFlip(std::shared_ptr<JsonDocument> d, Deserializer&)
      : InferenceIdentity(std::move(d), true,
                          {{"seed", kNull}, {"mode", "\"horizontal_and_vertical\""}}, {}) {
    const std::string mode = cfg::get_string(config(), "mode", describe());
    if (mode != "horizontal" && mode != "vertical" && mode != "horizontal_and_vertical") {
      cfg::fail(describe(), "unknown mode '" + mode + "'");
    }
  }
};

// At inference Keras 3.16 returns the images unchanged (see the top of this file) but declares
// the (height, width) output shape.
class RandomCrop final : public InferenceIdentity {
 public:
  RandomCrop(std::shared_ptr<JsonDocument> d, Deserializer&)
      : InferenceIdentity(std::move(d), false, {}, {"height", "width"}) {
    height_ = cfg::get_int(config(), "height", describe());
    width_ = cfg::get_int(config(), "width", describe());
    if (height_ <= 0 || width_ <= 0) cfg::fail(describe(), "height and width must be positive");
  }
  // RandomCrop sets _convert_input_args = False: no autocast of its input.
  bool autocast() const override { return false; }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    return {detail::resized_image_shape(in.at(0), channels_first_, height_, width_, describe())};
  }

 private:
  std::int64_t height_ = 0;
  std::int64_t width_ = 0;
};

}  // namespace

KSERDE_REGISTER_LAYER(RandomFlip);
KSERDE_REGISTER_LAYER(RandomRotation);
KSERDE_REGISTER_LAYER(RandomZoom);
KSERDE_REGISTER_LAYER(RandomTranslation);
KSERDE_REGISTER_LAYER(RandomShear);
KSERDE_REGISTER_LAYER(RandomCrop);
KSERDE_REGISTER_LAYER(RandomContrast);
KSERDE_REGISTER_LAYER(RandomBrightness);
KSERDE_REGISTER_LAYER(RandomGrayscale);
KSERDE_REGISTER_LAYER(RandomHue);
KSERDE_REGISTER_LAYER(RandomSaturation);
KSERDE_REGISTER_LAYER(RandomPosterization);
KSERDE_REGISTER_LAYER(RandomInvert);
KSERDE_REGISTER_LAYER(RandomColorJitter);
KSERDE_REGISTER_LAYER(RandomColorDegeneration);
KSERDE_REGISTER_LAYER(RandomSharpness);
KSERDE_REGISTER_LAYER(RandomGaussianBlur);
KSERDE_REGISTER_LAYER(RandomElasticTransform);
KSERDE_REGISTER_LAYER(RandomErasing);
KSERDE_REGISTER_LAYER(RandomPerspective);
KSERDE_REGISTER_LAYER(Solarization);
KSERDE_REGISTER_LAYER(Equalization);
KSERDE_REGISTER_LAYER(MixUp);
KSERDE_REGISTER_LAYER(CutMix);
KSERDE_REGISTER_LAYER(AugMix);
KSERDE_REGISTER_LAYER(RandAugment);
KSERDE_REGISTER_LAYER(MaxNumBoundingBoxes);

}  // namespace kserde
