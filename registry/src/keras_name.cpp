#include "kserde/registry/keras_name.hpp"

namespace kserde::registry {

RegisteredName split_registered_name(std::string_view key) {
  const auto pos = key.rfind('>');
  if (pos == std::string_view::npos) return {"", std::string(key)};
  return {std::string(key.substr(0, pos)), std::string(key.substr(pos + 1))};
}

std::string make_registered_name(std::string_view package, std::string_view name) {
  std::string key(package.empty() ? std::string_view("Custom") : package);
  key += '>';
  key += name;
  return key;
}

std::string_view library_version() noexcept { return KSERDE_VERSION_STRING; }

}  // namespace kserde::registry
