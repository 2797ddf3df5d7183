// Atomic, durable replacement of a file: write to a temporary file in the target's directory,
// fsync it, rename it over the target, fsync the directory. Until commit() the target is untouched;
// an AtomicFile destroyed without commit() removes its temporary file. A process killed mid-save
// cannot clean up, so its temporary file holds an flock while alive; the next AtomicFile for the
// same target removes temporary files whose lock is free and that are older than a minute.
#pragma once

#include <filesystem>

namespace kserde::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Where to write (same directory as the target, unique name, created empty).
  const std::filesystem::path& temp_path() const { return temp_; }
  const std::filesystem::path& target() const { return target_; }
  // fsync temp, rename over the target, fsync the directory. Throws IoError.
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  int lock_fd_ = -1;  // the temp file, flock'ed while this object lives
  bool committed_ = false;
};

// Writes `data` to `target` atomically.
void write_file_atomic(const std::filesystem::path& target, std::string_view data);

}  // namespace kserde::io
