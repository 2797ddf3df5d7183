// Internal: backward passes. A LayerBackprop runs one call of a layer in training mode, keeping
// what its backward pass needs, then turns the gradient of the loss with respect to the call's
// outputs into gradients with respect to its inputs and (accumulated in a GradMap) its variables.
// Every sum runs in a fixed order (products through ops::gemm), so gradients are bitwise the same
// for any thread count.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "kserde/layer.hpp"

namespace kserde::training {

// d loss / d variable, keyed by the variable (shared layers add their calls' gradients).
using GradMap = std::map<const Variable*, Tensor>;
// Adds `g` (float32, the variable's shape) into grads[v].
void accumulate(GradMap& grads, const Variable& v, Tensor g);

// What a training step's random layers draw from: Dropout masks depend on (seed, step, the
// layer call's position in the model), so a resumed run draws the same masks.
struct TrainContext {
  std::uint64_t seed = 0;
  std::int64_t step = 0;
  std::uint64_t next_stream = 0;  // each random layer call takes one at construction
};

class LayerBackprop {
 public:
  virtual ~LayerBackprop() = default;
  virtual TensorList forward(const TensorList& inputs, TrainContext& ctx) = 0;
  // `d_outputs` matches forward's outputs; returns one gradient per input (an empty Tensor for an
  // input that takes none, such as integer ids).
  virtual TensorList backward(const TensorList& d_outputs, GradMap& grads) = 0;
};

// The backward pass of `layer` (models too: Sequential and Functional recurse). Throws
// UnsupportedError naming the layer when it has none.
std::unique_ptr<LayerBackprop> make_backprop(Layer& layer, TrainContext& ctx);

// ---- per-file factories (null when the class is not theirs)
std::unique_ptr<LayerBackprop> make_dense_backprop(Layer& layer);
std::unique_ptr<LayerBackprop> make_activation_backprop(Layer& layer);
std::unique_ptr<LayerBackprop> make_reshaping_backprop(Layer& layer, TrainContext& ctx);
std::unique_ptr<LayerBackprop> make_model_backprop(Layer& layer, TrainContext& ctx);
std::unique_ptr<LayerBackprop> make_conv_backprop(Layer& layer);
std::unique_ptr<LayerBackprop> make_normalization_backprop(Layer& layer);

// ---- activations (activation_grad.cpp)
// The activation named in a layer config's "activation" entry ("linear" when absent).
std::string activation_name(const Layer& layer);
bool activation_has_backprop(const std::string& name);
// y = activation(z) in place over the last axis (the inference implementation).
void activation_forward(const std::string& name, Tensor& y);
// dz from dy, the pre-activation z and the output y (same shapes, float32).
Tensor activation_backward(const std::string& name, const Tensor& z, const Tensor& y,
                           const Tensor& dy);

// ---- helpers
// Rows x cols view of a float32 tensor (all but the last axis as rows).
std::int64_t rows_of(const Tensor& t);
// a^T as a new [cols, rows] float32 tensor.
Tensor transpose2d(const float* a, std::int64_t rows, std::int64_t cols);

}  // namespace kserde::training
