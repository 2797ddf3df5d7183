#include "kserde/saving.hpp"

#include "formats/model_io.hpp"
#include "kserde/error.hpp"
#include "kserde/serializer.hpp"
#include "ops/thread_pool.hpp"

namespace kserde {

std::shared_ptr<Model> load_model(const std::filesystem::path& path, const LoadOptions& options) {
  if (options.num_threads > 0) ops::set_num_threads(options.num_threads);
  SerializerPtr format = serializer_for_load(path, options);
  if (format->weights_only()) {
    throw UnsupportedError(path.string() + ": holds weights only (" + format->name() +
                           "); load the architecture first (a .keras or .json file), then "
                           "call load_weights");
  }
  return format->load(path, options);
}

void save_model(const Model& model, const std::filesystem::path& path, const SaveOptions& options) {
  SerializerPtr format = serializer_for_save(path);
  if (!format->can_save()) {
    throw UnsupportedError(path.string() + ": the " + format->name() + " format cannot be written");
  }
  if (!options.overwrite && std::filesystem::exists(path)) {
    throw IoError(path.string() + ": exists already (SaveOptions::overwrite is false)");
  }
  format->save(model, path, options);
}

void save_weights(const Model& model, const std::filesystem::path& path_in,
                  const SaveOptions& options) {
  // Keras: with max_shard_size, a ".weights.h5" name becomes the ".weights.json" index name.
  std::filesystem::path path = path_in;
  const std::string n = path.filename().string();
  if (options.max_shard_size > 0 && n.size() > 11 && n.compare(n.size() - 11, 11, ".weights.h5") == 0) {
    path.replace_filename(n.substr(0, n.size() - 3) + ".json");
  }
  SerializerPtr format = serializer_for_save(path);
  if (!format->weights_only()) {
    throw ConfigError("The filename must end in `.weights.h5`. Received: filepath=" + path.string());
  }
  save_model(model, path, options);
}

void load_weights(Model& model, const std::filesystem::path& path, const LoadOptions& options) {
  serializer_for_load(path, options)->load_weights(model, path, options);
}

std::string to_json(const Model& model) { return model_io::config_json(model); }

std::shared_ptr<Model> model_from_json(std::string_view json, const LoadOptions& options) {
  return model_io::model_from_config_text(std::string(json), options, "model_from_json");
}

std::shared_ptr<Model> model_from_config(const JsonValue& object_dict, const LoadOptions& options,
                                         const std::string& source) {
  return model_io::build_model(object_dict, options, source);
}

}  // namespace kserde
