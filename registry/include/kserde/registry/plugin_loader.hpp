// Finding, inspecting and opening plugin libraries (Boost.DLL). Knows nothing about machine
// learning: what a plugin provides is a list of names here; kserde/plugin.hpp (core) registers the
// objects behind them.
//
//   PluginInfo        what a descriptor or a manifest says about a plugin
//   PluginLibrary     one opened library; held by std::shared_ptr, and every object the plugin
//                     creates holds a copy, so the library is closed when the last one is gone
//   read_manifest     the JSON manifest beside a library (read without running plugin code)
//   scan_plugin_dir   the plugins in a directory (cached per directory, invalidated by mtimes)
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/registry/plugin_api.hpp"

namespace kserde::registry {

struct PluginFormatInfo {
  std::string name;
  std::vector<std::string> extensions;  // ".safetensors"
  std::string magic_hex;                // lowercase hex of the first bytes; may be empty

  bool operator==(const PluginFormatInfo&) const = default;
};

struct PluginInfo {
  std::filesystem::path library;  // the shared library
  std::uint32_t abi_version = 0;
  std::string kserde_version;  // built against
  std::string name;
  std::string version;
  std::vector<std::string> layers;     // "MyLayers>ScaledDense"
  std::vector<std::string> functions;  // "MyLayers>scaled_tanh"
  std::vector<PluginFormatInfo> formats;

  bool provides_layer(std::string_view key) const;
  bool provides_function(std::string_view key) const;
  bool provides_format(std::string_view format_name) const;
};

// Copies a descriptor into owned strings (no validation).
PluginInfo info_from_descriptor(const KserdePluginDescriptor& d, const std::filesystem::path& lib);
// Empty when the descriptor is acceptable to this host, else the reason ("built for plugin ABI 2,
// this kserde supports ABI 1", ...).
std::string descriptor_problem(const KserdePluginDescriptor& d);
// Empty when a manifest and the loaded descriptor agree, else what differs.
std::string manifest_mismatch(const PluginInfo& manifest, const PluginInfo& descriptor);

// ---- manifests
// "<dir>/libkserde_my_layers.so" -> "<dir>/kserde_my_layers.kserde-plugin.json" (a leading "lib"
// and the library suffix are dropped).
std::filesystem::path manifest_path_for(const std::filesystem::path& library);
// Parses a manifest; its "library" must be a plain file name in the manifest's directory.
// Throws PluginError naming the manifest when it is unreadable or malformed.
PluginInfo read_manifest(const std::filesystem::path& manifest);
// The manifest text for `info` (library written as its file name only).
std::string manifest_json(const PluginInfo& info);

// ---- inspecting a file without running its code
enum class EntryPoint { Present, Missing, Unknown /* stripped: no symbol table to read */ };
// Throws PluginError naming the file when it is not a shared library kserde can open.
EntryPoint inspect_entry_point(const std::filesystem::path& library);
// True for file names that look like shared libraries here (".so", ".so.N", ".dylib", ".dll").
bool looks_like_shared_library(const std::filesystem::path& file);
// True while the dynamic loader still has `library` mapped (dlopen RTLD_NOLOAD). For tests and
// diagnostics of the lifetime rules.
bool is_library_mapped(const std::filesystem::path& library);

// ---- an opened plugin
class PluginLibrary {
 public:
  // Opens `library`, resolves the entry point and checks the descriptor (ABI version, kserde
  // version, names) and, when a manifest lies beside the library, that it agrees. Runs no
  // registration code (the library's static initialisers do run). PluginError naming the file on
  // any problem; nothing stays loaded then.
  static std::shared_ptr<PluginLibrary> open(const std::filesystem::path& library);
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const PluginInfo& info() const { return info_; }
  const std::filesystem::path& path() const { return info_.library; }
  const KserdePluginDescriptor& descriptor() const { return *descriptor_; }
  // Calls the plugin's register_fn. PluginError naming the plugin, the file and the plugin's own
  // message when it returns a failure status.
  void run_registration(KserdePluginRegistrar& registrar) const;

 private:
  struct Impl;
  PluginLibrary() = default;
  std::unique_ptr<Impl> impl_;
  const KserdePluginDescriptor* descriptor_ = nullptr;
  PluginInfo info_;
};

// ---- finding plugins
struct PluginCandidate {
  std::filesystem::path library;
  std::optional<PluginInfo> manifest;  // when a readable manifest describes the library
  std::string problem;  // why it cannot be a usable plugin as found (empty when none known)
};
// Every plugin library in `dir`: libraries described by a manifest, and shared libraries without
// one that export the entry point (or whose symbols cannot be read). Cached per directory; a
// change of the directory's or a file's mtime invalidates the entry. A missing directory yields
// nothing.
std::vector<PluginCandidate> scan_plugin_dir(const std::filesystem::path& dir);
// The directories in KSERDE_PLUGIN_PATH (colon-separated; empty entries skipped).
std::vector<std::filesystem::path> plugin_path_from_env();
// The directory of the plugins installed with kserde: "kserde/plugins" in the directory that holds
// the kserde_registry library itself (<prefix>/<libdir>/kserde/plugins once installed,
// <build>/lib/kserde/plugins in a build tree). Empty when it cannot be found.
std::filesystem::path bundled_plugin_dir();

}  // namespace kserde::registry
