// Keras's registered-name convention: "Package>Name" (register_keras_serializable), default
// package "Custom".
#pragma once

#include <string>
#include <string_view>

namespace kserde::registry {

struct RegisteredName {
  std::string package;  // empty when the name has no '>'
  std::string name;
};

// "MyLayers>ScaledDense" -> {"MyLayers", "ScaledDense"}; "Dense" -> {"", "Dense"}.
RegisteredName split_registered_name(std::string_view key);
// {"MyLayers", "ScaledDense"} -> "MyLayers>ScaledDense"; an empty package means "Custom".
std::string make_registered_name(std::string_view package, std::string_view name);

// The kserde version string ("0.3.0") this library was built as.
std::string_view library_version() noexcept;

}  // namespace kserde::registry
