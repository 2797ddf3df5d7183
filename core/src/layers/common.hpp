// Internal helpers shared by built-in layer implementations.
#pragma once

#include <vector>

#include "json/config_access.hpp"
#include "kserde/deserializer.hpp"
#include "kserde/error.hpp"
#include "kserde/layer.hpp"
#include "kserde/object_registry.hpp"
#include "kserde/ops.hpp"

namespace kserde::detail {

// Per-call float scratch whose storage comes from the tensor buffer cache (steady-state calls
// allocate nothing).
using FloatBuffer = std::vector<float, CachedAllocator<float>>;
// Axis lists and permutations, and byte flags (masks), likewise.
using Axes = std::vector<std::size_t, CachedAllocator<std::size_t>>;
using ByteBuffer = std::vector<std::uint8_t, CachedAllocator<std::uint8_t>>;

// Keras's default dtype policy dict, as every layer config carries it.
inline constexpr const char* kDefaultDTypePolicy =
    R"({"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null})";
inline constexpr const char* kGlorotUniform =
    R"({"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null})";
inline constexpr const char* kZeros =
    R"({"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null})";
inline constexpr const char* kOnes =
    R"({"module": "keras.initializers", "class_name": "Ones", "config": {}, "registered_name": null})";

// Shape of a concrete input with the batch dimension replaced by -1 (for build()).
inline Shape symbolic(const Shape& s) {
  Shape out = s;
  if (!out.empty()) out[0] = -1;
  return out;
}

}  // namespace kserde::detail
