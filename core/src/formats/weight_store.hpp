// Internal: the Keras weights layout (spec §5) — which saveable owns which `…/vars` group — and
// moving variables between models and weight files.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kserde/hdf5/reader.hpp"
#include "kserde/hdf5/writer.hpp"
#include "kserde/model.hpp"
#include "kserde/options.hpp"

namespace kserde::weights {

// One object the saving traversal visits (spec §5.2): its inner path ("" for the root,
// "layers/dense", "layers/lstm/cell", "optimizer") and what owns the variables there.
struct Saveable {
  std::string path;
  std::string display_name;  // layer.name / optimizer name: the `name` attribute of its vars group
  Layer* layer = nullptr;
  Optimizer* optimizer = nullptr;
  std::vector<Variable>& variables() const;
};

// Depth-first over the model with a visited set, class-name groups and `_N` suffixes, then the
// optimizer (when present and `include_optimizer`).
std::vector<Saveable> traverse(Model& model, bool include_optimizer);

// "layers/dense" -> "layers/dense/vars"; "" -> "vars".
std::string vars_path(const std::string& inner_path);

// Where weights are read from.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The datasets "0".."n-1" of <path>/vars, or nullopt when the group does not exist.
  // `want` (same length as the result would be, or empty) lets a source borrow instead of copy
  // when dtypes match.
  virtual std::optional<TensorList> read_vars(const std::string& inner_path,
                                              const std::vector<DType>& want) = 0;
  virtual std::string describe() const = 0;
};

// An HDF5 weights image (a .weights.h5 file, or the model.weights.h5 member of a .keras archive).
std::unique_ptr<WeightSource> open_h5(io::ByteSource source, const LoadOptions& options);
// A sharded set: the .weights.json index and the shards beside it.
std::unique_ptr<WeightSource> open_sharded(const std::filesystem::path& index,
                                           const LoadOptions& options);

// Assigns every saveable's variables from `source`; collects per-object failures and throws one
// ShapeError listing them (Keras: "A total of N objects could not be loaded").
void load_into(Model& model, WeightSource& source, bool include_optimizer);

// Adds every saveable's vars group (with its `name` attribute and datasets) to `writer`. The
// writer borrows the variables' bytes: keep `model` alive until writer.write() returns.
void describe_into(const Model& model, hdf5::Writer& writer, bool include_optimizer);

// Sharded weights (spec §5.9, sharded_writer.cpp): writes the shards `<base>_00000.weights.h5`, …
// beside `index` and then the index. ConfigError when options.max_shard_size is 0 or a single
// variable is larger than it.
void save_sharded(const Model& model, const std::filesystem::path& index,
                  const SaveOptions& options);
// "dir/model.weights.json" -> "dir/model".
std::filesystem::path shard_base(const std::filesystem::path& index);

}  // namespace kserde::weights
