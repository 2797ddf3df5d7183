#include "kserde/deserializer.hpp"

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/layer.hpp"
#include "kserde/object_registry.hpp"
#include "kserde/plugin.hpp"
#include "layers/opaque_layer.hpp"

namespace kserde {

namespace {

std::string string_or(const JsonValue& obj, const char* key, std::string fallback) {
  const JsonValue* v = cfg::find(obj, key);
  return v != nullptr && v->IsString() ? std::string(v->GetString()) : fallback;
}

bool is_keras_module(const std::string& module) {
  return module == "keras" || module.rfind("keras.", 0) == 0;
}

template <class T>
std::optional<T> find_custom(const std::string& key,
                             std::map<std::string, T, std::less<>> CustomObjects::*table,
                             registry::NameTable<T>& global, const CustomObjects& argument) {
  for (const CustomObjects* scope : CustomObjectScope::active()) {
    auto it = (scope->*table).find(key);
    if (it != (scope->*table).end()) return it->second;
  }
  if (auto g = global.find(key)) return g;
  auto it = (argument.*table).find(key);
  if (it != (argument.*table).end()) return it->second;
  return std::nullopt;
}

// Keras <= 3.6 saved custom functions by bare name: accept any "<pkg>>name".
std::optional<Activation> find_function_by_suffix(const std::string& name,
                                                  const CustomObjects& argument) {
  const std::string suffix = ">" + name;
  auto ends = [&](const std::string& k) {
    return k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (const CustomObjects* scope : CustomObjectScope::active()) {
    for (const auto& [k, v] : scope->functions) {
      if (ends(k)) return v;
    }
  }
  for (const std::string& k : registered_functions().keys()) {
    if (ends(k)) return registered_functions().find(k);
  }
  for (const auto& [k, v] : argument.functions) {
    if (ends(k)) return v;
  }
  return std::nullopt;
}

std::string how_to_provide(const std::string& key, const std::string& kind) {
  return "Provide it in one of three ways: register a C++ " + kind +
         " with kserde::register_keras_" + (kind == "class" ? "serializable" : "function") +
         " under \"" + key + "\", pass it in LoadOptions::custom_objects under the key \"" + key +
         "\", or load a plugin that provides \"" + key +
         "\" (--plugin FILE, --plugin-dir DIR or KSERDE_PLUGIN_PATH)";
}

}  // namespace

void check_no_lambda(const JsonValue& value, const std::string& where, bool safe_mode) {
  if (!safe_mode) return;  // carried through as data; kserde never executes Python bytecode
  std::vector<const JsonValue*> stack{&value};
  std::size_t budget = 1'000'000;
  while (!stack.empty() && budget-- > 0) {
    const JsonValue* v = stack.back();
    stack.pop_back();
    if (v->IsObject()) {
      if (cfg::is_marker(*v, "__lambda__")) {
        throw SafeModeError(where +
                            ": Requested the deserialization of a Python lambda. Its bytecode "
                            "would run code chosen by the file; kserde refuses it in safe mode "
                            "(and cannot run Python bytecode at all). Replace the lambda with a "
                            "registered layer or function.");
      }
      for (const auto& m : v->GetObject()) stack.push_back(&m.value);
    } else if (v->IsArray()) {
      for (const auto& e : v->GetArray()) stack.push_back(&e);
    }
  }
}

Deserializer::Deserializer(const LoadOptions& options, std::string source, bool from_file)
    : options_(options), source_(std::move(source)), from_file_(from_file),
      weight_budget_(options.max_weight_bytes, options.max_tensor_rank, source_) {}

LayerFactory Deserializer::resolve_layer(const JsonValue& dict, const std::string& where) {
  const std::string class_name = string_or(dict, "class_name", "");
  const std::string module = string_or(dict, "module", "");
  const JsonValue* reg = cfg::find(dict, "registered_name");
  // registered_name defaults to class_name only when the key is absent (spec §4.2).
  std::optional<std::string> key;
  if (reg == nullptr) {
    key = class_name;
  } else if (reg->IsString()) {
    key = reg->GetString();
  }
  if (key) {
    if (auto f = find_custom(*key, &CustomObjects::layers, registered_layers(),
                             options_.custom_objects)) {
      return *f;
    }
  }
  // Raw operations in a Functional graph (keras.ops.add(...) saved with module
  // "keras.src.ops.numpy") share class names with layers (Add) but not call signatures.
  const bool keras_op = module.rfind("keras.src.ops", 0) == 0;
  const bool keras_builtin =
      !keras_op && (is_keras_module(module) || cfg::find(dict, "module") == nullptr);
  if (keras_op) {
    if (auto f = builtin_layers().find("ops." + class_name)) return *f;
  }
  if (keras_builtin) {
    if (auto f = builtin_layers().find(class_name)) return *f;
    // Legacy Keras 2 names.
    if (class_name == "Model") {
      if (auto f = builtin_layers().find("Functional")) return *f;
    }
  }
  // On demand: a plugin in KSERDE_PLUGIN_PATH or LoadOptions::plugin_dirs that declares the name
  // (in its manifest) is loaded, and the lookup repeated. Never a location named by the file.
  if (key && load_plugin_providing(PluginObjectKind::Layer, *key, options_)) {
    if (auto f = find_custom(*key, &CustomObjects::layers, registered_layers(),
                             options_.custom_objects)) {
      return *f;
    }
  }
  if (keras_builtin && load_plugin_providing(PluginObjectKind::Layer, class_name, options_)) {
    if (auto f = builtin_layers().find(class_name)) return *f;
  }
  const std::string wanted = key.value_or(class_name);
  if (keras_op && options_.unknown_layers == UnknownLayers::Error) {
    throw UnknownObjectError(where + ": kserde has no implementation of the Keras operation '" +
                             class_name + "' (module " + module + ")");
  }
  if (keras_builtin && options_.unknown_layers == UnknownLayers::Error) {
    throw UnknownObjectError(where + ": kserde has no implementation of the Keras layer '" +
                             class_name + "' (module " + (module.empty() ? "keras.layers" : module) +
                             "). Load a plugin that provides it (--plugin FILE, --plugin-dir DIR or "
                             "KSERDE_PLUGIN_PATH), or register a C++ class under that name.");
  }
  if (options_.unknown_layers == UnknownLayers::PassThrough) {
    passthrough_.push_back(class_name);
    return [wanted](std::shared_ptr<JsonDocument> d, Deserializer&) {
      return std::shared_ptr<Layer>(
          std::make_shared<OpaqueLayer>(std::move(d), "no implementation of '" + wanted + "'"));
    };
  }
  throw UnknownObjectError(where + ": Could not locate class '" + wanted + "'. " +
                           how_to_provide(wanted, "class"));
}

std::shared_ptr<Layer> Deserializer::layer(const JsonValue& dict) {
  if (!dict.IsObject() || !cfg::find(dict, "class_name") || !cfg::find(dict, "config")) {
    throw ConfigError(source_ + ": expected a layer object dict with 'class_name' and 'config'");
  }
  const std::string class_name = string_or(dict, "class_name", "");
  const JsonValue& config = dict["config"];
  const std::string layer_name =
      config.IsObject() ? string_or(config, "name", "?") : std::string("?");
  const std::string where = source_ + ": layer '" + layer_name + "' (" + class_name + ")";

  // Keras refuses '/' in a name: it separates the groups of HDF5 weight paths.
  if (layer_name.find('/') != std::string::npos) {
    throw ConfigError(where +
                      ": a layer name cannot contain '/' (it would be read as an HDF5 "
                      "path); the file was not written by Keras");
  }

  std::optional<std::int64_t> shared_id;
  if (const JsonValue* sid = cfg::find(dict, "shared_object_id"); sid != nullptr && sid->IsInt64()) {
    shared_id = sid->GetInt64();
    auto it = shared_objects_.find(*shared_id);
    if (it != shared_objects_.end()) {
      // Every occurrence of one object carries the same class and config; two different layers
      // under one id would make the second silently become the first.
      const JsonDocument& first = *shared_dicts_.at(*shared_id);
      if (first["class_name"] != dict["class_name"] || first["config"] != config) {
        throw ConfigError(where + ": shared_object_id " + std::to_string(*shared_id) +
                          " is already the id of another layer ('" + it->second->name() +
                          "'); two layers cannot share one id");
      }
      return it->second;
    }
  }
  if (class_name == "Lambda" || class_name == "TFSMLayer" || class_name == "TorchModuleWrapper") {
    check_no_lambda(dict, where, options_.safe_mode);
    if (options_.safe_mode) {
      throw SafeModeError(where + ": " + class_name +
                          " loads code or files outside the model; refused in safe mode");
    }
  } else {
    check_no_lambda(config, where, options_.safe_mode);
  }

  LayerFactory factory = resolve_layer(dict, where);
  auto doc = std::make_shared<JsonDocument>();
  doc->CopyFrom(dict, doc->GetAllocator());
  // Graph wiring belongs to the enclosing Functional model, not to the layer.
  doc->RemoveMember("inbound_nodes");
  if (doc->HasMember("name") && doc->HasMember("module")) doc->RemoveMember("name");
  std::shared_ptr<Layer> layer;
  try {
    layer = factory(doc, *this);
    if (from_file_) layer->mark_loaded();
    if (const JsonValue* bc = cfg::find(dict, "build_config");
        bc != nullptr && bc->IsObject() && !layer->built()) {
      layer->build_from_config(*bc);
    }
  } catch (const Error& e) {
    if (std::string(e.what()).find(source_) != std::string::npos) throw;
    rethrow_with_context(where + ": ");
  }
  if (shared_id) {
    shared_objects_[*shared_id] = layer;
    auto first = std::make_shared<JsonDocument>();
    first->SetObject();
    auto& a = first->GetAllocator();
    first->AddMember("class_name", JsonValue(dict["class_name"], a), a);
    first->AddMember("config", JsonValue(config, a), a);
    shared_dicts_[*shared_id] = std::move(first);
  }
  return layer;
}

Activation Deserializer::activation(const JsonValue* value, const std::string& where) {
  if (value == nullptr || value->IsNull()) return *builtin_activation("linear");
  std::string key;
  bool from_function_dict = false;
  if (value->IsString()) {
    key = value->GetString();
  } else if (value->IsObject()) {
    check_no_lambda(*value, where, options_.safe_mode);
    const std::string cls = string_or(*value, "class_name", "");
    const JsonValue* c = cfg::find(*value, "config");
    if (cls == "function" && c != nullptr && c->IsString()) {
      key = c->GetString();
      from_function_dict = true;
    } else {
      throw UnsupportedError(where + ": activation objects of class '" + cls +
                             "' are not supported; use a string or a registered function");
    }
  } else {
    throw ConfigError(where + ": activation must be a string or a function dict");
  }
  if (auto f = find_custom(key, &CustomObjects::functions, registered_functions(),
                           options_.custom_objects)) {
    return *f;
  }
  if (auto b = builtin_activation(key)) return *b;
  if (key.find('>') == std::string::npos) {
    if (auto f = find_function_by_suffix(key, options_.custom_objects)) return *f;
  }
  if (load_plugin_providing(PluginObjectKind::Function, key, options_)) {  // on demand
    if (auto f = registered_functions().find(key)) return *f;
    if (key.find('>') == std::string::npos) {
      if (auto f = find_function_by_suffix(key, options_.custom_objects)) return *f;
    }
  }
  (void)from_function_dict;
  throw UnknownObjectError(where + ": Could not locate function '" + key + "'. " +
                           how_to_provide(key, "function"));
}

}  // namespace kserde
