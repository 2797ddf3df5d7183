// Bounded reader for the subset of HDF5 that Keras weight files use.
//
// Model files are untrusted: every count, size and address read from the file is checked before it
// sizes an allocation or indexes memory, every walk of linked structures (B-trees, heaps,
// continuation blocks) has a visit budget and detects cycles, and decompression is capped. Errors
// are kserde::FormatError (corrupt), LimitError (a limit in ReadLimits) or UnsupportedError (valid
// HDF5 that kserde does not read), and name the file, the object path and the field, e.g.
//   "m.keras!model.weights.h5: /layers/dense/vars/0: data address 0x1234+400 lies past end of file
//    (size 0x1000)".
// Soft, external and user-defined links, external storage and virtual datasets are refused: a model
// file never makes kserde open another file.
//
// Objects are cheap handles that share the open file; they stay valid as long as any of them lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/dtype.hpp"
#include "kserde/io/byte_source.hpp"

namespace kserde::hdf5 {

struct ReadLimits {
  std::uint64_t max_objects_visited = 1'000'000;       // headers, tree nodes, heap blocks per file
  std::uint64_t max_dataset_bytes = 64ULL << 30;       // decoded size of one dataset
  std::uint64_t max_decompression_ratio = 1000;        // decoded / stored, for chunked datasets
  std::uint32_t max_rank = 64;
  std::uint32_t max_depth = 256;                       // group nesting
  std::uint64_t max_attribute_bytes = 64ULL << 20;
};

enum class ObjectKind { Group, Dataset };

// The stored element type, as far as kserde understands it.
struct Datatype {
  enum class Class { Integer, Float, String, Opaque, Enum, Other };
  Class cls = Class::Other;
  std::size_t size = 0;     // bytes per element (for variable-length strings: the descriptor size)
  bool is_signed = false;   // integers
  bool big_endian = false;  // integers and floats
  bool variable_length = false;  // strings
  bool utf8 = false;             // strings: character set
  // The kserde dtype this maps to (h5py bool enum -> Bool; 2-byte opaque tagged bfloat16 ->
  // BFloat16; strings and unknown types -> empty).
  std::optional<DType> dtype;
};

class File;
class Group;
class Dataset;

// An attribute's value, decoded eagerly when read (attributes are small and bounded).
class Attribute {
 public:
  const std::string& name() const { return name_; }
  const Datatype& datatype() const { return datatype_; }
  const std::vector<std::uint64_t>& shape() const { return shape_; }  // empty for scalars
  bool is_string() const { return datatype_.cls == Datatype::Class::String; }
  // Scalar string (or a one-element string array). Throws FormatError otherwise.
  std::string as_string() const;
  // All elements of a string attribute (a scalar gives one element).
  const std::vector<std::string>& as_strings() const;
  // Numeric elements converted to double. Throws FormatError for non-numeric types.
  std::vector<double> as_doubles() const;

  // Used by the reader implementation.
  Attribute(std::string name, Datatype type, std::vector<std::uint64_t> shape,
            std::vector<std::string> strings, std::vector<double> numbers);

 private:
  std::string name_;
  Datatype datatype_;
  std::vector<std::uint64_t> shape_;
  std::vector<std::string> strings_;
  std::vector<double> numbers_;
};

// Where a dataset's raw bytes lie, when they lie in one run and need no decoding beyond a
// byte-order-preserving reinterpretation (contiguous or compact, no filters).
struct Extent {
  std::uint64_t file_offset = 0;  // absolute, in ByteSource::file_name's file
  std::uint64_t length = 0;
  std::span<const std::byte> bytes;  // the same bytes, inside the open ByteSource
};

namespace detail {
struct FileState;
struct ObjectRef;
}  // namespace detail

class Dataset {
 public:
  const std::string& path() const;
  const std::vector<std::uint64_t>& shape() const;  // empty for scalar dataspaces
  std::uint64_t num_elements() const;
  const Datatype& datatype() const;
  // The stored dtype; throws UnsupportedError (naming the path and type) when not numeric.
  DType dtype() const;
  // Reads all elements, converting to `target`, into `out` (must be num_elements()*size(target)
  // bytes; ShapeError otherwise). Chunked datasets are decoded (deflate, shuffle).
  void read(std::span<std::byte> out, DType target) const;
  // Set for contiguous/compact unfiltered datasets whose bytes lie inside the file; empty for
  // chunked/filtered layouts or datasets with no storage allocated (read() then fills zeros /
  // the fill value).
  std::optional<Extent> extent() const;
  bool is_little_endian() const;

  std::vector<std::string> attribute_names() const;
  bool has_attribute(std::string_view name) const;
  Attribute attribute(std::string_view name) const;  // FormatError naming the path if absent

  struct Impl;
  explicit Dataset(std::shared_ptr<const Impl> impl);

 private:
  std::shared_ptr<const Impl> impl_;
};

class Group {
 public:
  const std::string& path() const;  // "/" for the root, "/layers/dense" otherwise
  // Member names in HDF5's order (lexicographic by bytes).
  std::vector<std::string> member_names() const;
  // Kind of a direct member; empty when absent. Refused link kinds throw UnsupportedError.
  std::optional<ObjectKind> member_kind(std::string_view name) const;
  // `path` may contain '/', relative to this group. Throws FormatError naming the full path when
  // missing or of the wrong kind.
  Group group(std::string_view path) const;
  Dataset dataset(std::string_view path) const;
  std::optional<Group> find_group(std::string_view path) const;
  std::optional<Dataset> find_dataset(std::string_view path) const;

  std::vector<std::string> attribute_names() const;
  bool has_attribute(std::string_view name) const;
  Attribute attribute(std::string_view name) const;

  struct Impl;
  explicit Group(std::shared_ptr<const Impl> impl);

 private:
  std::shared_ptr<const Impl> impl_;
};

class File {
 public:
  // Parses the superblock and the root group. The ByteSource stays referenced by the File.
  static File open(io::ByteSource source, const ReadLimits& limits = {});
  Group root() const;
  const std::string& file_name() const;
  const io::ByteSource& source() const;

 private:
  explicit File(std::shared_ptr<detail::FileState> state);
  std::shared_ptr<detail::FileState> state_;
};

// True when `head` starts with the HDF5 signature at offset 0.
bool has_signature(std::span<const std::byte> head) noexcept;
// Where the superblock of `file` starts: 0, or past a user block of 512, 1024, 2048, ... bytes;
// nullopt when there is no HDF5 signature at any of those offsets.
std::optional<std::uint64_t> superblock_offset(std::span<const std::byte> file) noexcept;

}  // namespace kserde::hdf5
