// Deserializer: turns Keras object dicts into objects during one load, applying the registry's
// lookup rules, safe mode, and shared_object_id identity (spec §3.6, §4).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kserde/activations.hpp"
#include "kserde/json.hpp"
#include "kserde/layer.hpp"
#include "kserde/options.hpp"

namespace kserde {

class Layer;

class Deserializer {
 public:
  // `source` names the file for error messages ("m.keras!config.json").
  // `from_file`: objects come from a file (their build_config is written back as read); false
  // for objects built in code.
  Deserializer(const LoadOptions& options, std::string source, bool from_file = true);

  // Creates the layer (or model) an object dict describes and builds it from its build_config.
  // Throws UnknownObjectError (naming the class, the layer, and how to provide it), ConfigError,
  // SafeModeError.
  std::shared_ptr<Layer> layer(const JsonValue& object_dict);
  // An activation config value: a built-in name ("relu"), a function dict, or null ("linear").
  Activation activation(const JsonValue* value, const std::string& where);

  const LoadOptions& options() const { return options_; }
  const std::string& source() const { return source_; }
  bool safe_mode() const { return options_.safe_mode; }
  // Class names that were carried through without an implementation (UnknownLayers::PassThrough).
  const std::vector<std::string>& passthrough_classes() const { return passthrough_; }

 private:
  LayerFactory resolve_layer(const JsonValue& object_dict, const std::string& where);
  const LoadOptions& options_;
  std::string source_;
  std::map<std::int64_t, std::shared_ptr<Layer>> shared_objects_;
  // The class_name and config each shared_object_id was first seen with.
  std::map<std::int64_t, std::shared_ptr<JsonDocument>> shared_dicts_;
  std::vector<std::string> passthrough_;
  bool from_file_ = true;
  // Charges every variable the layers built during this load create (LoadOptions::max_weight_bytes).
  WeightBudget weight_budget_;
};

// Refuses Python lambdas in safe mode (SafeModeError). Outside safe mode they are carried through
// as data (a Lambda layer then passes through uncomputed): kserde never executes Python bytecode.
void check_no_lambda(const JsonValue& value, const std::string& where, bool safe_mode);

}  // namespace kserde
