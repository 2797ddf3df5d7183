// Plugins: custom layers, functions and file formats from shared libraries at runtime.
//
// Writing one (see docs/plugins.md and examples/plugin_example/):
//
//   #include <kserde/plugin.hpp>
//   class ScaledDense : public kserde::Layer { ... };
//   void scaled_tanh(std::span<float> data, std::int64_t axis_size);
//
//   void register_my_layers(kserde::PluginRegistrar& r) {
//     r.add_layer<ScaledDense>("MyLayers>ScaledDense");
//     r.add_function("MyLayers>scaled_tanh", &scaled_tanh);
//   }
//   KSERDE_PLUGIN(my_layers, "1.0.0", register_my_layers,
//                 KSERDE_LAYERS("MyLayers>ScaledDense"),
//                 KSERDE_FUNCTIONS("MyLayers>scaled_tanh"))
//
// and in CMake: kserde_add_plugin(my_layers SOURCES my_layers.cpp
//                 PROVIDES_LAYERS "MyLayers>ScaledDense" PROVIDES_FUNCTIONS "MyLayers>scaled_tanh")
//
// Host side: load_plugin(path) / unload_plugin(name); load_model() loads, on demand, the plugin
// that declares a name nothing else provides, from KSERDE_PLUGIN_PATH and LoadOptions::plugin_dirs
// only (never from a location named by the model file).
#pragma once

#include <cstddef>
#include <algorithm>
#include <cstring>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/activations.hpp"
#include "kserde/error.hpp"
#include "kserde/options.hpp"
#include "kserde/registry/name_table.hpp"
#include "kserde/registry/plugin_api.hpp"
#include "kserde/registry/plugin_loader.hpp"
#include "kserde/serializer.hpp"

namespace kserde {

class Layer;
using registry::PluginInfo;

// What a plugin's registration function receives. Everything added is staged and registered only
// when the registration function returned successfully, all or nothing. Only names the plugin's
// descriptor declares may be added, and every declared name must be added.
class PluginRegistrar : public KserdePluginRegistrar {
 public:
  // "Package>Name" goes to the registered-name table; a bare name ("Dense") provides a Keras
  // built-in class (module "keras.layers").
  PluginRegistrar& add_layer(std::string name, LayerFactory factory);
  template <class T>
  PluginRegistrar& add_layer(std::string name) {
    return add_layer(std::move(name), [](std::shared_ptr<JsonDocument> d, Deserializer& c) {
      return std::shared_ptr<Layer>(std::make_shared<T>(std::move(d), c));
    });
  }
  // "Package>name"; the function must stay callable while the library is loaded.
  PluginRegistrar& add_function(std::string name, ActivationFn fn);
  // A file format; its name() must be declared with KSERDE_FORMAT.
  PluginRegistrar& add_format(SerializerPtr serializer);

  const std::string& plugin_name() const;
  // The plugin library's keepalive; objects a plugin hands out by other means than the registrar
  // can hold a copy.
  std::shared_ptr<const void> keepalive() const;

  struct Staged;
  explicit PluginRegistrar(Staged& staged);

 private:
  Staged& staged_;
};

struct PluginLoadOptions {
  // Error: a name another provider already registered is a PluginError naming both providers.
  // Override: the plugin's entry replaces it (restored when the plugin is unloaded).
  registry::OnClash on_clash = registry::OnClash::Error;
};

// Loads the plugin library at `path` and registers what it provides (all or nothing). Loading the
// same file again is a no-op returning its info. PluginError naming the file when the file is not
// a shared library, has no entry point, is of another plugin ABI or kserde major.minor, disagrees
// with its manifest, fails or throws while registering, or clashes with another provider.
// Loading is serialized; lookups in the registries stay safe from other threads meanwhile.
PluginInfo load_plugin(const std::filesystem::path& path, const PluginLoadOptions& options = {});
// Withdraws the plugin's names from every registry and drops the loader's reference to the
// library. Objects the plugin made (layers, activations, serializers) keep it loaded until the
// last of them is gone. False when no plugin of that name is loaded.
bool unload_plugin(std::string_view name);
// Plugins currently loaded, by name.
std::vector<PluginInfo> loaded_plugins();

// The directories plugins may come from for `options`: KSERDE_PLUGIN_PATH, then
// options.plugin_dirs, then (with options.bundled_plugins) the plugins installed with kserde.
std::vector<std::filesystem::path> plugin_search_path(const LoadOptions& options);

// Where a listed plugin was found.
enum class PluginOrigin {
  Bundled,      // installed with kserde (registry::bundled_plugin_dir())
  Environment,  // a directory of KSERDE_PLUGIN_PATH
  Directory,    // a directory the caller named (LoadOptions::plugin_dirs, --plugin-dir)
  Explicit,     // loaded by path (load_plugin, --plugin)
};
std::string_view plugin_origin_name(PluginOrigin origin);  // "bundled", "KSERDE_PLUGIN_PATH", ...

// A plugin library found in a plugin directory.
struct AvailablePlugin {
  PluginOrigin origin = PluginOrigin::Directory;
  std::filesystem::path library;
  std::optional<PluginInfo> info;  // from the manifest, or from loading it when probed
  bool loaded = false;             // loaded in this process now
  bool loadable = false;           // known to load (true only after loading succeeded)
  std::string problem;             // why it does not load (empty when it does or is unknown)
};
// Every plugin in KSERDE_PLUGIN_PATH (when `include_env`), in `dirs`, and installed with kserde
// (when `include_bundled`), then those loaded by path from elsewhere. With `probe`, each one not yet
// loaded is loaded (and registered) to find out whether it works, errors recorded in `problem`
// rather than thrown.
std::vector<AvailablePlugin> available_plugins(const std::vector<std::filesystem::path>& dirs,
                                               bool include_env = true, bool probe = false,
                                               bool include_bundled = true);
// Loads every plugin in `dir` (not yet loaded ones); PluginError on the first that fails.
std::vector<PluginInfo> load_plugins_in(const std::filesystem::path& dir,
                                        const PluginLoadOptions& options = {});

// On-demand loading (used by the Deserializer): when a plugin in plugin_search_path(options)
// declares `name` in its manifest, loads that plugin only and returns true. A plugin that fails
// to load is a PluginError.
enum class PluginObjectKind { Layer, Function, Format };
bool load_plugin_providing(PluginObjectKind kind, std::string_view name,
                           const LoadOptions& options);

namespace plugin_detail {

// Owns the strings a descriptor points to. Constructed once per plugin (function-local static).
struct Provides {
  enum class Kind { Layers, Functions, Format } kind;
  std::vector<std::string> values;  // names, or {format name, extensions, magic}
};

class DescriptorHolder {
 public:
  DescriptorHolder(const char* name, const char* version, KserdePluginRegisterFn fn,
                   std::initializer_list<Provides> provides)
      : name_(name), version_(version) {
    for (const Provides& p : provides) {
      if (p.kind == Provides::Kind::Layers) layers_.insert(layers_.end(), p.values.begin(), p.values.end());
      if (p.kind == Provides::Kind::Functions) {
        functions_.insert(functions_.end(), p.values.begin(), p.values.end());
      }
      if (p.kind == Provides::Kind::Format) formats_.push_back(p.values);
    }
    for (const std::string& s : layers_) layer_ptrs_.push_back(s.c_str());
    layer_ptrs_.push_back(nullptr);
    for (const std::string& s : functions_) function_ptrs_.push_back(s.c_str());
    function_ptrs_.push_back(nullptr);
    for (const std::vector<std::string>& f : formats_) {
      format_decls_.push_back(KserdePluginFormat{f.at(0).c_str(), f.at(1).c_str(), f.at(2).c_str()});
    }
    descriptor_.abi_version = KSERDE_PLUGIN_ABI_VERSION;
    descriptor_.struct_size = sizeof(KserdePluginDescriptor);
    descriptor_.kserde_version = KSERDE_PLUGIN_KSERDE_VERSION;
    descriptor_.name = name_.c_str();
    descriptor_.version = version_.c_str();
    descriptor_.layers = layer_ptrs_.data();
    descriptor_.functions = function_ptrs_.data();
    descriptor_.formats = format_decls_.empty() ? nullptr : format_decls_.data();
    descriptor_.format_count = static_cast<std::uint32_t>(format_decls_.size());
    descriptor_.register_fn = fn;
  }
  DescriptorHolder(const DescriptorHolder&) = delete;
  DescriptorHolder& operator=(const DescriptorHolder&) = delete;
  const KserdePluginDescriptor* get() const { return &descriptor_; }

 private:
  std::string name_, version_;
  std::vector<std::string> layers_, functions_;
  std::vector<std::vector<std::string>> formats_;
  std::vector<const char*> layer_ptrs_, function_ptrs_;
  std::vector<KserdePluginFormat> format_decls_;
  KserdePluginDescriptor descriptor_{};
};

inline void write_error(char* buffer, std::size_t size, const char* text) noexcept {
  if (buffer == nullptr || size == 0) return;
  const std::size_t n = std::min(std::strlen(text), size - 1);
  std::memcpy(buffer, text, n);
  buffer[n] = '\0';
}

// Runs a plugin's registration function, converting every exception into a status + message:
// nothing thrown inside a plugin escapes it unconverted. Compiled into the plugin.
template <void (*Fn)(PluginRegistrar&)>
int guarded_register(KserdePluginRegistrar* registrar, char* buffer, std::size_t size) noexcept {
  try {
    if (registrar == nullptr || registrar->abi_version != KSERDE_PLUGIN_ABI_VERSION) {
      write_error(buffer, size, "the host passed a registrar of another plugin ABI");
      return KSERDE_PLUGIN_FAILED;
    }
    Fn(*static_cast<PluginRegistrar*>(registrar));
    return KSERDE_PLUGIN_OK;
  } catch (const Error& e) {
    write_error(buffer, size, e.what());
    return KSERDE_PLUGIN_FAILED;
  } catch (const std::exception& e) {
    write_error(buffer, size, e.what());
    return KSERDE_PLUGIN_STD_EXCEPTION;
  } catch (...) {
    write_error(buffer, size, "an exception that is not a std::exception");
    return KSERDE_PLUGIN_UNKNOWN_EXCEPTION;
  }
}

}  // namespace plugin_detail
}  // namespace kserde

// Names a plugin declares (arguments of KSERDE_PLUGIN after the registration function).
#define KSERDE_LAYERS(...) \
  ::kserde::plugin_detail::Provides { ::kserde::plugin_detail::Provides::Kind::Layers, { __VA_ARGS__ } }
#define KSERDE_FUNCTIONS(...) \
  ::kserde::plugin_detail::Provides { ::kserde::plugin_detail::Provides::Kind::Functions, { __VA_ARGS__ } }
// KSERDE_FORMAT("safetensors", ".safetensors;.st", "")  (extensions ';'-separated, magic in hex)
#define KSERDE_FORMAT(NAME, EXTENSIONS, MAGIC_HEX)                                          \
  ::kserde::plugin_detail::Provides {                                                     \
    ::kserde::plugin_detail::Provides::Kind::Format, { NAME, EXTENSIONS, MAGIC_HEX }      \
  }

// Defines the plugin's one entry point. NAME is an identifier-like plugin name (my_layers),
// VERSION a string, REGISTER_FN a `void (kserde::PluginRegistrar&)` function; the rest are
// KSERDE_LAYERS(...), KSERDE_FUNCTIONS(...) and KSERDE_FORMAT(...) declarations. Use it once per
// library, at namespace scope.
#define KSERDE_PLUGIN(NAME, VERSION, REGISTER_FN, ...)                                        \
  extern "C" KSERDE_PLUGIN_EXPORT const KserdePluginDescriptor* kserde_plugin_descriptor(void) \
      noexcept {                                                                              \
    try {                                                                                     \
      static const ::kserde::plugin_detail::DescriptorHolder holder(                          \
          #NAME, VERSION, &::kserde::plugin_detail::guarded_register<&REGISTER_FN>,           \
          {__VA_ARGS__});                                                                     \
      return holder.get();                                                                    \
    } catch (...) {                                                                           \
      return nullptr;                                                                         \
    }                                                                                         \
  }                                                                                           \
  static_assert(true, "")
