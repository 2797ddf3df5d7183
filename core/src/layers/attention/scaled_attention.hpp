// The attention core of Keras's MultiHeadAttention and GroupedQueryAttention: the boolean mask
// Keras combines from the inputs' masks and keyword arguments, and masked scaled dot-product
// attention over projected tensors, with Keras's rounding for each dtype policy.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "layers/attention/attention_util.hpp"

namespace kserde::detail {

// What the attention computes over: `attention_axes` of the projected (.., heads, dim) tensors
// (normalized, not containing the batch or the last two axes), the query/key head size and the
// value head size; `who` names the layer in errors.
struct AttentionGeometry {
  const std::vector<std::int64_t>& attention_axes;
  std::int64_t key_dim;
  std::int64_t value_dim;
  const std::string& who;
};

// Keras's _compute_attention_mask: the query input's mask (B, T, 1), the value and key masks
// (keyword tensors, else the value/key inputs' masks) (B, 1, S), the causal mask
// (row >= column), the sliding window (|row - column| < window, when `sliding_window` > 0) and the
// attention_mask keyword, ANDed; nullopt when there is none. `tq` and `tv` are the query's and
// value's lengths on axis 1.
std::optional<BoolArray> combined_attention_mask(const CallContext& ctx, std::int64_t tq,
                                                 std::int64_t tv, bool causal,
                                                 std::int64_t sliding_window,
                                                 const std::string& who);

// Attention over the projected q (.., heads, key_dim), k, v: returns (.., heads, value_dim) in
// q's layout and sets `scores` to the probabilities (batch axes.., query axes.., key axes..).
// Float64 operands compute in double, others in float32. `fused` is Keras's
// dot_product_attention path (logits scaled, a fully masked row averages every key); otherwise
// the query is scaled and masked probabilities are zero. `half` (float16/bfloat16; float32 for
// none) rounds where Keras's NumPy backend computes in the half type.
Tensor scaled_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                        const std::optional<BoolArray>& mask, bool fused, Tensor& scores,
                        DType half, const AttentionGeometry& geometry);

}  // namespace kserde::detail
