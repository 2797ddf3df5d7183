#include "kserde/dtype.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>

namespace kserde {

std::size_t dtype_size(DType dtype) noexcept {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Float16: return 2;
    case DType::BFloat16: return 2;
    case DType::Int8: return 1;
    case DType::Int16: return 2;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::UInt8: return 1;
    case DType::UInt16: return 2;
    case DType::UInt32: return 4;
    case DType::UInt64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

std::string_view dtype_name(DType dtype) noexcept {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Int8: return "int8";
    case DType::Int16: return "int16";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
    case DType::UInt16: return "uint16";
    case DType::UInt32: return "uint32";
    case DType::UInt64: return "uint64";
    case DType::Bool: return "bool";
  }
  return "unknown";
}

std::optional<DType> dtype_from_name(std::string_view name) noexcept {
  static constexpr DType all[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16,
                                  DType::Int8,    DType::Int16,   DType::Int32,   DType::Int64,
                                  DType::UInt8,   DType::UInt16,  DType::UInt32,  DType::UInt64,
                                  DType::Bool};
  for (DType d : all) {
    if (dtype_name(d) == name) return d;
  }
  if (name == "float" || name == "single") return DType::Float32;
  if (name == "double") return DType::Float64;
  if (name == "half") return DType::Float16;
  return std::nullopt;
}

std::ostream& operator<<(std::ostream& os, DType dtype) { return os << dtype_name(dtype); }

bool is_floating(DType d) noexcept {
  return d == DType::Float32 || d == DType::Float64 || d == DType::Float16 || d == DType::BFloat16;
}

bool is_integer(DType d) noexcept { return !is_floating(d) && d != DType::Bool; }

float half_to_float(std::uint16_t h) noexcept {
  const std::uint32_t sign = (h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

std::uint16_t float_to_half(float f) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or nan
    return static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {  // subnormal or zero in half
    if (abs < 0x33000000u) return static_cast<std::uint16_t>(sign);
    const std::uint32_t e = abs >> 23;
    const std::uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - e;  // 14 - (e - 127) + 13 - 1 ... combined
    std::uint32_t r = m >> (shift);
    const std::uint32_t rem = m & ((1u << shift) - 1);
    const std::uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<std::uint16_t>(sign | r);
  }
  std::uint32_t r = ((abs - 0x38000000u) >> 13);
  const std::uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return static_cast<std::uint16_t>(sign | r);
}

float bfloat16_to_float(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

std::uint16_t float_to_bfloat16(float f) noexcept {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}

namespace {

template <class T>
T load(const std::byte* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <class T>
void store(std::byte* p, T v) noexcept {
  std::memcpy(p, &v, sizeof(T));
}

// Values pass through double (exact for every integer up to 2^53 and every float) except 64-bit
// integer to 64-bit integer copies, which go through int64/uint64 directly.
double load_as_double(const std::byte* p, DType d) noexcept {
  switch (d) {
    case DType::Float32: return load<float>(p);
    case DType::Float64: return load<double>(p);
    case DType::Float16: return half_to_float(load<std::uint16_t>(p));
    case DType::BFloat16: return bfloat16_to_float(load<std::uint16_t>(p));
    case DType::Int8: return load<std::int8_t>(p);
    case DType::Int16: return load<std::int16_t>(p);
    case DType::Int32: return load<std::int32_t>(p);
    case DType::Int64: return static_cast<double>(load<std::int64_t>(p));
    case DType::UInt8: return load<std::uint8_t>(p);
    case DType::UInt16: return load<std::uint16_t>(p);
    case DType::UInt32: return load<std::uint32_t>(p);
    case DType::UInt64: return static_cast<double>(load<std::uint64_t>(p));
    case DType::Bool: return load<std::uint8_t>(p) != 0 ? 1.0 : 0.0;
  }
  return 0.0;
}

template <class I>
I clamp_to_int(double v) noexcept {
  if (std::isnan(v)) return 0;
  const double t = std::trunc(v);
  if (t <= static_cast<double>(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
  if (t >= static_cast<double>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  return static_cast<I>(t);
}

void store_from_double(std::byte* p, DType d, double v) noexcept {
  switch (d) {
    case DType::Float32: store(p, static_cast<float>(v)); break;
    case DType::Float64: store(p, v); break;
    case DType::Float16: store(p, float_to_half(static_cast<float>(v))); break;
    case DType::BFloat16: store(p, float_to_bfloat16(static_cast<float>(v))); break;
    case DType::Int8: store(p, clamp_to_int<std::int8_t>(v)); break;
    case DType::Int16: store(p, clamp_to_int<std::int16_t>(v)); break;
    case DType::Int32: store(p, clamp_to_int<std::int32_t>(v)); break;
    case DType::Int64: store(p, clamp_to_int<std::int64_t>(v)); break;
    case DType::UInt8: store(p, clamp_to_int<std::uint8_t>(v)); break;
    case DType::UInt16: store(p, clamp_to_int<std::uint16_t>(v)); break;
    case DType::UInt32: store(p, clamp_to_int<std::uint32_t>(v)); break;
    case DType::UInt64: store(p, clamp_to_int<std::uint64_t>(v)); break;
    case DType::Bool: store(p, static_cast<std::uint8_t>(v != 0.0 ? 1 : 0)); break;
  }
}

}  // namespace

void convert_elements(const void* src, DType src_dtype, void* dst, DType dst_dtype,
                      std::size_t count) noexcept {
  const auto* s = static_cast<const std::byte*>(src);
  auto* o = static_cast<std::byte*>(dst);
  const std::size_t ss = dtype_size(src_dtype);
  const std::size_t ds = dtype_size(dst_dtype);
  if (src_dtype == dst_dtype) {
    std::memcpy(o, s, count * ss);
    return;
  }
  if (src_dtype == DType::Float32 && dst_dtype == DType::Float64) {
    for (std::size_t i = 0; i < count; ++i) store(o + i * 8, double{load<float>(s + i * 4)});
    return;
  }
  const bool int64_pair = (src_dtype == DType::Int64 || src_dtype == DType::UInt64) &&
                          (dst_dtype == DType::Int64 || dst_dtype == DType::UInt64);
  if (int64_pair) {
    std::memcpy(o, s, count * 8);  // two's complement reinterpretation, as NumPy's astype
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    store_from_double(o + i * ds, dst_dtype, load_as_double(s + i * ss, src_dtype));
  }
}

}  // namespace kserde
