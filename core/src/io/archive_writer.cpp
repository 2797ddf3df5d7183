// Zip writer for .keras archives, through libarchive: every member STORED (as Keras writes them),
// no directory entries, mode 0600, the current time. libarchive switches to ZIP64 records by
// itself when a member's declared size or an offset passes 4 GiB, so the option is left automatic
// (forcing it would make small archives unreadable to some old tools for no gain).
#include <archive.h>
#include <archive_entry.h>

#include <cerrno>
#include <ctime>
#include <set>

#include <fcntl.h>
#include <unistd.h>

#include "io/posix_util.hpp"
#include "io/zip_names.hpp"
#include "kserde/error.hpp"
#include "kserde/io/archive.hpp"

namespace kserde::io {

namespace {

using detail::throw_io;
using detail::UniqueFd;

using WriterPtr = std::unique_ptr<struct archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<struct archive_entry, decltype(&archive_entry_free)>;

}  // namespace

struct ArchiveWriter::Impl {
  std::filesystem::path path;
  UniqueFd fd;
  WriterPtr a{nullptr, &archive_write_free};
  std::set<std::string, std::less<>> names;
  bool finished = false;
  bool broken = false;  // a failed member leaves the archive unusable

  [[noreturn]] void fail(std::string_view member, const std::string& what) {
    broken = true;
    const char* s = a ? archive_error_string(a.get()) : nullptr;
    throw IoError("'" + path.string() + (member.empty() ? "" : "!" + std::string(member)) +
                  "': " + what + (s != nullptr ? std::string(" (") + s + ")" : std::string()));
  }

  void begin(std::string_view name, std::uint64_t size) {
    if (finished || broken) {
      throw IoError("'" + path.string() + "': cannot add '" + std::string(name) +
                    "' to an archive that is " +
                    (finished ? "finished" : "broken by an earlier error"));
    }
    if (auto why = detail::zip_name_problem(name, ArchiveLimits{}.max_name_length); !why.empty()) {
      throw FormatError("'" + path.string() + "': refusing to write member '" + std::string(name) +
                        "': " + why + " (kserde would refuse to read it back)");
    }
    if (name.ends_with('/')) {
      throw FormatError("'" + path.string() + "': refusing to write directory entry '" +
                        std::string(name) + "'; .keras archives hold files only");
    }
    if (!names.emplace(name).second) {
      throw FormatError("'" + path.string() + "': member '" + std::string(name) + "' added twice");
    }
    EntryPtr e(archive_entry_new(), &archive_entry_free);
    if (!e) throw std::bad_alloc();
    archive_entry_set_pathname_utf8(e.get(), std::string(name).c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0600);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), std::time(nullptr), 0);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
      fail(name, "cannot write the member header");
  }

  void write(std::string_view name, std::span<const std::byte> data) {
    while (!data.empty()) {
      const la_ssize_t n = archive_write_data(a.get(), data.data(), data.size());
      if (n <= 0) fail(name, "write failed (disk full?)");
      data = data.subspan(static_cast<std::size_t>(n));
    }
  }

  void end(std::string_view name) {
    if (archive_write_finish_entry(a.get()) != ARCHIVE_OK) fail(name, "cannot finish the member");
  }

  // Forwards a producer's bytes to the current member, refusing to write past its declared size.
  class MemberSink final : public ByteSink {
   public:
    MemberSink(Impl& w, std::string_view name, std::uint64_t size)
        : w_(w), name_(name), size_(size) {}
    void write(std::span<const std::byte> data) override {
      if (data.size() > size_ - written_) {
        w_.fail(name_,
                "the producer wrote more than the declared " + std::to_string(size_) + " bytes");
      }
      w_.write(name_, data);
      written_ += data.size();
    }
    std::uint64_t position() const override { return written_; }

   private:
    Impl& w_;
    std::string_view name_;
    std::uint64_t size_;
    std::uint64_t written_ = 0;
  };
};

ArchiveWriter::ArchiveWriter(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->fd = UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (!impl_->fd.valid()) throw_io(path, "cannot create the archive", errno);
  impl_->a.reset(archive_write_new());
  struct archive* a = impl_->a.get();
  if (a == nullptr) throw std::bad_alloc();
  if (archive_write_set_format_zip(a) != ARCHIVE_OK ||
      archive_write_set_options(a, "zip:compression=store,zip:hdrcharset=UTF-8") != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a, 1 << 16) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 1) !=
          ARCHIVE_OK ||  // no padding after the end record
      archive_write_open_fd(a, impl_->fd.get()) != ARCHIVE_OK) {
    impl_->fail({}, "cannot set up the zip writer");
  }
}

ArchiveWriter::~ArchiveWriter() {
  // Abandon: mark the archive failed so that freeing it writes no central directory.
  if (impl_ && impl_->a && !impl_->finished) archive_write_fail(impl_->a.get());
}

void ArchiveWriter::add(std::string_view name, std::span<const std::byte> data) {
  impl_->begin(name, data.size());
  impl_->write(name, data);
  impl_->end(name);
}

void ArchiveWriter::add(std::string_view name, std::string_view text) {
  add(name, std::as_bytes(std::span<const char>(text.data(), text.size())));
}

void ArchiveWriter::add_streamed(std::string_view name, std::uint64_t size,
                                 const std::function<void(ByteSink&)>& produce) {
  impl_->begin(name, size);
  Impl::MemberSink sink(*impl_, name, size);
  try {
    produce(sink);
  } catch (...) {
    impl_->broken = true;
    throw;
  }
  if (sink.position() != size) {
    impl_->fail(name, "the producer wrote " + std::to_string(sink.position()) +
                          " bytes instead of the declared " + std::to_string(size));
  }
  impl_->end(name);
}

void ArchiveWriter::finish() {
  if (impl_->finished) return;
  if (impl_->broken) impl_->fail({}, "cannot finish an archive broken by an earlier error");
  if (archive_write_close(impl_->a.get()) != ARCHIVE_OK)
    impl_->fail({}, "cannot write the central directory");
  impl_->finished = true;
  if (::fsync(impl_->fd.get()) != 0) throw_io(impl_->path, "fsync failed", errno);
  if (impl_->fd.release_and_close() != 0) throw_io(impl_->path, "close failed", errno);
}

}  // namespace kserde::io
