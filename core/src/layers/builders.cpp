// kserde::layers: building layers in code through the same factories that load them, so a layer
// made here is exactly what loading its saved config would make.
#include "kserde/layers.hpp"

#include <rapidjson/document.h>

#include "json/config_access.hpp"
#include "kserde/deserializer.hpp"
#include "kserde/error.hpp"
#include "kserde/object_registry.hpp"

namespace kserde::layers {

namespace {

std::shared_ptr<Layer> make(const std::string& class_name, JsonDocument config) {
  auto factory = builtin_layers().find(class_name);
  if (!factory) throw UnknownObjectError("no built-in layer class '" + class_name + "'");
  auto doc = std::make_shared<JsonDocument>();
  doc->SetObject();
  auto& a = doc->GetAllocator();
  doc->AddMember("module", "keras.layers", a);
  doc->AddMember("class_name", cfg::str(class_name, a), a);
  JsonValue c;
  c.CopyFrom(config, a);
  if (!cfg::has_non_null(c, "name")) cfg::set(c, "name", cfg::str(snake_case(class_name), a), a);
  doc->AddMember("config", c, a);
  doc->AddMember("registered_name", JsonValue(), a);
  static const LoadOptions defaults;
  Deserializer ctx(defaults, "kserde::layers::" + class_name, false);
  return (*factory)(doc, ctx);
}

JsonDocument object_with_name(const std::string& name) {
  JsonDocument d;
  d.SetObject();
  if (!name.empty()) d.AddMember("name", cfg::str(name, d.GetAllocator()), d.GetAllocator());
  return d;
}

}  // namespace

std::shared_ptr<Layer> from_config(const std::string& class_name, const std::string& config_json) {
  JsonDocument d;
  d.Parse<rapidjson::kParseNanAndInfFlag>(config_json.c_str());
  if (d.HasParseError() || !d.IsObject()) {
    throw ConfigError("layers::from_config(" + class_name + "): config must be a JSON object");
  }
  return make(class_name, std::move(d));
}

std::shared_ptr<Layer> Input(const Shape& shape, DType dtype, const std::string& name) {
  JsonDocument d = object_with_name(name.empty() ? "input_layer" : name);
  auto& a = d.GetAllocator();
  Shape batch{-1};
  batch.insert(batch.end(), shape.begin(), shape.end());
  // Key order as Keras writes it.
  JsonDocument ordered;
  ordered.SetObject();
  auto& oa = ordered.GetAllocator();
  ordered.AddMember("batch_shape", cfg::from_shape(batch, oa), oa);
  ordered.AddMember("dtype", cfg::str(dtype_name(dtype), oa), oa);
  ordered.AddMember("sparse", false, oa);
  ordered.AddMember("ragged", false, oa);
  ordered.AddMember("name", cfg::str(name.empty() ? "input_layer" : name, oa), oa);
  ordered.AddMember("optional", false, oa);
  (void)a;
  return make("InputLayer", std::move(ordered));
}

std::shared_ptr<Layer> Dense(std::int64_t units, const std::string& activation, bool use_bias,
                             const std::string& name) {
  JsonDocument d = object_with_name(name.empty() ? "dense" : name);
  auto& a = d.GetAllocator();
  d.AddMember("trainable", true, a);
  d.AddMember("units", JsonValue(units), a);
  d.AddMember("activation", cfg::str(activation, a), a);
  d.AddMember("use_bias", use_bias, a);
  return make("Dense", std::move(d));
}

std::shared_ptr<Layer> Activation(const std::string& activation, const std::string& name) {
  JsonDocument d = object_with_name(name.empty() ? "activation" : name);
  d.AddMember("activation", cfg::str(activation, d.GetAllocator()), d.GetAllocator());
  return make("Activation", std::move(d));
}

std::shared_ptr<Layer> Dropout(double rate, const std::string& name) {
  JsonDocument d = object_with_name(name.empty() ? "dropout" : name);
  d.AddMember("rate", rate, d.GetAllocator());
  return make("Dropout", std::move(d));
}

std::shared_ptr<Layer> Flatten(const std::string& name) {
  return make("Flatten", object_with_name(name.empty() ? "flatten" : name));
}

std::shared_ptr<Layer> Reshape(const Shape& target_shape, const std::string& name) {
  JsonDocument d = object_with_name(name.empty() ? "reshape" : name);
  JsonValue target(rapidjson::kArrayType);
  for (std::int64_t t : target_shape) target.PushBack(JsonValue(t), d.GetAllocator());
  d.AddMember("target_shape", target, d.GetAllocator());
  return make("Reshape", std::move(d));
}

}  // namespace kserde::layers
