// Read-only mappings of whole files, bounds-checked sub-ranges, bounded whole-file reads.
//
// A mapping stays valid while any ByteSource (or tensor) holds its owner. If another process
// truncates the file while it is mapped, touching the lost pages raises SIGBUS; callers that must
// survive that read into memory instead (read_text_file).
#include "kserde/io/mapped_file.hpp"

#include <cerrno>
#include <limits>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/posix_util.hpp"
#include "kserde/error.hpp"

namespace kserde::io {

namespace {

using detail::throw_io;
using detail::UniqueFd;

// The owner of a mapping: unmaps when the last ByteSource sharing it goes away.
struct Mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  Mapping(void* a, std::size_t s) : addr(a), size(s) {}
  ~Mapping() {
    if (addr != nullptr) ::munmap(addr, size);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
};

UniqueFd open_regular(const std::filesystem::path& path, struct stat& st) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) throw_io(path, "cannot open the file for reading; check that it exists", errno);
  if (::fstat(fd.get(), &st) != 0) throw_io(path, "cannot stat the file", errno);
  if (S_ISDIR(st.st_mode)) {
    throw IoError("'" + path.string() + "' is a directory; pass the path of a file");
  }
  return fd;
}

}  // namespace

ByteSource map_file(const std::filesystem::path& path, bool hint_sequential) {
  UniqueFd fd;
  return detail::map_file_keeping_fd(path, hint_sequential, fd);
}

ByteSource detail::map_file_keeping_fd(const std::filesystem::path& path, bool hint_sequential,
                                       UniqueFd& fd_out) {
  struct stat st {};
  UniqueFd& fd = fd_out;
  fd = open_regular(path, st);
  if (!S_ISREG(st.st_mode)) {
    throw IoError("'" + path.string() + "' is not a regular file and cannot be memory-mapped");
  }
  ByteSource src;
  src.file_name = path.string();
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size == 0) return src;  // mmap refuses length 0; an empty span is the honest answer
  if (size > std::numeric_limits<std::size_t>::max()) {
    throw IoError("'" + path.string() + "' is too large to map in this address space");
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (addr == MAP_FAILED) throw_io(path, "cannot memory-map the file", errno);
  auto mapping = std::make_shared<Mapping>(addr, static_cast<std::size_t>(size));
  // Hints only; failures do not matter.
  if (hint_sequential) {
    ::madvise(addr, size, MADV_SEQUENTIAL);
    ::madvise(addr, size, MADV_WILLNEED);
  }
  src.bytes = {static_cast<const std::byte*>(addr), static_cast<std::size_t>(size)};
  src.owner = std::move(mapping);
  src.mapped = true;
  return src;
}

void release_pages(const ByteSource& src, std::span<const std::byte> range) {
  if (!src.mapped || range.empty()) return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(range.data());
  const std::uintptr_t first = (begin + page - 1) / page * page;
  const std::uintptr_t last = (begin + range.size()) / page * page;
  // Advisory: on a read-only private file mapping MADV_DONTNEED only unmaps the pages; a later
  // access maps them again from the page cache (or the file) with the same contents.
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

ByteSource sub_range(const ByteSource& src, std::uint64_t offset, std::uint64_t length,
                     std::string file_name) {
  const std::uint64_t size = src.bytes.size();
  if (offset > size || length > size - offset) {
    throw FormatError("'" + src.file_name + "': '" + file_name + "' (bytes " +
                      std::to_string(offset) + "+" + std::to_string(length) +
                      ") lies past the end of the data (" + std::to_string(size) +
                      " bytes); the file is truncated or damaged");
  }
  ByteSource out;
  out.bytes = src.bytes.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
  out.owner = src.owner;
  out.file_offset = src.file_offset + offset;
  out.file_name = std::move(file_name);
  out.mapped = src.mapped;
  return out;
}

std::string read_text_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
  struct stat st {};
  UniqueFd fd = open_regular(path, st);
  auto too_large = [&] {
    return LimitError("'" + path.string() + "' is larger than the limit of " +
                      std::to_string(max_bytes) + " bytes; raise the limit if the file is genuine");
  };
  if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > max_bytes) throw too_large();
  std::string out;
  if (S_ISREG(st.st_mode)) out.reserve(static_cast<std::size_t>(st.st_size));
  // The size may change under us (or be unknown for pipes): read until EOF, never past the limit.
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io(path, "read failed", errno);
    }
    if (n == 0) break;
    if (static_cast<std::uint64_t>(n) > max_bytes - out.size()) throw too_large();
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace kserde::io
