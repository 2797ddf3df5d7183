// A layer kserde carries through without an implementation (LoadOptions::unknown_layers =
// PassThrough, or a Lambda in unsafe mode): its config and weights survive load -> save, inspect
// shows it, predict refuses it by name.
#pragma once

#include "kserde/layer.hpp"

namespace kserde {

class OpaqueLayer final : public Layer {
 public:
  OpaqueLayer(std::shared_ptr<JsonDocument> object_dict, std::string reason);
  TensorList call(const TensorList& inputs, CallContext& ctx) override;
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override;
  bool can_compute() const override { return false; }
  bool accepts_any_weights() const override { return true; }
  void build_from_config(const JsonValue& build_config) override;

 private:
  std::string reason_;
};

}  // namespace kserde
