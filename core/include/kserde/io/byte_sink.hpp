// Where serialized bytes go: a file, a zip member, a memory buffer. Writers stream through this
// so that no format builds a whole image in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace kserde::io {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Appends bytes; throws IoError on failure.
  virtual void write(std::span<const std::byte> data) = 0;
  // Bytes written so far.
  virtual std::uint64_t position() const = 0;
};

// Collects everything in memory (tests, small members).
class MemorySink final : public ByteSink {
 public:
  void write(std::span<const std::byte> data) override;
  std::uint64_t position() const override { return buffer_.size(); }
  const std::string& buffer() const { return buffer_; }
  std::string take() { return std::move(buffer_); }

 private:
  std::string buffer_;
};

// Writes to a file (created or truncated), unbuffered: callers hand it large blocks.
class FileSink final : public ByteSink {
 public:
  explicit FileSink(const std::string& path);
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  void write(std::span<const std::byte> data) override;
  std::uint64_t position() const override { return pos_; }

 private:
  std::string name_;
  int fd_ = -1;
  std::uint64_t pos_ = 0;
};

}  // namespace kserde::io
