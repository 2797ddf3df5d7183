// Internal: the spatial rules shared by convolution and pooling layers — Keras's option parsing
// (kernel_size/strides/dilation_rate/pool_size tuples, padding, data_format), output lengths and
// padding amounts per spatial dimension (XLA's rules, which Keras's backends follow), and moving
// the channel axis between channels_first and channels_last.
//
// All numeric kernels work on channels_last tensors (N, spatial..., C); channels_first layers
// move the channel axis before and after.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/json.hpp"
#include "kserde/tensor.hpp"

namespace kserde::spatial {

enum class Padding { Valid, Same, Causal };

using Dims = Shape;  // inline storage: geometry made per call allocates nothing

// ---- config parsing (errors are ConfigError naming `where`)

// "data_format": "channels_last" (also for null/absent: Keras's default image_data_format) or
// "channels_first". Returns true for channels_first.
bool parse_channels_first(const JsonValue& config, const std::string& where);
// "padding": "valid" / "same" (case-insensitive, as Keras's standardize_padding), and "causal"
// when `allow_causal`.
Padding parse_padding(const JsonValue& config, const std::string& where, bool allow_causal);
const char* padding_name(Padding p);
// An int or a list of `n` ints, each > 0 (or >= 0 with `allow_zero`).
Dims parse_tuple(const JsonValue& config, std::string_view key, const std::string& where,
                 std::size_t n, std::int64_t fallback, bool allow_zero = false);

// Writes `key` into the object dict's config: the standardized values Keras's get_config writes
// (tuples as lists, lowercase padding), so a layer saves what Keras would.
void write_tuple(JsonDocument& object_dict, std::string_view key, const Dims& values);
void write_string(JsonDocument& object_dict, std::string_view key, std::string_view value);

// ---- geometry of one spatial dimension (lengths may be -1 = unknown)

// Extent of a dilated window: (k - 1) * dilation + 1.
std::int64_t effective_size(std::int64_t k, std::int64_t dilation);
// Output length of a window sliding with `stride` (valid: floor((in - k_eff) / s) + 1;
// same/causal: ceil(in / s)). -1 when `in` is unknown; may be <= 0 for valid on short inputs.
std::int64_t output_length(std::int64_t in, std::int64_t k_eff, std::int64_t stride, Padding p);
// Padding before the first element: 0 for valid; for same XLA's
// max((out - 1) * s + k_eff - in, 0) / 2 (the odd element goes after); for causal k_eff - 1.
std::int64_t pad_before(std::int64_t in, std::int64_t k_eff, std::int64_t stride, Padding p);

// ---- shapes in either data format

// Spatial dims of an (N, C, S...) or (N, S..., C) shape.
Dims spatial_of(const Shape& s, bool channels_first);
std::int64_t channels_of(const Shape& s, bool channels_first);
Shape make_shape(std::int64_t batch, const Dims& spatial, std::int64_t channels,
                 bool channels_first);
std::int64_t product(const Dims& d);

// ---- layout moves (float32)

// (N, C, S...) -> (N, S..., C)
Tensor to_channels_last(const Tensor& x);
// (N, S..., C) -> (N, C, S...)
Tensor to_channels_first(const Tensor& x);

// Advances a multi-index over `dims` (last index fastest); false after the last one.
inline bool next_index(Dims& idx, const Dims& dims) {
  for (std::size_t d = idx.size(); d-- > 0;) {
    if (++idx[d] < dims[d]) return true;
    idx[d] = 0;
  }
  return false;
}

}  // namespace kserde::spatial
