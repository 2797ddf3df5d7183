// A read-only run of bytes that something keeps alive: a whole memory buffer, a mapped file, or a
// byte range of one (a STORED zip member is a range of the .keras file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace kserde::io {

struct ByteSource {
  // The bytes. Valid for as long as `owner` (or the caller, when owner is null) keeps them.
  std::span<const std::byte> bytes;
  // Keeps `bytes` alive; may be shared by tensors that borrow from it.
  std::shared_ptr<const void> owner;
  // Absolute offset of bytes[0] in `file_name` (0 for in-memory buffers).
  std::uint64_t file_offset = 0;
  // For error messages: the file (and member) the bytes came from, e.g. "m.keras!model.weights.h5".
  std::string file_name;
  // True when `bytes` lie in a read-only file mapping (map_file and sub-ranges of one): its pages
  // can be dropped from the process and faulted back from the file (io::release_pages).
  bool mapped = false;
};

// Copies `data` into a fresh owned buffer.
ByteSource bytes_from_copy(std::span<const std::byte> data, std::string file_name);

}  // namespace kserde::io
