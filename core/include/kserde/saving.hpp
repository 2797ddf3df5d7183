// The saving API, mirroring keras.saving: load_model / save_model, save_weights / load_weights,
// to_json / model_from_json.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "kserde/model.hpp"
#include "kserde/options.hpp"

namespace kserde {

// Loads a model from a .keras archive, an unzipped model directory, an architecture-only .json
// (fresh zero weights), or a format a plugin provides. Safe mode is on by default.
std::shared_ptr<Model> load_model(const std::filesystem::path& path,
                                  const LoadOptions& options = {});
// Saves atomically: the target is either left as it was or replaced by the complete new file.
void save_model(const Model& model, const std::filesystem::path& path,
                const SaveOptions& options = {});

// Weights only: ".weights.h5" (or ".weights.json" with SaveOptions::max_shard_size for shards).
void save_weights(const Model& model, const std::filesystem::path& path,
                  const SaveOptions& options = {});
// Reads weights from ".weights.h5", ".weights.json" (sharded), a ".keras" archive's weights, or a
// model directory. Counts and shapes must match (ShapeError naming layer and both shapes).
void load_weights(Model& model, const std::filesystem::path& path,
                  const LoadOptions& options = {});

// Architecture only (model.to_json() / keras.models.model_from_json).
std::string to_json(const Model& model);
std::shared_ptr<Model> model_from_json(std::string_view json, const LoadOptions& options = {});
// From a parsed object dict (e.g. config.json).
std::shared_ptr<Model> model_from_config(const JsonValue& object_dict, const LoadOptions& options,
                                         const std::string& source);

}  // namespace kserde
