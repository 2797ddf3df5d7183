// Activation functions (keras.activations), by name and as registered custom functions.
//
// An activation is a plain function pointer over a float32 buffer, so it can cross a plugin
// boundary; `keepalive` holds the plugin library that provides it, if any. Functions that reduce
// over an axis (softmax, log_softmax) use the last axis, as Keras's string activations do.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/json.hpp"
#include "kserde/tensor.hpp"

namespace kserde {

// Transforms `data` in place; `axis_size` is the length of the last axis (for softmax).
using ActivationFn = void (*)(std::span<float> data, std::int64_t axis_size);

struct Activation {
  std::string name;  // "relu", "MyLayers>scaled_tanh"
  ActivationFn fn = nullptr;
  std::shared_ptr<const void> keepalive;
  // glu: the last axis is split in halves a, b and the result is a * sigmoid(b), half as long.
  // (Keras's layers report their output shapes without the halving; so does kserde.)
  bool halves_last_axis = false;

  bool is_linear() const { return fn == nullptr; }
  // Applies to a float32 tensor in place (no-op for linear); glu replaces `t` by a new tensor.
  void apply(Tensor& t) const;
};

// Built-in activation by Keras name (aliases: swish -> silu, hard_swish -> hard_silu); empty when
// unknown.
std::optional<Activation> builtin_activation(std::string_view name);
std::vector<std::string> builtin_activation_names();

}  // namespace kserde
