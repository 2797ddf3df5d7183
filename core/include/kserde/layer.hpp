// Layer: the unit Keras models are made of, as kserde sees it.
//
// A layer is created from its Keras object dict ({"module", "class_name", "config",
// "registered_name", "build_config", ...}) and keeps that dict: keys kserde does not interpret
// (initializers, regularizers, constraints, dtype policy, shared_object_id) are written back
// unchanged on save. build() creates the variables (Keras order: trainable-at-creation first, then
// non-trainable, each in creation order); call() runs inference on concrete tensors.
//
// Ownership: layers are held by std::shared_ptr. A layer made by a plugin carries a deleter that
// keeps the plugin's library loaded until the layer is gone.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/json.hpp"
#include "kserde/tensor.hpp"

namespace kserde {

class Deserializer;
class Layer;

struct Variable {
  std::string name;  // "kernel", "bias", "moving_mean", ...
  Tensor value;
  bool trainable = true;
};

// Optional masks, one per tensor of a TensorList (storage from the tensor buffer cache).
using MaskList = std::vector<std::optional<Tensor>, CachedAllocator<std::optional<Tensor>>>;
// A keyword argument's name; its characters, like the map's nodes, come from the tensor buffer
// cache, so filling a call's keyword arguments allocates nothing in steady state.
using KwargName = std::basic_string<char, std::char_traits<char>, CachedAllocator<char>>;
// Keyword tensor arguments by name; find() takes any string type.
using TensorMap =
    std::map<KwargName, Tensor, std::less<>, CachedAllocator<std::pair<const KwargName, Tensor>>>;

// Everything a call may see besides its positional tensors.
struct CallContext {
  bool training = false;
  // Keyword tensor arguments from the graph ("mask", "attention_mask", "value", "key", ...).
  TensorMap kwargs;
  // Masks of the positional inputs (from Embedding(mask_zero=True) or Masking); may be empty.
  MaskList input_masks;
  // Masks of the outputs, set by layers that produce or propagate one.
  MaskList output_masks;
  // The call's positional arguments as saved in the graph (tensors appear as __keras_tensor__
  // dicts, in the order of the positional tensors above), for operations whose arguments mix
  // tensors and constants (keras.ops.add(x, 1.0)). Null outside a Functional graph.
  const JsonValue* call_args = nullptr;
};

// A sub-layer as the saving traversal sees it (spec §5.2): an attribute holding one layer
// (`cell`, `forward_layer`), or a list of layers (`layers`) whose entries are named by class.
struct TrackedChild {
  std::string attribute;
  std::vector<Layer*> layers;
  bool is_list = false;
};

class Layer {
 public:
  // `object_dict` is the layer's full Keras object dict; `config` must be an object.
  explicit Layer(std::shared_ptr<JsonDocument> object_dict);
  virtual ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  // ---- identity, as written in the file
  std::string class_name() const;
  std::string module() const;                          // "keras.layers", or a user module
  std::optional<std::string> registered_name() const;  // null for Keras built-ins
  const std::string& name() const { return name_; }
  // Changes the name (config "name" too); models use it to keep names unique.
  void rename(const std::string& name);
  bool trainable() const;
  // "Dense 'logits'": how errors name this layer (kept, so naming it costs nothing on a call).
  const std::string& describe() const { return description_; }

  // ---- config
  const JsonValue& config() const;
  // The object dict as it will be saved (with the current build_config). Models override this to
  // regenerate their "layers" list.
  virtual std::shared_ptr<JsonDocument> to_object_dict() const;

  // ---- build
  bool built() const { return built_; }
  // Creates the variables for these input shapes (one per positional input; -1 = unknown dim).
  // A second call is a no-op. Throws ShapeError/ConfigError naming the layer.
  void build(const std::vector<Shape>& input_shapes);
  const std::vector<Shape>& build_input_shapes() const { return build_shapes_; }
  // Builds from a Keras build_config ({"input_shape": shape or [shapes]}); layers whose build
  // takes several named shapes ({"shapes_dict": ...}) override this.
  virtual void build_from_config(const JsonValue& build_config);
  // True for layers carried through without an implementation: they take whatever variables the
  // weights file holds.
  virtual bool accepts_any_weights() const { return false; }
  // Marks a layer read from a file: its build_config is then written back exactly as read
  // (present or absent), as Keras only records one for layers that define build().
  void mark_loaded() { loaded_ = true; }

  // ---- weights
  const std::vector<Variable>& variables() const { return variables_; }
  std::vector<Variable>& variables() { return variables_; }
  // Assigns values in variables() order; count and shapes must match exactly (ShapeError naming
  // the layer, the variable and both shapes). Values are cast to each variable's dtype.
  void set_weights(const TensorList& values);
  std::int64_t count_params() const;  // own variables plus tracked children's
  std::int64_t count_trainable_params() const;
  virtual std::vector<TrackedChild> tracked_children() const { return {}; }

  // ---- compute
  virtual TensorList call(const TensorList& inputs, CallContext& ctx) = 0;
  Tensor operator()(const Tensor& x);
  // Output shapes for these input shapes (-1 = unknown). Default: the first input's shape.
  virtual std::vector<Shape> compute_output_shape(const std::vector<Shape>& input_shapes) const;
  // False for layers kserde carries through without being able to run them.
  virtual bool can_compute() const { return true; }
  // Output shapes of one call whose plain keyword arguments are `constant_kwargs` (a call with
  // return_attention_scores=True has a second output). Default: compute_output_shape(in).
  virtual std::vector<Shape> compute_output_shape_for_call(
      const std::vector<Shape>& in, const std::map<std::string, Tensor>& constant_kwargs) const;
  // Keras's supports_masking. When true and call() leaves ctx.output_masks empty, the models pass
  // the previous mask (an explicit "mask" argument, else the first input's mask) to the first
  // output, as Keras's default compute_mask does. Layers with their own compute_mask set
  // ctx.output_masks themselves (nullopt entries for "no mask").
  virtual bool supports_masking() const { return false; }
  // The dtype policy's compute dtype: float16 for "float16"/"mixed_float16", bfloat16 likewise,
  // float64 for "float64", float32 otherwise. Models cast floating inputs to it before call()
  // and floating outputs to it after (Keras's autocast and output dtype).
  DType compute_dtype() const { return compute_dtype_; }
  // Keras's autocast: whether floating inputs are cast to compute_dtype() before call()
  // (LayerNormalization turns it off and computes in float32 whatever it gets).
  virtual bool autocast() const { return true; }
  // A raw keras.ops operation saved as a graph node (module keras.src.ops.*): not a layer in
  // Keras, so it has no dtype policy, no autocast and sets no masks.
  bool is_operation() const { return is_operation_; }

 protected:
  virtual void build_impl(const std::vector<Shape>& input_shapes);
  // Adds a variable of this layer's variable dtype (zero-initialized).
  Variable& add_weight(std::string name, Shape shape, bool trainable = true);
  Variable& variable(std::size_t index) { return variables_.at(index); }
  // The variable's value in float32 (a converted copy, kept until the variable changes, for
  // float64/float16 variables): kernels compute in float32.
  const Tensor& weight(std::size_t index) const;
  // The dtype policy's variable dtype (float32 for "float32" and "mixed_*").
  DType variable_dtype() const { return variable_dtype_; }
  JsonDocument& object_dict() { return *spec_; }
  const JsonDocument& object_dict() const { return *spec_; }
  // Adds `key` to the config with the value parsed from `json_text` when the key is absent
  // (Keras's constructor default), so saved configs carry every key Keras writes.
  void config_default(std::string_view key, std::string_view json_text);
  // Input rank/shape checks with errors naming the layer.
  void expect_inputs(const TensorList& inputs, std::size_t count) const;

 private:
  std::shared_ptr<JsonDocument> spec_;
  std::string name_;
  std::string description_;
  DType variable_dtype_ = DType::Float32;
  DType compute_dtype_ = DType::Float32;
  bool is_operation_ = false;
  // float32 copies of non-float32 variables, keyed by the storage they were made from.
  mutable std::mutex weight_cache_mutex_;
  mutable std::vector<std::pair<const void*, Tensor>> weight_cache_;
  bool built_ = false;
  bool loaded_ = false;
  std::vector<Shape> build_shapes_;
  std::vector<Variable> variables_;
};

// A per-load budget for variable bytes: while alive, every Layer::add_weight on this thread is
// charged against it and throws LimitError (naming `source`, the layer and the limit) when the
// total would exceed `max_bytes` or a shape's rank exceeds `max_rank`, before allocating. Scopes
// nest (the innermost is charged); create and destroy them on the same thread, in LIFO order.
class WeightBudget {
 public:
  WeightBudget(std::uint64_t max_bytes, std::uint32_t max_rank, std::string source);
  ~WeightBudget();
  WeightBudget(const WeightBudget&) = delete;
  WeightBudget& operator=(const WeightBudget&) = delete;
  // Charges `bytes` for a variable of `shape` (`what` names it); LimitError when over.
  void charge(std::uint64_t bytes, const Shape& shape, const std::string& what);
  std::uint64_t used() const { return used_; }
  // The innermost budget on this thread, or nullptr.
  static WeightBudget* current();

 private:
  std::uint64_t max_bytes_;
  std::uint32_t max_rank_;
  std::uint64_t used_ = 0;
  std::string source_;
  WeightBudget* previous_;
};

// The dtype policy name of a config "dtype" entry (a string or a DTypePolicy dict); "float32" if
// absent.
std::string dtype_policy_name(const JsonValue& config);
// Keras's snake_case of a class name ("Conv2DTranspose" -> "conv2d_transpose"), spec §5.2.
std::string snake_case(std::string_view class_name);

}  // namespace kserde
