// model.summary(): the table Keras prints (layer, output shape, parameter count, and for
// Functional models the "Connected to" column), totals, and the saved metadata.
#pragma once

#include <string>

#include "kserde/model.hpp"

namespace kserde {

std::string summary(const Model& model);
// The same facts as JSON (stable keys for scripts): name, class_name, layers[{name, class_name,
// output_shape, params, trainable_params, connected_to, layers?}], totals, optimizer, metadata.
std::string summary_json(const Model& model);

}  // namespace kserde
