#include "kserde/weight_paths.hpp"

#include "formats/weight_store.hpp"

namespace kserde {

std::vector<Variable>& WeightEntry::variables() const {
  return layer != nullptr ? layer->variables() : optimizer->variables;
}

std::string WeightEntry::vars_path() const { return weights::vars_path(path); }

std::string WeightEntry::variable_path(std::size_t index) const {
  return vars_path() + "/" + std::to_string(index);
}

std::string WeightEntry::describe() const {
  if (layer != nullptr) return layer->describe();
  return "optimizer '" + owner_name + "'";
}

std::vector<WeightEntry> weight_entries(Model& model, bool include_optimizer) {
  std::vector<WeightEntry> out;
  for (const weights::Saveable& s : weights::traverse(model, include_optimizer)) {
    out.push_back(WeightEntry{s.path, s.display_name, s.layer, s.optimizer});
  }
  return out;
}

}  // namespace kserde
