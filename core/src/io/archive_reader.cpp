// Zip reader for .keras archives.
//
// Byte layout read here (PKWARE APPNOTE 4.3; integers little-endian, offsets in bytes):
//   end of central directory (EOCD), last in the file, then a comment of up to 65535 bytes:
//     0 "PK\5\6" | 4 disk u16 | 6 cd disk u16 | 8 entries on disk u16 | 10 entries u16
//     12 cd size u32 | 16 cd offset u32 | 20 comment length u16
//   ZIP64 EOCD locator, the 20 bytes right before the EOCD:
//     0 "PK\6\7" | 4 disk u32 | 8 ZIP64 EOCD offset u64 | 16 disk count u32
//   ZIP64 EOCD: 0 "PK\6\6" | 4 record size u64 | 12 made by u16 | 14 needed u16 | 16 disk u32
//     20 cd disk u32 | 24 entries on disk u64 | 32 entries u64 | 40 cd size u64 | 48 cd offset u64
//   central directory header, 46 bytes + name + extra + comment:
//     0 "PK\1\2" | 4 made by | 6 needed | 8 flags | 10 method | 12 time | 14 date | 16 crc32 u32
//     20 compressed size u32 | 24 size u32 | 28 name len | 30 extra len | 32 comment len
//     34 disk | 36 internal attrs | 38 external attrs u32 | 42 local header offset u32 | 46 name
//   extra fields: (id u16, len u16, data)*; id 1 (ZIP64) holds u64 size, u64 compressed size,
//     u64 local header offset, u32 disk -- in that order, each only when its field above is all
//     ones
//   local file header, 30 bytes + name + extra, then the member's data:
//     0 "PK\3\4" | 4 needed | 6 flags | 8 method | 10 time | 12 date | 14 crc32 u32
//     18 compressed size u32 | 22 size u32 | 26 name len | 28 extra len | 30 name
// Flag bit 0 = encrypted; bit 3 = crc/sizes follow the data, so the local header may hold zeros.
//
// Our own parser provides what libarchive does not expose (compressed sizes, data offsets of
// STORED members for zero-copy access); libarchive enumerates the archive too (every member must
// agree) and inflates compressed members, checking their CRC.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>

#include "io/crc32.hpp"
#include "io/posix_util.hpp"
#include "io/zip_names.hpp"
#include "kserde/error.hpp"
#include "kserde/io/archive.hpp"
#include "kserde/io/mapped_file.hpp"

namespace kserde::io {

namespace {


constexpr std::uint32_t kAllOnes32 = 0xFFFFFFFFu;
constexpr std::uint16_t kAllOnes16 = 0xFFFFu;

using ArchivePtr = std::unique_ptr<struct archive, decltype(&archive_read_free)>;

// Member names in messages: control characters shown as \xNN so that a hostile name cannot forge
// log lines.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

// Bounds-checked little-endian reads from the mapped archive.
class Bytes {
 public:
  Bytes(std::span<const std::byte> b, const std::string& name) : b_(b), name_(name) {}
  std::uint64_t size() const { return b_.size(); }
  bool has(std::uint64_t off, std::uint64_t n) const { return off <= size() && n <= size() - off; }
  void need(std::uint64_t off, std::uint64_t n, const char* what) const {
    if (!has(off, n)) {
      throw FormatError("'" + name_ + "': the " + what + " at offset " + std::to_string(off) +
                        " runs past the end of the file; the zip archive is truncated or damaged");
    }
  }
  std::uint64_t le(std::uint64_t off, int n) const {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(b_[off + i]);
    return v;
  }
  std::uint16_t u16(std::uint64_t off) const { return static_cast<std::uint16_t>(le(off, 2)); }
  std::uint32_t u32(std::uint64_t off) const { return static_cast<std::uint32_t>(le(off, 4)); }
  std::uint64_t u64(std::uint64_t off) const { return le(off, 8); }
  std::string_view str(std::uint64_t off, std::uint64_t n) const {
    return {reinterpret_cast<const char*>(b_.data()) + off, static_cast<std::size_t>(n)};
  }

 private:
  std::span<const std::byte> b_;
  const std::string& name_;
};

struct Entry {
  std::uint64_t local_offset = 0;
  std::uint64_t data_offset = 0;
  std::uint32_t crc = 0;
  std::uint16_t method = 0;
  std::uint16_t flags = 0;
};

// General purpose flag bits (APPNOTE 4.4.4).
constexpr std::uint16_t kFlagEncrypted = 1u << 0;
constexpr std::uint16_t kFlagDataDescriptor = 1u << 3;
constexpr std::uint16_t kFlagStrongEncryption = 1u << 6;
constexpr std::uint16_t kFlagUtf8 = 1u << 11;
constexpr std::uint16_t kFlagMaskedHeaders = 1u << 13;  // central directory encryption

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
bool is_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto t = static_cast<unsigned char>(s[i + k]);
      if ((t & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (t & 0x3Fu);
    }
    static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// What a Unix mode in the external attributes makes of an entry other than a regular file or a
// directory; nullptr for those two (and for archives made elsewhere, which carry no file type).
const char* special_file_kind(std::uint16_t made_by, std::uint32_t external_attrs) {
  constexpr unsigned kUnix = 3;
  if ((made_by >> 8) != kUnix) return nullptr;
  switch ((external_attrs >> 16) & 0170000u) {
    case 0:
    case 0100000:  // regular file
    case 0040000:  // directory
      return nullptr;
    case 0020000:
      return "a character device";
    case 0060000:
      return "a block device";
    case 0010000:
      return "a FIFO";
    case 0120000:
      return "a symbolic link";
    case 0140000:
      return "a socket";
    default:
      return "of an unknown file type";
  }
}

// The entry name libarchive reports: UTF-8 when it can convert, else the raw bytes.
bool libarchive_name_is(struct archive_entry* e, std::string_view name) {
  const char* utf8 = archive_entry_pathname_utf8(e);
  const char* raw = archive_entry_pathname(e);
  return (utf8 != nullptr && name == utf8) || (raw != nullptr && name == raw);
}

}  // namespace

struct ArchiveReader::Impl {
  std::filesystem::path path;
  std::string pname;  // path.string(), for messages
  ArchiveLimits limits;
  bool verify_checksums = true;
  ByteSource map;
  detail::UniqueFd fd;  // the mapped file, read through for CRC checks
  std::vector<ArchiveMember> members;
  std::vector<Entry> entries;
  std::map<std::string, std::size_t, std::less<>> index;
  // Member indices by local header offset: the order in which libarchive's seekable reader walks
  // the archive (it keys its entry tree by that offset).
  std::vector<std::size_t> by_offset;

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError("'" + pname + "': " + what);
  }
  [[noreturn]] void fail_member(std::string_view name, const std::string& what) const {
    throw FormatError("'" + pname + "!" + printable(name) + "': " + what);
  }

  ArchivePtr open_libarchive() const {
    ArchivePtr a(archive_read_new(), &archive_read_free);
    if (!a) throw std::bad_alloc();
    archive_read_support_format_zip_seekable(a.get());
    // The mapping is the file: libarchive reads (and seeks) in memory instead of a second fd.
    if (archive_read_open_memory(a.get(), map.bytes.data(), map.bytes.size()) != ARCHIVE_OK) {
      fail(std::string("libarchive cannot open it: ") + error_of(a.get()));
    }
    return a;
  }
  static const char* error_of(struct archive* a) {
    const char* s = archive_error_string(a);
    return s != nullptr ? s : "unknown error";
  }

  void parse();
  void check_local_headers(std::uint64_t cd_offset);
  void check_data_descriptor(std::size_t i, std::uint64_t next_offset) const;
  void cross_check_with_libarchive() const;
  ByteSource inflate(std::size_t i) const;
  void verify_crc(std::size_t i, std::span<const std::byte> data) const;
  void verify_stored_crc(std::size_t i) const;
  void check_crc(std::size_t i, std::uint32_t got) const;
};

void ArchiveReader::Impl::parse() {
  const Bytes b(map.bytes, pname);
  const char* not_zip =
      "not a zip archive (no end-of-central-directory record); a .keras file must "
      "be the zip written by model.save()";
  if (b.size() < 22) fail(not_zip);
  // Find the EOCD: the last signature whose comment fits in the file.
  std::uint64_t eocd = 0;
  bool found = false;
  const std::uint64_t lowest = b.size() - 22 > 65535 ? b.size() - 22 - 65535 : 0;
  for (std::uint64_t pos = b.size() - 22;; --pos) {
    if (b.u32(pos) == 0x06054b50 && pos + 22 + b.u16(pos + 20) <= b.size()) {
      eocd = pos;
      found = true;
      break;
    }
    if (pos == lowest) break;
  }
  if (!found) fail(not_zip);

  std::uint64_t disk = b.u16(eocd + 4), cd_disk = b.u16(eocd + 6);
  std::uint64_t entries_here = b.u16(eocd + 8), count = b.u16(eocd + 10);
  std::uint64_t cd_size = b.u32(eocd + 12), cd_offset = b.u32(eocd + 16);
  std::uint64_t cd_end_expected = eocd;  // where the central directory must end
  if (eocd >= 20 && b.u32(eocd - 20) == 0x07064b50) {
    const std::uint64_t z = b.u64(eocd - 12);
    if (z > eocd - 20 || eocd - 20 - z < 56) fail("the ZIP64 end record offset is out of range");
    if (b.u32(z) != 0x06064b50)
      fail("no ZIP64 end-of-central-directory record where the locator points");
    disk = b.u32(z + 16);
    cd_disk = b.u32(z + 20);
    entries_here = b.u64(z + 24);
    count = b.u64(z + 32);
    cd_size = b.u64(z + 40);
    cd_offset = b.u64(z + 48);
    cd_end_expected = z;
  }
  if (disk != 0 || cd_disk != 0 || entries_here != count) {
    throw UnsupportedError("'" + pname +
                           "': multi-volume (split) zip archives are not supported; "
                           "join the parts into one file");
  }
  if (count > limits.max_members) {
    throw LimitError("'" + pname + "': " + std::to_string(count) + " members exceed the limit of " +
                     std::to_string(limits.max_members) + " (ArchiveLimits::max_members)");
  }
  if (cd_offset > cd_end_expected || cd_size != cd_end_expected - cd_offset) {
    fail(
        "the central directory is not where the end record says (damaged, or data was "
        "prepended to the archive)");
  }
  if (count > cd_size / 46)
    fail("the end record claims more members than the central directory holds");

  members.reserve(count);
  entries.reserve(count);
  std::uint64_t total = 0;
  std::uint64_t pos = cd_offset;
  for (std::uint64_t i = 0; i < count; ++i) {
    b.need(pos, 46, "central directory header");
    if (b.u32(pos) != 0x02014b50)
      fail("central directory header " + std::to_string(i) + " has a bad signature");
    Entry e;
    const std::uint16_t made_by = b.u16(pos + 4);
    const std::uint32_t external_attrs = b.u32(pos + 38);
    e.flags = b.u16(pos + 8);
    e.method = b.u16(pos + 10);
    e.crc = b.u32(pos + 16);
    std::uint64_t csize = b.u32(pos + 20), usize = b.u32(pos + 24);
    const std::uint64_t name_len = b.u16(pos + 28), extra_len = b.u16(pos + 30),
                        comment_len = b.u16(pos + 32);
    std::uint64_t disk_start = b.u16(pos + 34);
    e.local_offset = b.u32(pos + 42);
    const std::uint64_t rec = 46 + name_len + extra_len + comment_len;
    if (rec > cd_offset + cd_size - pos)
      fail("central directory header " + std::to_string(i) + " runs past the directory");
    std::string name(b.str(pos + 46, name_len));
    if (auto why = detail::zip_name_problem(name, limits.max_name_length); !why.empty()) {
      fail("member '" + printable(name) + "' refused: " + why +
           "; the archive is damaged or hostile");
    }
    // ZIP64 extra: only the fields that are all ones above, in a fixed order.
    for (std::uint64_t x = pos + 46 + name_len, end = x + extra_len; x + 4 <= end;) {
      const std::uint16_t id = b.u16(x), len = b.u16(x + 2);
      if (x + 4 + len > end) fail_member(name, "an extra field runs past its header");
      if (id == 1) {
        std::uint64_t f = x + 4;
        auto take = [&](std::uint64_t& v, int n) {
          if (f + n > x + 4 + len) fail_member(name, "the ZIP64 extra field is too short");
          v = b.le(f, n);
          f += n;
        };
        if (usize == kAllOnes32) take(usize, 8);
        if (csize == kAllOnes32) take(csize, 8);
        if (e.local_offset == kAllOnes32) take(e.local_offset, 8);
        if (disk_start == kAllOnes16) take(disk_start, 4);
      }
      x += 4 + len;
    }
    if (disk_start != 0) fail_member(name, "the member lies on another volume of a split archive");
    if ((e.flags & (kFlagEncrypted | kFlagStrongEncryption | kFlagMaskedHeaders)) != 0 ||
        e.method == 99) {
      throw UnsupportedError("'" + pname + "!" + printable(name) +
                             "': encrypted zip members are not supported (the central directory "
                             "flags it encrypted); save without encryption");
    }
    if ((e.flags & kFlagUtf8) != 0 && !is_utf8(name)) {
      fail_member(name,
                  "the member name is flagged UTF-8 but is not valid UTF-8; the archive is "
                  "damaged or hostile");
    }
    if (const char* kind = special_file_kind(made_by, external_attrs)) {
      fail_member(name, std::string("the entry is ") + kind +
                            ", not a regular file; a model archive holds regular files only");
    }
    const bool stored = e.method == 0;
    if (stored && csize != usize)
      fail_member(name, "a STORED member whose compressed and uncompressed sizes differ");
    if (usize > limits.max_member_bytes) {
      throw LimitError("'" + pname + "!" + printable(name) + "': " + std::to_string(usize) +
                       " bytes exceed the limit of " + std::to_string(limits.max_member_bytes) +
                       " (ArchiveLimits::max_member_bytes)");
    }
    if (usize > limits.max_total_bytes - std::min(total, limits.max_total_bytes)) {
      throw LimitError("'" + pname + "': the members' total size exceeds the limit of " +
                       std::to_string(limits.max_total_bytes) +
                       " bytes (ArchiveLimits::max_total_bytes)");
    }
    total += usize;
    if (!stored && usize > 0) {
      // usize / csize > ratio, without overflow (csize == 0 is an infinite ratio).
      const std::uint64_t r = limits.max_compression_ratio;
      if (csize == 0 || usize / csize > r || (usize / csize == r && usize % csize != 0)) {
        throw LimitError("'" + pname + "!" + printable(name) + "': expands " +
                         std::to_string(csize) + " compressed bytes to " + std::to_string(usize) +
                         ", over the ratio limit of " + std::to_string(r) +
                         " (ArchiveLimits::max_compression_ratio); refusing a potential "
                         "decompression bomb");
      }
    }
    if (!index.emplace(name, members.size()).second) {
      fail("member '" + printable(name) + "' appears twice; the archive is damaged or hostile");
    }
    members.push_back({std::move(name), csize, usize, stored});
    entries.push_back(e);
    pos += rec;
  }
  if (pos != cd_offset + cd_size) fail("the central directory has bytes after its last header");
  check_local_headers(cd_offset);
}

void ArchiveReader::Impl::check_local_headers(std::uint64_t cd_offset) {
  const Bytes b(map.bytes, pname);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    Entry& e = entries[i];
    const ArchiveMember& m = members[i];
    if (e.local_offset > cd_offset || cd_offset - e.local_offset < 30) {
      fail_member(m.name, "the local header offset points outside the member data area");
    }
    const std::uint64_t lo = e.local_offset;
    if (b.u32(lo) != 0x04034b50)
      fail_member(m.name, "no local file header where the central directory points");
    const std::uint64_t n = b.u16(lo + 26), x = b.u16(lo + 28);
    e.data_offset = lo + 30 + n + x;
    if (e.data_offset > cd_offset || m.compressed_size > cd_offset - e.data_offset) {
      fail_member(m.name,
                  "the member's data runs into the central directory or past the end of the file");
    }
    if (b.str(lo + 30, n) != m.name) fail_member(m.name, "the local header names another member");
    if (b.u16(lo + 8) != e.method)
      fail_member(m.name, "the local header gives another compression method");
    std::uint64_t lcrc = b.u32(lo + 14), lcsize = b.u32(lo + 18), lusize = b.u32(lo + 22);
    if (lcsize == kAllOnes32 || lusize == kAllOnes32) {  // ZIP64: both sizes in the extra field
      for (std::uint64_t p = lo + 30 + n, end = p + x; p + 4 <= end; p += 4 + b.u16(p + 2)) {
        if (b.u16(p) == 1 && b.u16(p + 2) >= 16 && p + 20 <= end) {
          lusize = b.u64(p + 4);
          lcsize = b.u64(p + 12);
          break;
        }
      }
    }
    const std::uint16_t local_flags = b.u16(lo + 6);
    if ((local_flags & (kFlagEncrypted | kFlagStrongEncryption)) !=
        (e.flags & (kFlagEncrypted | kFlagStrongEncryption))) {
      fail_member(m.name, "the local header and the central directory disagree on encryption");
    }
    if ((local_flags & kFlagDataDescriptor) != (e.flags & kFlagDataDescriptor)) {
      fail_member(m.name,
                  "the local header and the central directory disagree on the data descriptor");
    }
    // With flag bit 3 the local values may be zero; otherwise they must agree.
    const bool deferred = (local_flags & kFlagDataDescriptor) != 0;
    auto agrees = [&](std::uint64_t local, std::uint64_t central) {
      return local == central || (deferred && local == 0);
    };
    if (!agrees(lcrc, e.crc) || !agrees(lcsize, m.compressed_size) ||
        !agrees(lusize, m.uncompressed_size)) {
      fail_member(m.name, "the local header's CRC or sizes disagree with the central directory");
    }
  }
  // Members must not overlap (overlapping entries are a decompression-bomb technique).
  std::vector<std::size_t>& order = by_offset;
  order.resize(entries.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t l, std::size_t r) {
    return entries[l].local_offset < entries[r].local_offset;
  });
  for (std::size_t k = 1; k < order.size(); ++k) {
    const std::size_t prev = order[k - 1], cur = order[k];
    if (entries[prev].data_offset + members[prev].compressed_size > entries[cur].local_offset) {
      fail_member(members[cur].name, "overlaps member '" + printable(members[prev].name) + "'");
    }
  }
  for (std::size_t k = 0; k < order.size(); ++k) {
    check_data_descriptor(order[k],
                          k + 1 < order.size() ? entries[order[k + 1]].local_offset : cd_offset);
  }
}

// The data descriptor after a member written with flag bit 3 (APPNOTE 4.3.9): an optional
// signature "PK\7\8", then crc-32 and the two sizes, 4 bytes each (8 in ZIP64 archives). Its CRC
// must be the central directory's: a reader that trusts the descriptor would check other bytes.
void ArchiveReader::Impl::check_data_descriptor(std::size_t i, std::uint64_t next_offset) const {
  const Entry& e = entries[i];
  const ArchiveMember& m = members[i];
  if ((e.flags & kFlagDataDescriptor) == 0) return;
  const Bytes b(map.bytes, pname);
  std::uint64_t p = e.data_offset + m.compressed_size;
  if (p + 4 <= next_offset && b.u32(p) == 0x08074b50) p += 4;
  if (p + 12 > next_offset) {
    fail_member(m.name, "the data descriptor the header announces is missing or cut short");
  }
  if (b.u32(p) != e.crc) {
    fail_member(m.name, "the data descriptor's CRC-32 (" + std::to_string(b.u32(p)) +
                            ") disagrees with the central directory's (" + std::to_string(e.crc) +
                            "); the archive is damaged");
  }
  // Sizes: 4-byte fields, or 8-byte ones when the member needed ZIP64.
  const bool small = b.u32(p + 4) == (m.compressed_size & kAllOnes32) &&
                     b.u32(p + 8) == (m.uncompressed_size & kAllOnes32);
  const bool large = p + 20 <= next_offset && b.u64(p + 4) == m.compressed_size &&
                     b.u64(p + 12) == m.uncompressed_size;
  if (!small && !large) {
    fail_member(m.name, "the data descriptor's sizes disagree with the central directory's");
  }
}

void ArchiveReader::Impl::verify_stored_crc(std::size_t i) const {
  if (!verify_checksums) return;
  const std::optional<std::uint32_t> got =
      crc32_of_file(fd.get(), entries[i].data_offset, members[i].uncompressed_size);
  if (!got) {
    throw IoError("'" + pname + "!" + printable(members[i].name) +
                  "': cannot read the member to check its CRC-32 (was the file truncated?)");
  }
  check_crc(i, *got);
}

void ArchiveReader::Impl::verify_crc(std::size_t i, std::span<const std::byte> data) const {
  if (!verify_checksums) return;
  check_crc(i, crc32_parallel(data));
}

void ArchiveReader::Impl::check_crc(std::size_t i, std::uint32_t got) const {
  if (got != entries[i].crc) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "CRC-32 mismatch (stored %08x, computed %08x)", entries[i].crc,
                  got);
    fail_member(members[i].name,
                std::string(buf) +
                    "; the file is corrupted or was altered after it was written (refusing it; "
                    "LoadOptions::verify_checksums = false skips this check)");
  }
}

void ArchiveReader::Impl::cross_check_with_libarchive() const {
  ArchivePtr a = open_libarchive();
  for (std::size_t k = 0;; ++k) {
    struct archive_entry* e = nullptr;
    const int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) {
      if (k != members.size()) fail("libarchive lists fewer members than the central directory");
      break;
    }
    // ARCHIVE_WARN: e.g. a UTF-8 name that libarchive cannot convert to the C locale (it then
    // reports no name at all); the entry itself is fine.
    if (r < ARCHIVE_WARN) fail(std::string("libarchive cannot read it: ") + error_of(a.get()));
    if (k >= members.size()) fail("libarchive sees more members than the central directory lists");
    const ArchiveMember& m = members[by_offset[k]];
    const bool named =
        archive_entry_pathname_utf8(e) != nullptr || archive_entry_pathname(e) != nullptr;
    if (named && !libarchive_name_is(e, m.name)) {
      fail_member(m.name, "libarchive and the central directory disagree on the member's name");
    }
    if (archive_entry_size_is_set(e) && !m.name.ends_with('/') &&
        static_cast<std::uint64_t>(archive_entry_size(e)) != m.uncompressed_size) {
      fail_member(m.name, "libarchive and the central directory disagree on its size");
    }
  }
}

ByteSource ArchiveReader::Impl::inflate(std::size_t i) const {
  const ArchiveMember& m = members[i];
  ArchivePtr a = open_libarchive();
  // Walk to the member's position in libarchive's (offset) order; open() checked that it agrees.
  const auto k = static_cast<std::size_t>(std::find(by_offset.begin(), by_offset.end(), i) -
                                          by_offset.begin());
  for (std::size_t j = 0; j <= k; ++j) {
    struct archive_entry* e = nullptr;
    const int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) fail_member(m.name, "libarchive cannot find the member");
    if (r < ARCHIVE_WARN) fail_member(m.name, std::string("libarchive: ") + error_of(a.get()));
  }
  // Grow as data really arrives instead of trusting the declared size with one allocation.
  auto buf = std::make_shared<std::vector<std::byte>>();
  const std::uint64_t want = m.uncompressed_size;
  std::uint64_t got = 0;
  for (;;) {
    if (got == buf->size()) {
      const std::uint64_t next =
          std::min<std::uint64_t>(want + 1, std::max<std::uint64_t>(2 * got, 1 << 20));
      buf->resize(static_cast<std::size_t>(next));  // +1: room to notice excess data
    }
    const la_ssize_t r =
        archive_read_data(a.get(), buf->data() + got, static_cast<std::size_t>(buf->size() - got));
    if (r < 0) {
      fail_member(m.name,
                  std::string("the compressed data is damaged (") + error_of(a.get()) + ")");
    }
    if (r == 0) break;
    got += static_cast<std::uint64_t>(r);
    if (got > want)
      fail_member(m.name, "inflates to more bytes than the central directory declares");
  }
  if (got != want) {
    fail_member(m.name, "inflates to " + std::to_string(got) + " bytes, not the declared " +
                            std::to_string(want));
  }
  buf->resize(static_cast<std::size_t>(got));
  verify_crc(i, *buf);
  ByteSource out;
  out.bytes = {buf->data(), buf->size()};
  out.owner = std::move(buf);
  out.file_name = pname + "!" + m.name;
  return out;
}

ArchiveReader ArchiveReader::open(const std::filesystem::path& path, const ArchiveLimits& limits,
                                  bool verify_checksums) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->pname = path.string();
  impl->limits = limits;
  impl->verify_checksums = verify_checksums;
  impl->map = detail::map_file_keeping_fd(path, false, impl->fd);
  impl->parse();
  impl->cross_check_with_libarchive();
  return ArchiveReader(std::move(impl));
}

ArchiveReader::ArchiveReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ArchiveReader::~ArchiveReader() = default;
ArchiveReader::ArchiveReader(ArchiveReader&&) noexcept = default;
ArchiveReader& ArchiveReader::operator=(ArchiveReader&&) noexcept = default;

const std::filesystem::path& ArchiveReader::path() const {
  return impl_->path;
}
const std::vector<ArchiveMember>& ArchiveReader::members() const {
  return impl_->members;
}
bool ArchiveReader::contains(std::string_view name) const {
  return impl_->index.contains(name);
}

ByteSource ArchiveReader::member(std::string_view name) const {
  const auto it = impl_->index.find(name);
  if (it == impl_->index.end()) {
    impl_->fail_member(name, "no such member in the archive; it is not a complete .keras file");
  }
  const std::size_t i = it->second;
  const ArchiveMember& m = impl_->members[i];
  if (!m.stored) return impl_->inflate(i);
  ByteSource out = sub_range(impl_->map, impl_->entries[i].data_offset, m.uncompressed_size,
                             impl_->pname + "!" + m.name);
  // Read through the descriptor, not the mapping: a mapped load stays lazy, and a copying load
  // does not hold the whole member's pages besides its copy.
  impl_->verify_stored_crc(i);
  return out;
}

}  // namespace kserde::io
