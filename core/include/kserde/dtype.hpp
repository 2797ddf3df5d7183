// Element types of tensors and weight files, named as Keras/NumPy name them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace kserde {

enum class DType : std::uint8_t {
  Float32,
  Float64,
  Float16,
  BFloat16,
  Int8,
  Int16,
  Int32,
  Int64,
  UInt8,
  UInt16,
  UInt32,
  UInt64,
  Bool,
};

// Bytes per element.
std::size_t dtype_size(DType dtype) noexcept;
// "float32", "int64", "bool", "bfloat16", ... as Keras writes them in configs.
std::string_view dtype_name(DType dtype) noexcept;
// Inverse of dtype_name; also accepts "float"/"double"/"half". Empty for unknown names.
std::optional<DType> dtype_from_name(std::string_view name) noexcept;
std::ostream& operator<<(std::ostream& os, DType dtype);
bool is_floating(DType dtype) noexcept;
bool is_integer(DType dtype) noexcept;

// Converts `count` elements between dtypes (float<->int truncates toward zero like NumPy's astype;
// bool becomes 0/1 and nonzero becomes true). Source and destination must not overlap.
void convert_elements(const void* src, DType src_dtype, void* dst, DType dst_dtype,
                      std::size_t count) noexcept;

// IEEE half and bfloat16 helpers (round to nearest even).
float half_to_float(std::uint16_t h) noexcept;
std::uint16_t float_to_half(float f) noexcept;
float bfloat16_to_float(std::uint16_t b) noexcept;
std::uint16_t float_to_bfloat16(float f) noexcept;

}  // namespace kserde
