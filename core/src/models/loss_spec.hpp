// Internal: a compiled loss as evaluate() and training read it (evaluate.cpp).
#pragma once

#include <string>

#include "kserde/json.hpp"

namespace kserde::detail {

struct LossSpec {
  std::string name;  // canonical: "mean_squared_error", "sparse_categorical_crossentropy", ...
  bool from_logits = false;
  double label_smoothing = 0.0;
  double delta = 1.0;  // huber
};

// Keras's loss identifiers (names, aliases, class names) mapped to one spelling.
std::string canonical_loss(const std::string& name);
// A loss entry of a compile_config: a string or a keras.losses object dict.
LossSpec parse_loss(const JsonValue& v);

}  // namespace kserde::detail
