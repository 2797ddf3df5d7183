#include "layers/opaque_layer.hpp"

#include "kserde/error.hpp"

namespace kserde {

OpaqueLayer::OpaqueLayer(std::shared_ptr<JsonDocument> object_dict, std::string reason)
    : Layer(std::move(object_dict)), reason_(std::move(reason)) {}

TensorList OpaqueLayer::call(const TensorList&, CallContext&) {
  throw UnsupportedError(describe() + ": kserde cannot compute this layer (" + reason_ +
                         "); load a plugin that provides it or register a C++ implementation "
                         "under its name");
}

std::vector<Shape> OpaqueLayer::compute_output_shape(const std::vector<Shape>&) const {
  return {};  // unknown
}

void OpaqueLayer::build_from_config(const JsonValue&) {
  // Variables come from the weights file as they are; nothing to create.
  build({});
}

}  // namespace kserde
