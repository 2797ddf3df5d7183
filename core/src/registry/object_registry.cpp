#include "kserde/object_registry.hpp"

#include "kserde/layer.hpp"

namespace kserde {

registry::NameTable<LayerFactory>& builtin_layers() {
  static registry::NameTable<LayerFactory> table("layer class");
  return table;
}

registry::NameTable<LayerFactory>& registered_layers() {
  static registry::NameTable<LayerFactory> table("registered layer");
  return table;
}

registry::NameTable<Activation>& registered_functions() {
  static registry::NameTable<Activation> table("registered function");
  return table;
}

void register_keras_function(std::string_view package, std::string_view name, ActivationFn fn,
                             registry::OnClash on_clash) {
  std::string key(package.empty() ? std::string_view("Custom") : package);
  key += '>';
  key += name;
  registered_functions().add(key, Activation{key, fn, nullptr, false}, "application", on_clash);
}

BuiltinLayerRegistration::BuiltinLayerRegistration(const char* class_name, LayerFactory factory) {
  builtin_layers().add(class_name, std::move(factory), "kserde");
}

CustomObjects& CustomObjects::add_layer(std::string key, LayerFactory factory) {
  layers.insert_or_assign(std::move(key), std::move(factory));
  return *this;
}

CustomObjects& CustomObjects::add_function(std::string key, ActivationFn fn) {
  Activation a{key, fn, nullptr, false};
  functions.insert_or_assign(std::move(key), std::move(a));
  return *this;
}

namespace {
thread_local std::vector<const CustomObjects*> t_scopes;
}

CustomObjectScope::CustomObjectScope(CustomObjects objects) : objects_(std::move(objects)) {
  t_scopes.push_back(&objects_);
}

CustomObjectScope::~CustomObjectScope() {
  // Scopes are stack objects, so they end in reverse order of creation.
  if (!t_scopes.empty() && t_scopes.back() == &objects_) t_scopes.pop_back();
}

std::vector<const CustomObjects*> CustomObjectScope::active() {
  return {t_scopes.rbegin(), t_scopes.rend()};
}

}  // namespace kserde
