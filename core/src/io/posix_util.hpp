// Small POSIX helpers shared by the io room (internal).
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "kserde/error.hpp"
#include "kserde/io/byte_source.hpp"

namespace kserde::io::detail {

// Owns a file descriptor; closes it on destruction (errors on that close are ignored: callers that
// care about close() errors call release_and_close()).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Gives up ownership without closing.
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes and reports the result (close can report deferred write errors on some filesystems).
  int release_and_close() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd >= 0 ? ::close(fd) : 0;
  }

 private:
  int fd_ = -1;
};

inline std::string errno_text(int err) {
  return std::strerror(err);
}

// "'<path>': <what>: <strerror>" as an IoError.
[[noreturn]] inline void throw_io(const std::filesystem::path& path, const std::string& what,
                                  int err) {
  throw IoError("'" + path.string() + "': " + what + ": " + errno_text(err));
}

// map_file that also hands back the open descriptor of the mapped file (the archive reader
// reads members through it to check their CRC without populating the mapping).
ByteSource map_file_keeping_fd(const std::filesystem::path& path, bool hint_sequential,
                               UniqueFd& fd_out);

}  // namespace kserde::io::detail
