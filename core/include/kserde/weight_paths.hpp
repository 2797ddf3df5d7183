// Public view of the Keras weights layout (spec §5): every object the saving traversal visits, in
// traversal order, with its inner path and the variables it owns. Formats that name weights after
// Keras's paths (a plugin's safetensors writer: "layers/dense/vars/0") use this instead of
// re-implementing the traversal.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kserde/model.hpp"

namespace kserde {

struct WeightEntry {
  // Inner path: "" for the model itself, "layers/dense", "layers/lstm/cell", "optimizer".
  std::string path;
  // layer.name or the optimizer's name (the `name` attribute of the vars group).
  std::string owner_name;
  Layer* layer = nullptr;          // set for layers and models
  Optimizer* optimizer = nullptr;  // set for the optimizer
  // The owner's variables, in the order of the datasets "0", "1", ... (references into the model).
  std::vector<Variable>& variables() const;
  // "layers/dense/vars" ("vars" for the model itself).
  std::string vars_path() const;
  // "layers/dense/vars/<index>".
  std::string variable_path(std::size_t index) const;
  // How errors name the owner: "Dense 'dense'" or "optimizer 'adam'".
  std::string describe() const;
};

// Every saveable of `model` in Keras's saving order (depth-first, class-name groups with `_N`
// suffixes, each object once), then the optimizer when it exists and `include_optimizer`.
std::vector<WeightEntry> weight_entries(Model& model, bool include_optimizer);

}  // namespace kserde
