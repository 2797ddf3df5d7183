// Read-only memory mapping of a whole file (RAII). The mapping lives as long as any ByteSource
// made from it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "kserde/io/byte_source.hpp"

namespace kserde::io {

// Maps `path` read-only. Throws IoError naming the path when it cannot be opened or mapped.
// An empty file maps to an empty span. `hint_sequential` advises the kernel to read ahead.
ByteSource map_file(const std::filesystem::path& path, bool hint_sequential = false);

// A sub-range of `src`; throws FormatError (naming src.file_name and `what`) when it is out of
// bounds. The result shares src's owner.
ByteSource sub_range(const ByteSource& src, std::uint64_t offset, std::uint64_t length,
                     std::string file_name);

// Reads a whole file into memory (for small files such as JSON). Throws IoError; LimitError when
// larger than max_bytes.
std::string read_text_file(const std::filesystem::path& path, std::uint64_t max_bytes);

}  // namespace kserde::io
