// Streaming writer for the HDF5 subset that Keras (through h5py) writes: superblock v0,
// old-style groups (symbol tables: v1 B-tree, local heap, symbol-table nodes), contiguous
// datasets, scalar variable-length UTF-8/ASCII string attributes, string-array attributes and
// numeric attributes (legacy .h5 `weight_names`, `layer_names`, empty float64 arrays).
//
// Usage: describe the tree (groups, datasets with borrowed data spans, attributes), then write().
// The writer lays out every address first, then emits the file strictly front to back through a
// ByteSink, so it can stream into a zip member without an in-memory image. Dataset bytes are
// written straight from the caller's spans, which must stay valid until write() returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/dtype.hpp"
#include "kserde/io/byte_sink.hpp"

namespace kserde::hdf5 {

class WriteGroup {
 public:
  // Child group, created on first use (the same name returns the same group). `path` may hold '/'.
  WriteGroup& group(std::string_view path);
  // Contiguous dataset. `data` holds num_elements(shape) little-endian elements of `dtype`
  // (BFloat16 is stored as 2-byte opaque with attribute dtype="bfloat16", Bool as h5py's enum).
  // An empty shape is a scalar. Throws ConfigError for duplicate names.
  void dataset(std::string_view name, DType dtype, std::vector<std::uint64_t> shape,
               std::span<const std::byte> data);
  // Attributes on this group. Strings are variable-length scalars (UTF-8 unless ascii=true).
  void attribute_string(std::string_view name, std::string_view value, bool ascii = false);
  // A 1-D array of variable-length strings (legacy `layer_names`, `weight_names`).
  void attribute_strings(std::string_view name, const std::vector<std::string>& values,
                         bool ascii = true);
  // A 1-D float64 array (h5py stores an empty list this way).
  void attribute_doubles(std::string_view name, const std::vector<double>& values);

  struct Node;
  explicit WriteGroup(Node* node) : node_(node) {}

 private:
  Node* node_;
};

class Writer {
 public:
  Writer();
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  WriteGroup& root();
  // Exact size of the file write() will produce (computes the layout).
  std::uint64_t file_size() const;
  // Emits the whole file front to back. Throws IoError from the sink.
  void write(io::ByteSink& sink) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace kserde::hdf5
