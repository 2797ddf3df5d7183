// Models: Sequential and Functional, with the compile state and optimizer variables that a .keras
// file carries. A Model is a Layer, so models nest.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kserde/layer.hpp"

namespace kserde {

// An optimizer as saved by Keras: its object dict and its variables in creation order
// (iteration, learning_rate, then the per-variable slots, spec §5.6).
struct Optimizer {
  std::shared_ptr<JsonDocument> object_dict;  // {"module": "keras.optimizers", "class_name": ...}
  std::vector<Variable> variables;
  std::string class_name() const;
  std::string name() const;  // config.name ("adam")
};

// metadata.json of a .keras file.
struct ModelMetadata {
  std::string keras_version;
  std::string date_saved;
};

class Model : public Layer {
 public:
  using Layer::Layer;

  // Keras's model.layers: Sequential excludes its InputLayer, Functional includes InputLayers.
  virtual std::vector<std::shared_ptr<Layer>> layers() const = 0;
  std::shared_ptr<Layer> get_layer(std::string_view name) const;

  // Input and output signature (shapes with -1 for the batch and unknown dims).
  virtual std::vector<Shape> input_shapes() const = 0;
  virtual std::vector<DType> input_dtypes() const = 0;
  virtual std::vector<std::string> input_names() const = 0;
  virtual std::vector<Shape> output_shapes() const = 0;
  virtual std::vector<std::string> output_names() const = 0;

  // Runs inference in batches of `batch_size` rows and concatenates the results. Inputs are cast
  // to the model's input dtypes. Throws ShapeError (wrong count, rank or dims) and
  // UnsupportedError naming every layer class kserde carried through but cannot compute.
  // Safe to call from several threads on one model. In steady state (the same input shapes,
  // dtypes and batch_size as earlier calls) a call makes no heap allocation and maps no memory:
  // its tensors and lists come from recycled buffers (see release_cached_buffers), which return
  // to the cache once the caller drops the result.
  TensorList predict(const TensorList& inputs, std::int64_t batch_size = 32);
  Tensor predict(const Tensor& input, std::int64_t batch_size = 32);
  // Layer classes in this model (any depth) that kserde cannot compute.
  std::vector<std::string> uncomputable_classes() const;

  // compile(): the compile_config dict ({} when not compiled) and the optimizer, if any.
  const JsonValue* compile_config() const;
  void set_compile_config(std::shared_ptr<JsonDocument> compile_config);
  bool is_compiled() const;
  std::optional<Optimizer>& optimizer() { return optimizer_; }
  const std::optional<Optimizer>& optimizer() const { return optimizer_; }

  std::optional<ModelMetadata>& metadata() { return metadata_; }
  const std::optional<ModelMetadata>& metadata() const { return metadata_; }

 protected:
  // The model's forward pass on one batch.
  virtual TensorList forward(const TensorList& inputs, CallContext& ctx) = 0;
  // Models whose layers or input signature change after construction (Sequential::add, build)
  // call this so that predict() checks them again.
  void signature_changed();

 public:
  TensorList call(const TensorList& inputs, CallContext& ctx) override;

 private:
  // What predict() checks inputs against, computed on first use after a change.
  struct PredictSignature {
    std::vector<Shape> shapes;
    std::vector<DType> dtypes;
  };
  std::shared_ptr<const PredictSignature> predict_signature() const;

  mutable std::mutex signature_mutex_;
  mutable std::shared_ptr<const PredictSignature> signature_;
  std::shared_ptr<JsonDocument> compile_config_;
  std::optional<Optimizer> optimizer_;
  std::optional<ModelMetadata> metadata_;
};

// keras.Sequential.
class Sequential final : public Model {
 public:
  // From a Keras object dict (loading).
  Sequential(std::shared_ptr<JsonDocument> object_dict, Deserializer& ctx);
  // An empty model to build in code: Sequential("my_model").
  explicit Sequential(std::string name = "sequential");

  // Appends a layer (names are made unique within the model like Keras's auto-names). When the
  // model has an input shape, the new layer is built at once.
  void add(std::shared_ptr<Layer> layer);
  std::vector<std::shared_ptr<Layer>> layers() const override;
  std::shared_ptr<Layer> input_layer() const { return input_layer_; }

  std::vector<Shape> input_shapes() const override;
  std::vector<DType> input_dtypes() const override;
  std::vector<std::string> input_names() const override;
  std::vector<Shape> output_shapes() const override;
  std::vector<std::string> output_names() const override;
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override;
  std::vector<TrackedChild> tracked_children() const override;
  std::shared_ptr<JsonDocument> to_object_dict() const override;

 protected:
  void build_impl(const std::vector<Shape>& input_shapes) override;
  TensorList forward(const TensorList& inputs, CallContext& ctx) override;

 private:
  std::shared_ptr<Layer> input_layer_;
  std::vector<std::shared_ptr<Layer>> layers_;
};

}  // namespace kserde
