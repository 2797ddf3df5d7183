// Atomic, durable file replacement. The temp file lives next to the target (rename is only atomic
// within one filesystem) and is named ".<target>.kserde-tmp-XXXXXX" so that leftovers of a crashed
// process are recognisable and hidden.
#include "kserde/io/atomic_file.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/posix_util.hpp"
#include "kserde/error.hpp"

namespace kserde::io {

namespace {

using detail::throw_io;
using detail::UniqueFd;

std::filesystem::path parent_dir(const std::filesystem::path& p) {
  auto dir = p.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

// The process umask, read without changing it (umask(2) would race with other threads).
mode_t current_umask() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "Umask:") {
      unsigned mask = 022;
      in >> std::oct >> mask;
      return static_cast<mode_t>(mask & 0777);
    }
  }
  return 022;
}

void fsync_path(const std::filesystem::path& path, int flags, const char* what) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd.valid()) throw_io(path, std::string("cannot open ") + what + " to fsync it", errno);
  if (::fsync(fd.get()) != 0) throw_io(path, std::string("fsync of ") + what + " failed", errno);
}

// Temporary files of earlier saves of the same target that were killed: their lock is free (the
// holder is gone) and they are old enough not to belong to a save that is just starting.
void remove_stale_temps(const std::filesystem::path& dir, const std::string& prefix) {
  std::error_code ec;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != prefix.size() + 6 || name.compare(0, prefix.size(), prefix) != 0) continue;
    std::error_code age_ec;
    const auto mtime = std::filesystem::last_write_time(e.path(), age_ec);
    if (age_ec || now - mtime < std::chrono::minutes(1)) continue;
    UniqueFd fd(::open(e.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.valid()) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) ::unlink(e.path().c_str());
  }
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
  if (target_.filename().empty()) {
    throw IoError("'" + target_.string() + "' names a directory, not a file to write");
  }
  // Keep the temp name within NAME_MAX (255) even for long target names.
  std::string stem = target_.filename().string();
  if (stem.size() > 200) stem.resize(200);
  const std::string prefix = "." + stem + ".kserde-tmp-";
  remove_stale_temps(parent_dir(target_), prefix);
  std::string templ = (parent_dir(target_) / (prefix + "XXXXXX")).string();
  UniqueFd fd(::mkostemp(templ.data(), O_CLOEXEC));
  if (!fd.valid()) {
    throw_io(target_, "cannot create a temporary file in its directory (is it writable?)", errno);
  }
  temp_ = templ;
  // mkstemp creates 0600; give the result the mode an ordinary create would (or the old file's).
  struct stat st {};
  const mode_t mode =
      ::stat(target_.c_str(), &st) == 0 ? (st.st_mode & 07777) : (0666 & ~current_umask());
  ::fchmod(fd.get(), mode);  // best effort: a failure leaves the safe 0600
  ::flock(fd.get(), LOCK_EX | LOCK_NB);  // marks the temp file as in use (released on any exit)
  lock_fd_ = fd.release();
}

AtomicFile::~AtomicFile() {
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void AtomicFile::commit() {
  if (committed_) throw IoError("'" + target_.string() + "': AtomicFile committed twice");
  fsync_path(temp_, O_RDONLY, "the temporary file");
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    throw_io(target_, "cannot rename '" + temp_.string() + "' over it", errno);
  }
  committed_ = true;
  // The rename is only durable once the directory entry is on disk.
  fsync_path(parent_dir(target_), O_RDONLY | O_DIRECTORY, "the directory");
}

void write_file_atomic(const std::filesystem::path& target, std::string_view data) {
  AtomicFile file(target);
  {
    UniqueFd fd(::open(file.temp_path().c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!fd.valid()) throw_io(file.temp_path(), "cannot open the temporary file", errno);
    while (!data.empty()) {
      const ssize_t n = ::write(fd.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_io(file.temp_path(), "write failed (disk full?)", errno);
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    if (fd.release_and_close() != 0) throw_io(file.temp_path(), "close failed", errno);
  }
  file.commit();
}

}  // namespace kserde::io
