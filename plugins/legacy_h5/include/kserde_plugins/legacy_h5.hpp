// legacy_h5: the Keras 2 style full-model ".h5" file (spec §6) as Keras 3.16 reads and writes it.
//
//   /                         attrs backend, keras_version (str), model_config, training_config
//                             (JSON text as bytes)
//   /model_weights            attrs layer_names, backend, keras_version; one group per layer,
//                             named by layer.name, with attr weight_names and the datasets at the
//                             weight paths ("sequential/dense/kernel" -> nested groups)
//   /model_weights/top_level_model_weights
//   /optimizer_weights        attr weight_names; datasets at "adam/iteration", ...
//
// Loading converts the legacy {class_name, config} model_config into Keras 3 object dicts (§6.3)
// and assigns weights by position (§6.2). Saving writes what Keras 3.16's model.save("x.h5")
// writes. The format is usable linked directly (make_format()) or as the "legacy_h5" plugin.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kserde/json.hpp"
#include "kserde/model.hpp"
#include "kserde/options.hpp"
#include "kserde/serializer.hpp"

namespace kserde::legacy_h5 {

// The format name ("legacy_h5"), extensions (".h5", ".hdf5"; never ".weights.h5").
inline constexpr const char* kFormatName = "legacy_h5";
// What the writer puts in the root `backend` attribute and the version attributes.
inline constexpr const char* kBackend = "tensorflow";
inline constexpr const char* kKerasVersion = "3.16.0";
// h5py/Keras's attribute size limit: longer name lists are split into name0, name1, ...
inline constexpr std::size_t kAttributeLimit = 64512;

SerializerPtr make_format();

// ---- config conversion (exposed for tests and for tools)

// Converts a legacy model_config ({"class_name", "config"} dicts; Keras 2 or Keras 3 legacy
// form) into the Keras 3 object dict that kserde's loaders build models from: module and
// registered_name added, "Model" -> "Functional", `batch_input_shape` -> `batch_shape`
// (InputLayer) or an InputLayer in front of a Sequential's first layer, one-element `axis` lists
// -> int, Lambda's legacy keys dropped and list-form functions -> `__lambda__` dicts, legacy
// nested objects (initializers, regularizers, constraints, dtype policies) given their Keras 3
// module, `__passive_serialization__` flags removed, TensorShape dicts -> lists. Names nothing
// provides are returned in `unknown` (first one first). ConfigError on malformed configs.
std::shared_ptr<JsonDocument> to_keras3_config(const JsonValue& legacy_config,
                                               const LoadOptions& options,
                                               const std::string& where,
                                               std::vector<std::string>* unknown = nullptr);

// The compile_config Keras 3 would hold for a legacy training_config: every key but
// optimizer_config, plus "optimizer" as a Keras 3 optimizer object dict.
std::shared_ptr<JsonDocument> compile_config_from_training_config(const JsonValue& training_config,
                                                                  const std::string& where);

// The legacy model_config of a Keras 3 object dict: {"class_name": <class>, "config": ...} where
// models' "layers" entries are {"class_name": <registered name or class>, "config", ["name",
// "inbound_nodes"]} recursively; module/registered_name/build_config/compile_config dropped.
std::shared_ptr<JsonDocument> to_legacy_config(const JsonValue& object_dict);

// The legacy training_config of a compiled model (compile_config without "optimizer", plus
// "optimizer_config": {"class_name", "config"}); null when the model has no optimizer.
std::shared_ptr<JsonDocument> training_config(const Model& model);

}  // namespace kserde::legacy_h5
