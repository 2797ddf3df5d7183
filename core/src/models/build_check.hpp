// Internal: a layer built ahead of its model (from the file's build_config) must have been built
// for the inputs the model gives it; otherwise its weights load with one shape and predict fails
// much later with another (or, worse, a reshaping layer silently computes something else).
#pragma once

#include <string>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/layer.hpp"
#include "kserde/tensor.hpp"

namespace kserde::models {

// ConfigError naming `where` when a built `layer`'s build shapes contradict `inputs`: same number
// of shapes but another rank, or a dimension (past the batch) known in both that differs. Other
// cases (a layer that records its shapes in another order or form) are left to the layer.
inline void check_build_matches(const Layer& layer, const std::vector<Shape>& inputs,
                                const std::string& where) {
  const std::vector<Shape>& built = layer.build_input_shapes();
  if (!layer.built() || built.size() != inputs.size()) return;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Shape& b = built[i];
    const Shape& in = inputs[i];
    bool contradicts = b.size() != in.size();
    for (std::size_t d = 1; !contradicts && d < b.size(); ++d) {
      contradicts = b[d] >= 0 && in[d] >= 0 && b[d] != in[d];
    }
    if (contradicts) {
      throw ConfigError(where + ": " + layer.describe() + " was built (build_config) for input " +
                        shape_to_string(b) + " but the model gives it " + shape_to_string(in) +
                        "; the config contradicts itself");
    }
  }
}

}  // namespace kserde::models
