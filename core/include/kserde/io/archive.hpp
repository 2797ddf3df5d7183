// Zip archives (.keras files) through libarchive.
//
// Reading: the central directory is read and validated (member names, counts, sizes, ZIP64) before
// any member is used. A STORED member is returned as a byte range of the memory-mapped archive (no
// copy); a compressed member is inflated into an owned buffer, bounded by ArchiveLimits.
// Writing: members are STORED, in the order added; a member may be streamed from a ByteSink
// callback when its size is known up front (model weights), so no full copy is built in memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/io/byte_sink.hpp"
#include "kserde/io/byte_source.hpp"

namespace kserde::io {

struct ArchiveLimits {
  std::uint64_t max_members = 100'000;
  std::uint64_t max_member_bytes = 64ULL << 30;      // uncompressed size of one member
  std::uint64_t max_total_bytes = 128ULL << 30;      // uncompressed size of all members
  std::uint64_t max_compression_ratio = 200;         // uncompressed / compressed, per member
  std::size_t max_name_length = 4096;
};

struct ArchiveMember {
  std::string name;
  std::uint64_t compressed_size = 0;
  std::uint64_t uncompressed_size = 0;
  bool stored = false;  // method 0: the bytes lie in the archive as they are
};

class ArchiveReader {
 public:
  // Opens and validates `path`. FormatError ("not a zip archive", bad names: absolute, "..",
  // backslashes, NUL, duplicates, not UTF-8 though flagged so; entries that are devices, FIFOs,
  // links or sockets; a data descriptor that disagrees with the central directory),
  // UnsupportedError (encryption), LimitError, IoError; all name the path. With
  // `verify_checksums`, member() checks each member's CRC-32.
  static ArchiveReader open(const std::filesystem::path& path, const ArchiveLimits& limits = {},
                            bool verify_checksums = true);
  const std::filesystem::path& path() const;
  const std::vector<ArchiveMember>& members() const;
  bool contains(std::string_view name) const;
  // The member's bytes (zero-copy for STORED members). FormatError naming path!name if absent,
  // damaged (CRC-32 mismatch, checked unless open() was told not to) or past the end of the file.
  ByteSource member(std::string_view name) const;

  ~ArchiveReader();
  ArchiveReader(ArchiveReader&&) noexcept;
  ArchiveReader& operator=(ArchiveReader&&) noexcept;

 private:
  struct Impl;
  explicit ArchiveReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class ArchiveWriter {
 public:
  // Creates (truncates) `path`. Callers write to a temporary path and rename (see AtomicFile).
  explicit ArchiveWriter(const std::filesystem::path& path);
  ~ArchiveWriter();  // abandons an unfinished archive (the file is left for the caller to remove)
  ArchiveWriter(const ArchiveWriter&) = delete;
  ArchiveWriter& operator=(const ArchiveWriter&) = delete;

  void add(std::string_view name, std::span<const std::byte> data);
  void add(std::string_view name, std::string_view text);
  // Streams a member of exactly `size` bytes produced by `produce` (IoError if it writes another
  // amount). Uses ZIP64 records when needed.
  void add_streamed(std::string_view name, std::uint64_t size,
                    const std::function<void(ByteSink&)>& produce);
  // Writes the central directory and flushes + fsyncs the file.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kserde::io
