// Typed, checked access to Keras config dicts (internal). Every getter names the object in its
// error (`where`, e.g. "Dense 'logits'") and the key, and says what was expected.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/json.hpp"
#include "kserde/tensor.hpp"

namespace kserde::cfg {

const JsonValue* find(const JsonValue& obj, std::string_view key);
bool has_non_null(const JsonValue& obj, std::string_view key);
// True for Keras's special object dicts {"class_name": "<marker>", ...} (spec §3.3), e.g.
// "__keras_tensor__", "__slice__", "__ellipsis__", "__lambda__".
bool is_marker(const JsonValue& v, std::string_view marker);

std::int64_t get_int(const JsonValue& obj, std::string_view key, const std::string& where);
std::int64_t get_int(const JsonValue& obj, std::string_view key, const std::string& where,
                     std::int64_t fallback);
double get_float(const JsonValue& obj, std::string_view key, const std::string& where);
double get_float(const JsonValue& obj, std::string_view key, const std::string& where,
                 double fallback);
std::optional<double> get_optional_float(const JsonValue& obj, std::string_view key,
                                         const std::string& where);
bool get_bool(const JsonValue& obj, std::string_view key, const std::string& where,
              bool fallback);
std::string get_string(const JsonValue& obj, std::string_view key, const std::string& where);
std::string get_string(const JsonValue& obj, std::string_view key, const std::string& where,
                       std::string_view fallback);
// An int or a list/tuple of ints (kernel_size=3 or [3, 3]); `n` > 0 expands a scalar to n copies
// and checks a list's length.
std::vector<std::int64_t> get_int_tuple(const JsonValue& obj, std::string_view key,
                                        const std::string& where, std::size_t n,
                                        std::optional<std::int64_t> fallback = std::nullopt);
// Shapes a config may hold (input shapes, build shapes, target shapes): rank at most 64, and the
// product of the known dimensions at most 2^31 - 1. Larger ones cannot be computed; refusing them
// at load beats failing at the first predict.
inline constexpr std::size_t kMaxShapeRank = 64;
inline constexpr std::int64_t kMaxShapeElements = (std::int64_t{1} << 31) - 1;
// A shape list with null for unknown dimensions. ConfigError for a negative dimension,
// LimitError past the limits above.
Shape to_shape(const JsonValue& v, const std::string& where);
JsonValue from_shape(const Shape& shape, JsonDocument::AllocatorType& a);

// Builds JSON values.
JsonValue str(std::string_view s, JsonDocument::AllocatorType& a);
void set(JsonValue& obj, std::string_view key, JsonValue value, JsonDocument::AllocatorType& a);

// Throws ConfigError with "<where>: <message>".
[[noreturn]] void fail(const std::string& where, const std::string& message);

}  // namespace kserde::cfg
