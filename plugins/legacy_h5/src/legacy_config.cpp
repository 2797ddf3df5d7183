// Legacy (Keras 2 style) configs <-> Keras 3 object dicts, spec §6.1 and §6.3.
#include <rapidjson/document.h>

#include <string>
#include <string_view>

#include "kserde/error.hpp"
#include "kserde/object_registry.hpp"
#include "kserde_plugins/legacy_h5.hpp"

namespace kserde::legacy_h5 {

namespace {

using Alloc = JsonDocument::AllocatorType;

const JsonValue* member(const JsonValue& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(JsonValue(rapidjson::StringRef(key.data(), key.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

JsonValue* member(JsonValue& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(JsonValue(rapidjson::StringRef(key.data(), key.size())));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string string_of(const JsonValue* v) {
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength())
                                       : std::string();
}

JsonValue str(std::string_view s, Alloc& a) {
  return JsonValue(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

void set_member(JsonValue& obj, std::string_view key, JsonValue value, Alloc& a) {
  if (JsonValue* existing = member(obj, key)) {
    *existing = std::move(value);
  } else {
    obj.AddMember(str(key, a), std::move(value), a);
  }
}

void remove_member(JsonValue& obj, std::string_view key) {
  if (!obj.IsObject()) return;
  obj.RemoveMember(JsonValue(rapidjson::StringRef(key.data(), key.size())));
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// {"class_name": ..., "config": ...} without a module: a legacy-serialized object.
bool is_legacy_object(const JsonValue& v) {
  return v.IsObject() && member(v, "class_name") != nullptr && member(v, "config") != nullptr &&
         member(v, "module") == nullptr && member(v, "class_name")->IsString();
}

// Rebuilds `obj` with the Keras 3 key order: module, class_name, config, registered_name, then
// every other key (the legacy passive-serialization flag dropped).
void reorder_object_dict(JsonValue& obj, JsonValue module, std::string_view class_name,
                         JsonValue registered_name, Alloc& a) {
  JsonValue out(rapidjson::kObjectType);
  out.AddMember("module", std::move(module), a);
  out.AddMember("class_name", str(class_name, a), a);
  JsonValue config;
  if (JsonValue* c = member(obj, "config")) config = std::move(*c);
  out.AddMember("config", std::move(config), a);
  out.AddMember("registered_name", std::move(registered_name), a);
  for (auto& m : obj.GetObject()) {
    const std::string_view k(m.name.GetString(), m.name.GetStringLength());
    if (k == "module" || k == "class_name" || k == "config" || k == "registered_name" ||
        k == "__passive_serialization__") {
      continue;
    }
    out.AddMember(JsonValue(m.name, a), std::move(m.value), a);
  }
  obj = std::move(out);
}

class ToKeras3 {
 public:
  ToKeras3(const LoadOptions& options, std::string where, Alloc& a)
      : options_(options), where_(std::move(where)), a_(a) {}

  std::vector<std::string> unknown;

  void layer(JsonValue& v) {
    if (!v.IsObject() || !is_string_member(v, "class_name") || member(v, "config") == nullptr) {
      throw ConfigError(where_ + ": Improper config format: expecting a dict with `class_name` "
                                 "and `config` keys");
    }
    // A Keras 3 object dict (it has a module) is deserialized with the Keras 3 rules as is.
    if (member(v, "module") != nullptr) return;
    const std::string cn = string_of(member(v, "class_name"));
    JsonValue& config = *member(v, "config");
    // Keras 2.0 Sequential: the config is the list of layers.
    if ((cn == "Sequential") && config.IsArray()) {
      JsonValue wrapped(rapidjson::kObjectType);
      wrapped.AddMember("name", "sequential", a_);
      wrapped.AddMember("layers", std::move(config), a_);
      config = std::move(wrapped);
    }
    if (!config.IsObject()) {
      throw ConfigError(where_ + ": layer of class '" + cn + "': config must be a dict");
    }
    const std::string where = where_ + ": layer '" + string_of(member(config, "name")) + "' (" +
                              cn + ")";
    if (cn == "Sequential") sequential_input(config);
    legacy_fixups(cn, config, where);
    nested(config);
    if (JsonValue* layers = member(config, "layers"); layers != nullptr && layers->IsArray()) {
      for (auto& entry : layers->GetArray()) layer(entry);
    }
    resolve(v, cn);
  }

  void nested(JsonValue& config) {
    for (auto& m : config.GetObject()) {
      const std::string_view k(m.name.GetString(), m.name.GetStringLength());
      JsonValue& val = m.value;
      if (k == "layers" || k == "name") continue;
      if (val.IsObject()) {
        if (string_of(member(val, "class_name")) == "TensorShape" && member(val, "items") != nullptr) {
          JsonValue items = std::move(*member(val, "items"));
          val = std::move(items);
        } else if ((k == "layer" || k == "cell" || k == "forward_layer" ||
                    k == "backward_layer") && is_legacy_object(val)) {
          layer(val);
        } else if (is_legacy_object(val)) {
          nested_object(k, val);
        } else {
          remove_member(val, "__passive_serialization__");
        }
      } else if (val.IsArray()) {
        for (auto& e : val.GetArray()) {
          if (k == "cells" && is_legacy_object(e)) {
            layer(e);
          } else if (e.IsObject() && string_of(member(e, "class_name")) == "TensorShape" &&
                     member(e, "items") != nullptr) {
            JsonValue items = std::move(*member(e, "items"));
            e = std::move(items);
          }
        }
      }
    }
  }

 private:
  bool is_string_member(const JsonValue& v, std::string_view key) const {
    const JsonValue* m = member(v, key);
    return m != nullptr && m->IsString();
  }

  bool custom_provides(const std::string& key) const {
    for (const CustomObjects* scope : CustomObjectScope::active()) {
      if (scope->layers.find(key) != scope->layers.end()) return true;
    }
    if (registered_layers().contains(key)) return true;
    return options_.custom_objects.layers.find(key) != options_.custom_objects.layers.end();
  }

  // Sets module / class_name / registered_name the way Keras 3 writes them.
  void resolve(JsonValue& v, const std::string& cn) {
    const auto gt = cn.find('>');
    if (gt != std::string::npos) {
      if (!custom_provides(cn)) unknown.push_back(cn);
      reorder_object_dict(v, JsonValue(), cn.substr(gt + 1), str(cn, a_), a_);
      return;
    }
    if (custom_provides(cn)) {
      reorder_object_dict(v, JsonValue(), cn, str(cn, a_), a_);
      return;
    }
    const std::string cls = cn == "Model" ? "Functional" : cn;
    if (cls == "Functional") {
      reorder_object_dict(v, str("keras.src.models.functional", a_), cls, str("Functional", a_), a_);
    } else if (cls == "Sequential") {
      reorder_object_dict(v, str("keras", a_), cls, JsonValue(), a_);
    } else {
      if (!builtin_layers().contains(cls)) unknown.push_back(cn);
      reorder_object_dict(v, str("keras.layers", a_), cls, JsonValue(), a_);
    }
  }

  // Keras 2 Sequential configs without an InputLayer carry `batch_input_shape` on their first
  // layer: that is the model's input (Keras 2 named the implicit input "<layer>_input").
  void sequential_input(JsonValue& config) {
    JsonValue* layers = member(config, "layers");
    if (layers == nullptr || !layers->IsArray() || layers->Empty()) return;
    JsonValue& first = (*layers)[0];
    if (!is_legacy_object(first) || string_of(member(first, "class_name")) == "InputLayer") return;
    JsonValue* fc = member(first, "config");
    if (fc == nullptr || !fc->IsObject()) return;
    JsonValue* bis = member(*fc, "batch_input_shape");
    if (bis == nullptr || !bis->IsArray()) return;
    JsonValue in_config(rapidjson::kObjectType);
    in_config.AddMember("batch_shape", JsonValue(*bis, a_), a_);
    const JsonValue* dt = member(*fc, "dtype");
    in_config.AddMember("dtype", dt != nullptr && dt->IsString() ? JsonValue(*dt, a_)
                                                                  : str("float32", a_), a_);
    in_config.AddMember("sparse", false, a_);
    in_config.AddMember("ragged", false, a_);
    in_config.AddMember("name", str(string_of(member(*fc, "name")) + "_input", a_), a_);
    remove_member(*fc, "batch_input_shape");
    JsonValue entry(rapidjson::kObjectType);
    entry.AddMember("class_name", "InputLayer", a_);
    entry.AddMember("config", std::move(in_config), a_);
    JsonValue list(rapidjson::kArrayType);
    list.PushBack(std::move(entry), a_);
    for (auto& e : layers->GetArray()) list.PushBack(std::move(e), a_);
    *layers = std::move(list);
  }

  // saving_utils.model_from_config's conversions.
  void legacy_fixups(const std::string& cn, JsonValue& config, const std::string& where) {
    if (JsonValue* bis = member(config, "batch_input_shape"); bis != nullptr) {
      JsonValue shape = std::move(*bis);
      remove_member(config, "batch_input_shape");
      if (!shape.IsNull()) {
        set_member(config, cn == "InputLayer" ? "batch_shape" : "input_shape", std::move(shape), a_);
      }
    }
    if (JsonValue* axis = member(config, "axis"); axis != nullptr) {
      if (axis->IsArray() && axis->Size() == 1 && (*axis)[0].IsNumber()) {
        const JsonValue& e = (*axis)[0];
        *axis = JsonValue(static_cast<std::int64_t>(e.IsInt64() ? e.GetInt64() : e.GetDouble()));
      } else if (axis->IsDouble()) {
        *axis = JsonValue(static_cast<std::int64_t>(axis->GetDouble()));
      }
    }
    if (cn == "Lambda") {
      for (const char* dep : {"module", "function_type", "output_shape_type", "output_shape_module"}) {
        remove_member(config, dep);
      }
      JsonValue* fn = member(config, "function");
      if (fn != nullptr && fn->IsArray()) {
        if (fn->Size() < 3) throw ConfigError(where + ": Lambda function list must hold 3 entries");
        JsonValue body(rapidjson::kObjectType);
        body.AddMember("code", JsonValue((*fn)[0], a_), a_);
        body.AddMember("defaults", JsonValue((*fn)[1], a_), a_);
        body.AddMember("closure", JsonValue((*fn)[2], a_), a_);
        JsonValue d(rapidjson::kObjectType);
        d.AddMember("class_name", "__lambda__", a_);
        d.AddMember("config", std::move(body), a_);
        *fn = std::move(d);
      }
    }
  }

  // Initializers, regularizers, constraints and dtype policies serialized the legacy way.
  void nested_object(std::string_view key, JsonValue& v) {
    std::string cn = string_of(member(v, "class_name"));
    std::string module;
    if (ends_with(key, "_initializer") || key == "initializer") {
      module = "keras.initializers";
    } else if (ends_with(key, "_regularizer") || key == "regularizer") {
      module = "keras.regularizers";
    } else if (ends_with(key, "_constraint") || key == "constraint") {
      module = "keras.constraints";
    } else if (key == "dtype" || key == "dtype_policy") {
      module = "keras";
      if (cn == "Policy") cn = "DTypePolicy";
    } else {
      remove_member(v, "__passive_serialization__");
      return;  // unknown category: left for the consumer
    }
    const auto gt = cn.find('>');
    if (gt != std::string::npos) {
      reorder_object_dict(v, JsonValue(), cn.substr(gt + 1), str(cn, a_), a_);
    } else {
      reorder_object_dict(v, str(module, a_), cn, JsonValue(), a_);
    }
  }

  const LoadOptions& options_;
  std::string where_;
  Alloc& a_;
};

// Keras 3 object dicts inside compile args -> the legacy {"class_name", "config"} form.
void legacy_objects_in(JsonValue& v, Alloc& a) {
  if (v.IsObject()) {
    const JsonValue* cn = member(v, "class_name");
    const JsonValue* c = member(v, "config");
    if (cn != nullptr && cn->IsString() && c != nullptr && member(v, "module") != nullptr) {
      const JsonValue* reg = member(v, "registered_name");
      JsonValue out(rapidjson::kObjectType);
      out.AddMember("class_name", reg != nullptr && reg->IsString() ? JsonValue(*reg, a)
                                                                      : JsonValue(*cn, a), a);
      out.AddMember("config", JsonValue(*c, a), a);
      v = std::move(out);
      return;
    }
    for (auto& m : v.GetObject()) legacy_objects_in(m.value, a);
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) legacy_objects_in(e, a);
  }
}

bool is_model_dict(const JsonValue& d) {
  const std::string cn = string_of(member(d, "class_name"));
  if (cn == "Sequential" || cn == "Functional" || cn == "Model") return true;
  const JsonValue* c = member(d, "config");
  const JsonValue* layers = c != nullptr ? member(*c, "layers") : nullptr;
  if (layers == nullptr || !layers->IsArray() || layers->Empty()) return false;
  for (const auto& e : layers->GetArray()) {
    if (!e.IsObject() || member(e, "class_name") == nullptr || member(e, "config") == nullptr) {
      return false;
    }
  }
  return true;
}

JsonValue legacy_entry(const JsonValue& d, bool top, Alloc& a) {
  if (!d.IsObject()) throw ConfigError("legacy_h5: a layer entry is not an object dict");
  const JsonValue* cn = member(d, "class_name");
  const JsonValue* reg = member(d, "registered_name");
  JsonValue out(rapidjson::kObjectType);
  if (!top && reg != nullptr && reg->IsString()) {
    out.AddMember("class_name", JsonValue(*reg, a), a);
  } else {
    out.AddMember("class_name", cn != nullptr ? JsonValue(*cn, a) : JsonValue(), a);
  }
  JsonValue config;
  if (const JsonValue* c = member(d, "config")) config.CopyFrom(*c, a);
  if (is_model_dict(d)) {
    if (JsonValue* layers = member(config, "layers"); layers != nullptr && layers->IsArray()) {
      JsonValue list(rapidjson::kArrayType);
      for (const auto& e : layers->GetArray()) list.PushBack(legacy_entry(e, false, a), a);
      *layers = std::move(list);
    }
  }
  out.AddMember("config", std::move(config), a);
  if (!top) {
    for (const char* k : {"name", "inbound_nodes", "shared_object_id"}) {
      if (const JsonValue* v = member(d, k)) out.AddMember(JsonValue(k, a), JsonValue(*v, a), a);
    }
  }
  return out;
}

}  // namespace

std::shared_ptr<JsonDocument> to_keras3_config(const JsonValue& legacy_config,
                                               const LoadOptions& options,
                                               const std::string& where,
                                               std::vector<std::string>* unknown) {
  auto doc = std::make_shared<JsonDocument>();
  doc->CopyFrom(legacy_config, doc->GetAllocator());
  ToKeras3 convert(options, where, doc->GetAllocator());
  convert.layer(*doc);
  if (unknown != nullptr) *unknown = convert.unknown;
  return doc;
}

std::shared_ptr<JsonDocument> compile_config_from_training_config(const JsonValue& tc,
                                                                  const std::string& where) {
  if (!tc.IsObject()) throw ConfigError(where + ": training_config must be a dict");
  auto doc = std::make_shared<JsonDocument>();
  doc->SetObject();
  Alloc& a = doc->GetAllocator();
  const JsonValue* oc = member(tc, "optimizer_config");
  if (oc != nullptr && !oc->IsNull()) {
    if (!is_legacy_object(*oc) && !(oc->IsObject() && member(*oc, "module") != nullptr)) {
      throw ConfigError(where + ": training_config optimizer_config must be a dict with "
                                "`class_name` and `config`");
    }
    JsonValue opt(*oc, a);
    if (member(opt, "module") == nullptr) {
      const std::string cn = string_of(member(opt, "class_name"));
      const auto gt = cn.find('>');
      // A learning-rate schedule serialized the legacy way.
      if (JsonValue* c = member(opt, "config"); c != nullptr && c->IsObject()) {
        if (JsonValue* lr = member(*c, "learning_rate"); lr != nullptr && is_legacy_object(*lr)) {
          const std::string lcn = string_of(member(*lr, "class_name"));
          reorder_object_dict(*lr, str("keras.optimizers.schedules", a), lcn, JsonValue(), a);
        }
      }
      if (gt != std::string::npos) {
        reorder_object_dict(opt, JsonValue(), cn.substr(gt + 1), str(cn, a), a);
      } else {
        reorder_object_dict(opt, str("keras.optimizers", a), cn, JsonValue(), a);
      }
    }
    doc->AddMember("optimizer", std::move(opt), a);
  }
  for (const auto& m : tc.GetObject()) {
    const std::string_view k(m.name.GetString(), m.name.GetStringLength());
    if (k == "optimizer_config" || k == "optimizer") continue;
    JsonValue v(m.value, a);
    doc->AddMember(JsonValue(m.name, a), std::move(v), a);
  }
  return doc;
}

std::shared_ptr<JsonDocument> to_legacy_config(const JsonValue& object_dict) {
  auto doc = std::make_shared<JsonDocument>();
  JsonValue v = legacy_entry(object_dict, true, doc->GetAllocator());
  static_cast<JsonValue&>(*doc) = std::move(v);
  return doc;
}

std::shared_ptr<JsonDocument> training_config(const Model& model) {
  if (!model.optimizer() || !model.optimizer()->object_dict) return nullptr;
  auto doc = std::make_shared<JsonDocument>();
  doc->SetObject();
  Alloc& a = doc->GetAllocator();
  if (const JsonValue* cc = model.compile_config(); cc != nullptr && cc->IsObject()) {
    for (const auto& m : cc->GetObject()) {
      const std::string_view k(m.name.GetString(), m.name.GetStringLength());
      if (k == "optimizer") continue;
      JsonValue v(m.value, a);
      legacy_objects_in(v, a);
      doc->AddMember(JsonValue(m.name, a), std::move(v), a);
    }
  }
  const JsonDocument& od = *model.optimizer()->object_dict;
  const JsonValue* cn = member(od, "class_name");
  const JsonValue* reg = member(od, "registered_name");
  JsonValue oc(rapidjson::kObjectType);
  oc.AddMember("class_name", reg != nullptr && reg->IsString() ? JsonValue(*reg, a)
                             : cn != nullptr ? JsonValue(*cn, a) : str("Optimizer", a), a);
  JsonValue c(rapidjson::kObjectType);
  if (const JsonValue* oconf = member(od, "config")) c.CopyFrom(*oconf, a);
  oc.AddMember("config", std::move(c), a);
  doc->AddMember("optimizer_config", std::move(oc), a);
  return doc;
}

}  // namespace kserde::legacy_h5
