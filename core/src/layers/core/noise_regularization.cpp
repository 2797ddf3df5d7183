// Regularization layers that are the identity at inference: GaussianNoise (stddev), GaussianDropout
// (rate), AlphaDropout (rate, noise_shape), ActivityRegularization (l1, l2; its penalty only
// matters in training). Training-time noise is not reproduced. No variables. Masks pass through.
#include "layers/common.hpp"

namespace kserde {

namespace {

class InferenceIdentity : public Layer {
 public:
  bool supports_masking() const override { return true; }
  explicit InferenceIdentity(std::shared_ptr<JsonDocument> d) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    return inputs;
  }

 protected:
  // Checks config[key] is a number in [0, 1].
  void check_unit_interval(const char* key) {
    const double v = cfg::get_float(config(), key, describe());
    if (!(v >= 0.0 && v <= 1.0)) {
      cfg::fail(describe(), std::string(key) + " must lie in [0, 1], got " + std::to_string(v));
    }
  }
};

class GaussianNoise final : public InferenceIdentity {
 public:
  GaussianNoise(std::shared_ptr<JsonDocument> d, Deserializer&) : InferenceIdentity(std::move(d)) {
    config_default("seed", "null");
    check_unit_interval("stddev");
  }
};

class GaussianDropout final : public InferenceIdentity {
 public:
  GaussianDropout(std::shared_ptr<JsonDocument> d, Deserializer&)
      : InferenceIdentity(std::move(d)) {
    config_default("seed", "null");
    check_unit_interval("rate");
  }
};

class AlphaDropout final : public InferenceIdentity {
 public:
  AlphaDropout(std::shared_ptr<JsonDocument> d, Deserializer&) : InferenceIdentity(std::move(d)) {
    config_default("seed", "null");
    config_default("noise_shape", "null");
    check_unit_interval("rate");
  }
};

class ActivityRegularization final : public InferenceIdentity {
 public:
  ActivityRegularization(std::shared_ptr<JsonDocument> d, Deserializer&)
      : InferenceIdentity(std::move(d)) {
    config_default("l1", "0.0");
    config_default("l2", "0.0");
    for (const char* key : {"l1", "l2"}) {
      if (cfg::get_float(config(), key, describe()) < 0.0) {
        cfg::fail(describe(), std::string(key) + " must be non-negative");
      }
    }
  }
};

}  // namespace

KSERDE_REGISTER_LAYER(GaussianNoise);
KSERDE_REGISTER_LAYER(GaussianDropout);
KSERDE_REGISTER_LAYER(AlphaDropout);
KSERDE_REGISTER_LAYER(ActivityRegularization);

}  // namespace kserde
