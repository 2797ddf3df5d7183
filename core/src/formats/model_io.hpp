// Internal: pieces every full-model format shares — config.json and metadata.json text, and
// building a model from a config dict.
#pragma once

#include <memory>
#include <string>

#include "kserde/model.hpp"
#include "kserde/options.hpp"

namespace kserde::model_io {

// config.json: the model's object dict in Python's JSON dialect.
std::string config_json(const Model& model);
// metadata.json: {"keras_version": ..., "date_saved": "%Y-%m-%d@%H:%M:%S"} (local time).
std::string metadata_json();
// The Keras version kserde writes files as (the format version, spec §2).
inline constexpr const char* kKerasFormatVersion = "3.16.0";

// Builds the model an object dict describes, restoring compile_config / optimizer when
// options.compile. ConfigError when the dict is not a model.
std::shared_ptr<Model> build_model(const JsonValue& object_dict, const LoadOptions& options,
                                   const std::string& source);
// Parses config.json text and builds the model.
std::shared_ptr<Model> model_from_config_text(const std::string& text, const LoadOptions& options,
                                              const std::string& source);
// Parses metadata.json text (missing or malformed metadata is ignored: Keras never reads it).
void read_metadata(Model& model, const std::string& text);

}  // namespace kserde::model_io
