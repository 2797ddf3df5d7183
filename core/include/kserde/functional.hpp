// keras.Model built with the Functional API (spec §3.7–3.10): a DAG of layer calls ("nodes").
// Loaded from a config, it evaluates nodes in a valid order; saved, it writes the config it was
// read from (layer order, inbound_nodes, input_layers/output_layers) with current layer dicts.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kserde/model.hpp"

namespace kserde {

class Functional final : public Model {
 public:
  Functional(std::shared_ptr<JsonDocument> object_dict, Deserializer& ctx);

  // A reference to one output tensor of one node.
  struct TensorRef {
    std::size_t node = 0;    // index into nodes()
    std::size_t tensor = 0;  // index into that node's flattened outputs
  };
  struct Node {
    Layer* layer = nullptr;
    std::size_t call_index = 0;               // which call of `layer` (node_index in the file)
    std::vector<TensorRef> inputs;            // positional tensors, flattened in order
    std::map<std::string, TensorRef> kwargs;  // keyword tensors ("mask", "value", ...)
    // mask=[m0, None, ...] given as a list: the masks of the positional inputs, in order
    // (nullopt for None); empty when the call passes no mask list.
    std::vector<std::optional<TensorRef>> mask_list;
    // Keyword arguments that are plain values (use_causal_mask=True, training=False), passed to
    // the layer as scalar tensors (bool, int64 or float32).
    std::map<std::string, Tensor> constant_kwargs;
    std::shared_ptr<JsonDocument> call_args;  // the node's "args" as saved (may be null)
    std::vector<Shape> output_shapes;         // -1 for unknown dims; empty when unknown
    std::size_t num_outputs = 1;
  };

  std::vector<std::shared_ptr<Layer>> layers() const override;
  const std::vector<Node>& nodes() const { return nodes_; }
  // The model's input and output tensors, in the order of input_names() / output_names().
  const std::vector<TensorRef>& input_refs() const { return inputs_; }
  const std::vector<TensorRef>& output_refs() const { return outputs_; }
  // Layer names feeding each node's call (for `inspect`'s "Connected to" column).
  std::vector<std::string> inbound_layer_names(const Layer& layer) const;

  // Keras's order of model.layers (spec §5.4: depth descending, then first-reached order walking
  // back from the outputs) as indices into layers(); save writes the config in this order so that
  // Keras assigns weights to the same layers when it reloads the file.
  std::vector<std::size_t> keras_layer_order() const;

  std::vector<Shape> input_shapes() const override;
  std::vector<DType> input_dtypes() const override;
  std::vector<std::string> input_names() const override;
  std::vector<Shape> output_shapes() const override;
  std::vector<std::string> output_names() const override;
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override;
  std::vector<TrackedChild> tracked_children() const override;
  std::shared_ptr<JsonDocument> to_object_dict() const override;

 protected:
  TensorList forward(const TensorList& inputs, CallContext& ctx) override;

 private:
  struct Entry {
    std::shared_ptr<Layer> layer;
    std::shared_ptr<JsonDocument> inbound_nodes;  // as read, written back on save
    std::vector<std::size_t> node_ids;            // this layer's calls, in call order
  };
  // Liveness plan, made once per graph: after node i runs, the outputs of nodes
  // release_nodes_[release_begin_[i] .. release_begin_[i + 1]) have had their last consumer and
  // are dropped (their buffers go back to the tensor cache for the next layers).
  void plan_releases();

  std::vector<Entry> entries_;  // config "layers" order
  std::vector<Node> nodes_;     // topological order
  std::vector<TensorRef> inputs_;
  std::vector<TensorRef> outputs_;
  std::vector<std::string> output_keys_;
  std::vector<std::size_t> release_begin_;
  std::vector<std::size_t> release_nodes_;
};

}  // namespace kserde
