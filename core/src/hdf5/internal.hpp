// Internal pieces of kserde's HDF5 reader, shared by its translation units.
//
// Everything here works on addresses relative to the superblock's base address and on spans into
// the open ByteSource; nothing copies file bytes except decoded values. Each function that follows
// a pointer read from the file bounds-checks it through FileState::at() and charges the file's
// visit budget through FileState::visit().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/hdf5/reader.hpp"

namespace kserde::hdf5::detail {

inline constexpr std::uint64_t kUndefined = ~std::uint64_t{0};
using Bytes = std::span<const std::byte>;

std::string hex(std::uint64_t v);
// Jenkins lookup3 hashlittle() with initval 0, as HDF5 uses for metadata checksums.
std::uint32_t lookup3(Bytes data) noexcept;

struct FileState {
  io::ByteSource src;
  ReadLimits limits;
  std::uint64_t base = 0;  // superblock base address (absolute position of address 0)
  std::uint64_t root_address = kUndefined;
  int superblock_version = 0;
  mutable std::atomic<std::uint64_t> visits{0};

  std::uint64_t size() const { return src.bytes.size(); }
  // "<file>: <path>: <what>"
  std::string where(std::string_view path, std::string_view what) const;
  [[noreturn]] void fail(std::string_view path, std::string_view what) const;         // FormatError
  [[noreturn]] void unsupported(std::string_view path, std::string_view what) const;  // Unsupported
  [[noreturn]] void limit(std::string_view path, std::string_view what) const;        // LimitError
  // `size` bytes at relative address `addr`; FormatError naming `field` if outside the file.
  Bytes at(std::uint64_t addr, std::uint64_t size, std::string_view path,
           std::string_view field) const;
  // Bytes from `addr` to the end of the file (at least `min` of them).
  Bytes tail(std::uint64_t addr, std::uint64_t min, std::string_view path,
             std::string_view field) const;
  // Charges one object header, tree node or heap block against max_objects_visited.
  void visit(std::string_view path) const;
};

// Bounded little-endian cursor over a span; every read checks the remaining length and reports
// the structure being parsed.
class Cursor {
 public:
  Cursor(const FileState& fs, Bytes data, std::string_view path, std::string what)
      : fs_(fs), data_(data), path_(path), what_(std::move(what)) {}
  std::size_t pos() const { return pos_; }
  std::size_t size() const { return data_.size(); }
  std::size_t remaining() const { return data_.size() - pos_; }
  Bytes data() const { return data_; }
  void seek(std::size_t p);
  void skip(std::uint64_t n) { (void)bytes(n); }
  Bytes bytes(std::uint64_t n);
  // The 4 bytes at the cursor (a stored checksum); the cursor stays put so that pos() still ends
  // the covered range.
  Bytes peek4() {
    Bytes b = bytes(4);
    pos_ -= 4;
    return b;
  }
  std::uint8_t u8() { return static_cast<std::uint8_t>(uint(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(uint(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(uint(4)); }
  std::uint64_t u64() { return uint(8); }
  std::uint64_t uint(unsigned n);  // n <= 8 bytes little-endian
  std::uint64_t addr() { return uint(8); }
  std::uint64_t len() { return uint(8); }
  void expect_signature(std::string_view sig);
  [[noreturn]] void fail(std::string_view what) const;
  const FileState& fs() const { return fs_; }
  std::string_view path() const { return path_; }

 private:
  const FileState& fs_;
  Bytes data_;
  std::string_view path_;  // owned by the caller, outlives the cursor
  std::string what_;
  std::size_t pos_ = 0;
};

// Verifies the 4-byte lookup3 checksum stored right after `covered`.
void verify_checksum(const FileState& fs, Bytes covered, Bytes stored, std::string_view path,
                     std::string_view what);

void parse_superblock(FileState& fs);

// --- object headers -------------------------------------------------------------------------
namespace msg {
enum : std::uint16_t {
  Nil = 0x0, Dataspace = 0x1, LinkInfo = 0x2, Datatype = 0x3, FillOld = 0x4, Fill = 0x5,
  Link = 0x6, External = 0x7, Layout = 0x8, GroupInfo = 0xA, Filters = 0xB, Attribute = 0xC,
  Continuation = 0x10, SymbolTable = 0x11, AttributeInfo = 0x15,
};
}
struct Message {
  std::uint16_t type = 0;
  std::uint8_t flags = 0;
  Bytes data;
};
struct ObjectHeader {
  std::uint64_t address = 0;
  std::vector<Message> messages;
  const Message* find(std::uint16_t type) const;
};
ObjectHeader read_object_header(const FileState& fs, std::uint64_t addr, std::string_view path);

// --- datatypes, dataspaces --------------------------------------------------------------------
struct TypeInfo {
  Datatype pub;
  unsigned str_pad = 0;    // fixed strings: 0 null-terminated, 1 null-padded, 2 space-padded
  std::size_t encoded_size = 0;
};
TypeInfo parse_datatype(Cursor& c, int depth = 0);
struct Dataspace {
  bool null = false;
  std::vector<std::uint64_t> dims;  // empty: scalar (or null)
  std::uint64_t count = 1;          // element count, checked against overflow
};
Dataspace parse_dataspace(Cursor& c, std::uint32_t max_rank);
// Fill value bytes (empty when undefined/default: zeros).
std::vector<std::byte> parse_fill_value(const ObjectHeader& oh, const FileState& fs,
                                        std::string_view path, std::size_t element_size);
// Little-endian copy of `n` elements of `size` bytes stored big-endian (in place).
void swap_bytes(std::byte* p, std::size_t size, std::uint64_t n) noexcept;

// --- trees and heaps ---------------------------------------------------------------------------
// Calls leaf(key_before, child_address, key_after) for every child of every leaf of a v1 B-tree.
void walk_btree_v1(const FileState& fs, std::uint64_t root, std::uint8_t type, std::size_t key_size,
                   std::string_view path,
                   const std::function<void(Bytes, std::uint64_t, Bytes)>& leaf);
// Calls record(bytes) for every record of a v2 B-tree (any order).
void walk_btree_v2(const FileState& fs, std::uint64_t header, std::uint8_t expected_type,
                   std::string_view path, const std::function<void(Bytes, std::size_t)>& record);

struct LocalHeap {
  Bytes data;
  std::string name_at(const FileState& fs, std::uint64_t offset, std::string_view path) const;
};
LocalHeap read_local_heap(const FileState& fs, std::uint64_t addr, std::string_view path);

class FractalHeap {
 public:
  FractalHeap(const FileState& fs, std::uint64_t addr, std::string path);
  // The object a heap ID names (managed or tiny; huge objects are unsupported).
  Bytes object(Bytes id) const;

 private:
  Bytes locate(std::uint64_t block_addr, unsigned nrows, std::uint64_t block_offset,
               std::uint64_t offset, std::uint64_t length, int depth) const;
  Bytes direct(std::uint64_t block_addr, std::uint64_t size, std::uint64_t block_offset,
               std::uint64_t offset, std::uint64_t length) const;
  std::uint64_t row_block_size(unsigned row) const;
  const FileState& fs_;
  std::string path_;
  std::uint64_t addr_ = 0;
  unsigned id_len_ = 0, off_size_ = 0, len_size_ = 0, width_ = 0, max_heap_bits_ = 0;
  unsigned max_direct_rows_ = 0, root_rows_ = 0;
  bool checksummed_direct_ = false;
  std::uint64_t start_block_ = 0, max_direct_ = 0, root_ = kUndefined;
  mutable std::unordered_set<std::uint64_t> verified_;  // direct blocks whose checksum passed
};

// Resolves variable-length data stored in global heap collections; caches parsed collections
// for the lifetime of one decode.
class GlobalHeapReader {
 public:
  GlobalHeapReader(const FileState& fs, std::string_view path) : fs_(fs), path_(path) {}
  Bytes object(std::uint64_t collection, std::uint32_t index);

 private:
  struct Collection {
    std::uint64_t addr;
    std::vector<std::pair<std::uint32_t, Bytes>> objects;
  };
  const FileState& fs_;
  std::string_view path_;
  std::vector<Collection> cache_;
};

// --- links and attributes ----------------------------------------------------------------------
struct Link {
  enum class Type { Hard, Soft, External, Other } type = Type::Hard;
  std::string name;
  std::uint64_t address = kUndefined;
};
// All links of a group object (symbol table, compact link messages or dense storage), sorted by name.
std::vector<Link> read_links(const FileState& fs, const ObjectHeader& oh, std::string_view path);

struct RawAttribute {
  std::string name;
  Bytes message;  // the attribute message body
};
std::vector<RawAttribute> read_raw_attributes(const FileState& fs, const ObjectHeader& oh,
                                              std::string_view path);
Attribute decode_attribute(const FileState& fs, const RawAttribute& raw, std::string_view path);
std::string attribute_message_name(const FileState& fs, Bytes message, std::string_view path);

// --- datasets ---------------------------------------------------------------------------------
struct Filter {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::vector<std::uint32_t> params;
};
struct Layout {
  enum class Kind { Compact, Contiguous, Chunked } kind = Kind::Contiguous;
  int version = 3;
  Bytes compact;
  std::uint64_t address = kUndefined;  // contiguous data or chunk index
  std::uint64_t size = 0;              // contiguous size
  std::vector<std::uint64_t> chunk;    // chunk dims in elements (rank entries)
  // Chunk index: 0 = v1 B-tree (layout v3); v4: 1 single, 2 implicit, 3 fixed array,
  // 4 extensible array, 5 v2 B-tree.
  int index = 0;
  unsigned flags = 0;
  std::uint64_t single_size = 0;
  std::uint32_t single_mask = 0;
};
Layout parse_layout(const FileState& fs, Bytes data, std::string_view path, std::size_t rank,
                    std::size_t element_size);
std::vector<Filter> parse_filters(const FileState& fs, Bytes data, std::string_view path);

struct DatasetInfo {
  std::string path;
  Dataspace space;
  TypeInfo type;
  Layout layout;
  std::vector<Filter> filters;
  std::vector<std::byte> fill;  // one element or empty (zeros)
};
// Decodes the whole dataset in its stored representation into `out` (count * element bytes).
void read_raw(const FileState& fs, const DatasetInfo& ds, std::span<std::byte> out);

}  // namespace kserde::hdf5::detail
