// NumPy .npy files (format versions 1.0, 2.0, 3.0): little- and big-endian float16/32/64,
// int8-64, uint8-64 and bool; C order (Fortran-ordered arrays are transposed into C order).
// The header is bounded and checked against the file size before any allocation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "kserde/tensor.hpp"

namespace kserde::io {

struct NpyLimits {
  std::uint64_t max_header_bytes = 1 << 20;
  std::uint64_t max_bytes = 16ULL << 30;
  std::uint32_t max_rank = 64;
};

// Reads a .npy file into a tensor in native byte order. FormatError/LimitError/IoError name the
// file and the field.
Tensor read_npy(const std::filesystem::path& path, const NpyLimits& limits = {});
Tensor parse_npy(std::span<const std::byte> bytes, const std::string& name,
                 const NpyLimits& limits = {});
// Writes a version 1.0 little-endian C-order .npy file atomically.
void write_npy(const std::filesystem::path& path, const Tensor& tensor);
std::string serialize_npy(const Tensor& tensor);

}  // namespace kserde::io
