// Read-only memory mapping of a whole file (RAII). The mapping lives as long as any ByteSource
// made from it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "kserde/io/byte_source.hpp"

namespace kserde::io {

// Maps `path` read-only. Throws IoError naming the path when it cannot be opened or mapped.
// An empty file maps to an empty span. `hint_sequential` advises the kernel to read ahead.
ByteSource map_file(const std::filesystem::path& path, bool hint_sequential = false);

// A sub-range of `src`; throws FormatError (naming src.file_name and `what`) when it is out of
// bounds. The result shares src's owner.
ByteSource sub_range(const ByteSource& src, std::uint64_t offset, std::uint64_t length,
                     std::string file_name);

// Drops the whole pages of `range` (a part of src.bytes) from this process's resident memory when
// src is a file mapping: a copying load calls it on bytes it has copied, so that its peak memory is
// the copy alone, not the copy plus the file's pages. The bytes stay readable (they come back from
// the page cache). No effect on other sources.
void release_pages(const ByteSource& src, std::span<const std::byte> range);

// Reads a whole file into memory (for small files such as JSON). Throws IoError; LimitError when
// larger than max_bytes.
std::string read_text_file(const std::filesystem::path& path, std::uint64_t max_bytes);

}  // namespace kserde::io
