// Options for loading and saving models.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kserde/activations.hpp"
#include "kserde/hdf5/reader.hpp"
#include "kserde/io/archive.hpp"
#include "kserde/json.hpp"

namespace kserde {

class Layer;
class Deserializer;

// Makes a layer from its object dict. `ctx` resolves nested objects (sub-layers, activations).
using LayerFactory =
    std::function<std::shared_ptr<Layer>(std::shared_ptr<JsonDocument> object_dict,
                                         Deserializer& ctx)>;

// Keras's custom_objects: registered names ("MyLayers>ScaledDense", "MyLayers>scaled_tanh", or a
// bare class name for unregistered classes) mapped to what provides them.
struct CustomObjects {
  std::map<std::string, LayerFactory, std::less<>> layers;
  std::map<std::string, Activation, std::less<>> functions;

  CustomObjects& add_layer(std::string key, LayerFactory factory);
  template <class T>
  CustomObjects& add_layer(std::string key) {
    return add_layer(std::move(key), [](std::shared_ptr<JsonDocument> d, Deserializer& c) {
      return std::shared_ptr<Layer>(std::make_shared<T>(std::move(d), c));
    });
  }
  CustomObjects& add_function(std::string key, ActivationFn fn);
  bool empty() const { return layers.empty() && functions.empty(); }
};

// What to do with a layer class nothing provides.
enum class UnknownLayers {
  Error,        // fail, naming the class and the three ways to provide it (Keras's behaviour)
  PassThrough,  // keep its config and weights so inspect/convert work; predict fails naming it
};

struct LoadOptions {
  // Keras's safe_mode: refuse Python lambdas (Lambda layers, __lambda__ values).
  bool safe_mode = true;
  // Restore compile_config and optimizer variables.
  bool compile = true;
  CustomObjects custom_objects;
  UnknownLayers unknown_layers = UnknownLayers::Error;
  // Let weights borrow the memory-mapped file instead of copying (STORED, contiguous datasets).
  bool mmap_weights = false;
  // Check the CRC-32 of every .keras member read (config.json, metadata.json, model.weights.h5)
  // and refuse a mismatch with FormatError, as Python's zipfile does. The check runs at memory
  // speed while the member is first read (see bench/RESULTS.md). Turn it off only for files whose
  // integrity is verified another way (a signature or a digest checked before loading).
  bool verify_checksums = true;
  // Inference threads of the process-wide pool, applied by load_model when > 0 (0 = leave it:
  // KSERDE_NUM_THREADS, else all cores). Results are bitwise the same for any thread count.
  unsigned num_threads = 0;
  JsonLimits json_limits;
  io::ArchiveLimits archive_limits;
  hdf5::ReadLimits hdf5_limits;
  // Total bytes of all variables one load may create (layers' build() from the config, and the
  // weight files read into them). LimitError naming the file, the layer and this limit.
  std::uint64_t max_weight_bytes = 64ULL << 30;
  // Largest rank of one variable (config-built or stored in a weights file).
  std::uint32_t max_tensor_rank = 64;
  // Directories (besides KSERDE_PLUGIN_PATH) from which a plugin declaring a name the model needs
  // and nothing provides may be loaded on demand. Never a location taken from the model file.
  std::vector<std::filesystem::path> plugin_dirs;
  // Also search the plugins installed with kserde itself: <libdir>/kserde/plugins beside the
  // kserde libraries (registry::bundled_plugin_dir()), a location the installer chose and as
  // trusted as the libraries. Searched after KSERDE_PLUGIN_PATH and plugin_dirs.
  bool bundled_plugins = true;
  // Let a plugin loaded on demand replace names another provider registered (default: error
  // naming both providers).
  bool plugin_override = false;
};

struct SaveOptions {
  // Replace an existing file at the target path (always atomically).
  bool overwrite = true;
  // Sharded weights (.weights.json): largest shard in bytes; 0 = no sharding.
  std::uint64_t max_shard_size = 0;
};

}  // namespace kserde
