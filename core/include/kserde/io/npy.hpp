// NumPy .npy files (format versions 1.0, 2.0, 3.0): little- and big-endian float16/32/64,
// int8-64, uint8-64 and bool; C order (Fortran-ordered arrays are transposed into C order).
// The header is bounded and checked against the file size before any allocation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "kserde/io/atomic_file.hpp"
#include "kserde/io/byte_source.hpp"
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

// A .npy file read a range of rows (first-axis entries) at a time, for data larger than memory
// should hold at once: the file is mapped, not read; rows in native byte order are borrowed from
// the mapping, others converted per range; release() drops rows already used from this process's
// memory. (A Fortran-ordered file, whose rows are not contiguous, is read whole.) Errors as
// read_npy.
class NpyReader {
 public:
  explicit NpyReader(const std::filesystem::path& path, const NpyLimits& limits = {});
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  // First-axis length (1 for a scalar, which is read whole).
  std::int64_t rows() const { return shape_.empty() ? 1 : shape_[0]; }
  // Rows [begin, end); valid while this reader lives.
  Tensor rows(std::int64_t begin, std::int64_t end) const;
  // Drops the file pages of rows [begin, end) from resident memory (they stay readable).
  void release(std::int64_t begin, std::int64_t end) const;

 private:
  std::string name_;
  ByteSource source_;
  Shape shape_;
  DType dtype_ = DType::Float32;
  bool swap_ = false;
  std::uint64_t data_offset_ = 0;
  std::size_t row_bytes_ = 0;
  bool read_whole_ = false;  // scalars and Fortran-ordered files
  Tensor whole_;
};

// Writes a .npy file of a known shape a range of rows at a time, atomically: the target appears
// (whole) only on commit(). Each write_rows() takes the next rows, of the shape's trailing dims and
// dtype (bfloat16 is written as float32, like write_npy).
class NpyWriter {
 public:
  NpyWriter(const std::filesystem::path& path, Shape shape, DType dtype);
  ~NpyWriter();
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;
  void write_rows(const Tensor& rows);
  // Throws ShapeError unless every row was written; IoError when the file cannot be completed.
  void commit();

 private:
  void write_all(std::span<const std::byte> bytes);
  std::filesystem::path path_;
  Shape shape_;
  DType dtype_;
  std::int64_t written_ = 0;
  AtomicFile file_;
  int fd_ = -1;
};

}  // namespace kserde::io
