// The name-based object registry, with Keras's lookup rules (spec §4.2):
//   1. the innermost active CustomObjectScope, then outer ones,
//   2. the global table of registered names (register_keras_serializable: "Package>Name"),
//   3. the custom_objects passed to load_model,
//   4. Keras built-ins by module + class_name (module "keras" or "keras.*"),
//   5. for functions saved by Keras <= 3.6 as a bare name: any registered "<pkg>>name".
// Built-in layers register themselves with KSERDE_REGISTER_LAYER in their own .cpp file.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/activations.hpp"
#include "kserde/options.hpp"
#include "kserde/registry/name_table.hpp"

namespace kserde {

// Keras built-in layer classes by class name ("Dense"), provider "kserde" or a plugin.
registry::NameTable<LayerFactory>& builtin_layers();
// Registered custom classes by registered name ("MyLayers>ScaledDense").
registry::NameTable<LayerFactory>& registered_layers();
// Registered custom functions by registered name ("MyLayers>scaled_tanh").
registry::NameTable<Activation>& registered_functions();

// register_keras_serializable for a C++ layer class T constructible from
// (std::shared_ptr<JsonDocument>, Deserializer&). The key is "<package>><name>", name defaulting
// to `class_name`. One line per class.
template <class T>
void register_keras_serializable(std::string_view package, std::string_view class_name,
                                 registry::OnClash on_clash = registry::OnClash::Error);
void register_keras_function(std::string_view package, std::string_view name, ActivationFn fn,
                             registry::OnClash on_clash = registry::OnClash::Error);

// A thread-local scope of custom objects, like keras.saving.CustomObjectScope. Scopes nest; the
// innermost wins. Not movable: create it on the stack.
class CustomObjectScope {
 public:
  explicit CustomObjectScope(CustomObjects objects);
  ~CustomObjectScope();
  CustomObjectScope(const CustomObjectScope&) = delete;
  CustomObjectScope& operator=(const CustomObjectScope&) = delete;
  // Active scopes of this thread, innermost first.
  static std::vector<const CustomObjects*> active();

 private:
  CustomObjects objects_;
};

// Built-in self-registration (used inside kserde and by plugins providing keras.layers classes).
struct BuiltinLayerRegistration {
  BuiltinLayerRegistration(const char* class_name, LayerFactory factory);
};

#define KSERDE_REGISTER_LAYER(CLASS)                                                    \
  static const ::kserde::BuiltinLayerRegistration kserde_register_##CLASS(              \
      #CLASS, [](std::shared_ptr<::kserde::JsonDocument> d, ::kserde::Deserializer& c) { \
        return std::shared_ptr<::kserde::Layer>(std::make_shared<CLASS>(std::move(d), c)); \
      })

#define KSERDE_REGISTER_LAYER_AS(CLASS, NAME)                                           \
  static const ::kserde::BuiltinLayerRegistration kserde_register_##CLASS##_as(         \
      NAME, [](std::shared_ptr<::kserde::JsonDocument> d, ::kserde::Deserializer& c) {   \
        return std::shared_ptr<::kserde::Layer>(std::make_shared<CLASS>(std::move(d), c)); \
      })

template <class T>
void register_keras_serializable(std::string_view package, std::string_view class_name,
                                 registry::OnClash on_clash) {
  std::string key(package.empty() ? std::string_view("Custom") : package);
  key += '>';
  key += class_name;
  registered_layers().add(
      std::move(key),
      [](std::shared_ptr<JsonDocument> d, Deserializer& c) {
        return std::shared_ptr<Layer>(std::make_shared<T>(std::move(d), c));
      },
      "application", on_clash);
}

}  // namespace kserde
