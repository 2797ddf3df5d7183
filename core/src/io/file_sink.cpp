#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kserde/error.hpp"
#include "kserde/io/byte_sink.hpp"

namespace kserde::io {

FileSink::FileSink(const std::string& path) : name_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(name_ + ": cannot open for writing: " + std::strerror(errno));
}

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSink::write(std::span<const std::byte> data) {
  const std::byte* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(name_ + ": write failed: " + std::strerror(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
    pos_ += static_cast<std::uint64_t>(n);
  }
}

}  // namespace kserde::io
