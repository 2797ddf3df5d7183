// Serializer: one file format (".keras" archive, model directory, ".weights.h5", architecture JSON,
// or a plugin's format). save_model/load_model choose one by the path's extension, then by the
// first bytes of the file (magic), then for directories by what the format recognises.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kserde/options.hpp"
#include "kserde/registry/name_table.hpp"

namespace kserde {

class Model;

class Serializer {
 public:
  virtual ~Serializer() = default;
  // Short unique name ("keras", "keras-dir", "weights-h5", "json").
  virtual std::string name() const = 0;
  // File name endings this format claims (".keras", ".weights.h5"); the longest match wins.
  virtual std::vector<std::string> extensions() const = 0;
  // True when a file starting with `head` (or, when `is_directory`, the directory) is in this
  // format.
  virtual bool sniff(const std::filesystem::path& path, std::span<const std::byte> head,
                     bool is_directory) const = 0;

  // A weights-only format fills an existing model instead of creating one.
  virtual bool weights_only() const { return false; }
  virtual bool can_load() const { return true; }
  virtual bool can_save() const { return true; }

  // Full-model formats. Errors name the path. Default: UnsupportedError.
  virtual std::shared_ptr<Model> load(const std::filesystem::path& path,
                                      const LoadOptions& options) const;
  virtual void save(const Model& model, const std::filesystem::path& path,
                    const SaveOptions& options) const;
  // Weights-only formats (and full-model formats, which read only their weights). Default:
  // UnsupportedError.
  virtual void load_weights(Model& model, const std::filesystem::path& path,
                            const LoadOptions& options) const;
};

using SerializerPtr = std::shared_ptr<const Serializer>;

// Registered formats by name; built-ins are provided by "kserde".
registry::NameTable<SerializerPtr>& formats();
// The format to load `path` with: by extension, then by magic bytes / directory contents, then a
// format plugin from plugin_search_path(options) that claims the file. UnsupportedError naming
// the path and the known formats when none matches.
SerializerPtr serializer_for_load(const std::filesystem::path& path, const LoadOptions& options = {});
// The format a save to `path` should use (by extension, a format plugin from
// plugin_search_path(options) included; an existing directory or a name without extension means
// the unzipped model directory).
SerializerPtr serializer_for_save(const std::filesystem::path& path, const LoadOptions& options = {});

}  // namespace kserde
