// safetensors: a model's weights as one safetensors file (weights only).
//
//   [8 bytes little-endian u64 N][N bytes JSON header][data buffer]
//   header: {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//            "__metadata__": {"format": "keras", "kserde_version": "...", "keras_version": "..."}}
//
// Tensor names are the Keras weight paths of spec §5: "layers/dense/vars/0",
// "optimizer/vars/0", "vars/0" for variables the model owns itself. The parser validates like the
// reference implementation (header size cap, JSON well-formed, dtype known, offsets contiguous,
// non-overlapping and covering the buffer exactly, byte size = elements x dtype size, no
// overflow) and names the file and the tensor in every error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kserde/dtype.hpp"
#include "kserde/io/byte_source.hpp"
#include "kserde/model.hpp"
#include "kserde/serializer.hpp"

namespace kserde::safetensors {

inline constexpr const char* kFormatName = "safetensors";
// The reference implementation's cap on the JSON header.
inline constexpr std::uint64_t kMaxHeaderSize = 100'000'000;

SerializerPtr make_format();

struct TensorInfo {
  std::string name;
  std::string dtype_name;        // "F32", "BF16", ...
  std::optional<DType> dtype;    // empty for safetensors dtypes kserde has no type for (F8_*, C64)
  Shape shape;
  std::uint64_t begin = 0;       // offsets into the data buffer
  std::uint64_t end = 0;
};

struct Contents {
  std::vector<TensorInfo> tensors;  // in data-offset order
  std::map<std::string, std::string> metadata;
  io::ByteSource data;              // the data buffer (shares the file's owner)
  std::map<std::string, std::size_t, std::less<>> index;  // name -> position in `tensors`
  const TensorInfo* find(const std::string& name) const;
};

// Parses and validates a whole safetensors image. FormatError (LimitError for a header over
// kMaxHeaderSize) naming `bytes.file_name` and, where one is at fault, the tensor.
Contents parse(const io::ByteSource& bytes);

// The safetensors dtype tag of a kserde dtype ("F32", "BOOL", ...).
std::string dtype_tag(DType dtype);

// Writes `model`'s weights (and optimizer variables) to `path` atomically.
void save_weights(const Model& model, const std::filesystem::path& path);

}  // namespace kserde::safetensors
