// Superblock, bounds-checked access and checksums.
//
// Superblock v0/v1 (sizes in bytes, O = size of offsets, L = size of lengths, both must be 8):
//   signature "\x89HDF\r\n\x1a\n" (8) | version (1) | free-space version (1) | root symbol table
//   entry version (1) | reserved (1) | shared header version (1) | O (1) | L (1) | reserved (1) |
//   group leaf K (2) | group internal K (2) | consistency flags (4) |
//   [v1: indexed storage K (2) | reserved (2)] |
//   base address (O) | free-space info address (O) | end-of-file address (O) | driver info (O) |
//   root symbol table entry: link name offset (O) | object header address (O) | cache type (4) |
//                            reserved (4) | scratch (16)
// Superblock v2/v3:
//   signature (8) | version (1) | O (1) | L (1) | flags (1) | base address (O) |
//   superblock extension address (O) | end-of-file address (O) | root object header address (O) |
//   lookup3 checksum (4)
#include <cstring>
#include <optional>
#include <sstream>

#include "hdf5/internal.hpp"

namespace kserde::hdf5 {

bool has_signature(std::span<const std::byte> head) noexcept {
  static constexpr unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  return head.size() >= 8 && std::memcmp(head.data(), sig, 8) == 0;
}

std::optional<std::uint64_t> superblock_offset(std::span<const std::byte> file) noexcept {
  // The HDF5 spec (section II.A) puts the superblock at 0, 512, 1024, 2048, ...: a user block
  // of that size precedes it.
  for (std::uint64_t off = 0; off < file.size(); off = off == 0 ? 512 : off * 2) {
    if (has_signature(file.subspan(static_cast<std::size_t>(off)))) return off;
  }
  return std::nullopt;
}

namespace detail {

std::string hex(std::uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

namespace {
constexpr std::uint32_t rot(std::uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
}  // namespace

std::uint32_t lookup3(Bytes data) noexcept {
  std::size_t length = data.size();
  const auto* k = reinterpret_cast<const unsigned char*>(data.data());
  std::uint32_t a = 0xdeadbeefu + static_cast<std::uint32_t>(length);
  std::uint32_t b = a, c = a;
  auto word = [&](std::size_t i) {
    return static_cast<std::uint32_t>(k[i]) | (static_cast<std::uint32_t>(k[i + 1]) << 8) |
           (static_cast<std::uint32_t>(k[i + 2]) << 16) | (static_cast<std::uint32_t>(k[i + 3]) << 24);
  };
  while (length > 12) {
    a += word(0);
    b += word(4);
    c += word(8);
    a -= c; a ^= rot(c, 4);  c += b;
    b -= a; b ^= rot(a, 6);  a += c;
    c -= b; c ^= rot(b, 8);  b += a;
    a -= c; a ^= rot(c, 16); c += b;
    b -= a; b ^= rot(a, 19); a += c;
    c -= b; c ^= rot(b, 4);  b += a;
    length -= 12;
    k += 12;
  }
  if (length == 0) return c;
  // Tail: up to 12 bytes, zero-extended.
  unsigned char t[12] = {};
  std::memcpy(t, k, length);
  a += static_cast<std::uint32_t>(t[0]) | (static_cast<std::uint32_t>(t[1]) << 8) |
       (static_cast<std::uint32_t>(t[2]) << 16) | (static_cast<std::uint32_t>(t[3]) << 24);
  b += static_cast<std::uint32_t>(t[4]) | (static_cast<std::uint32_t>(t[5]) << 8) |
       (static_cast<std::uint32_t>(t[6]) << 16) | (static_cast<std::uint32_t>(t[7]) << 24);
  c += static_cast<std::uint32_t>(t[8]) | (static_cast<std::uint32_t>(t[9]) << 8) |
       (static_cast<std::uint32_t>(t[10]) << 16) | (static_cast<std::uint32_t>(t[11]) << 24);
  c ^= b; c -= rot(b, 14);
  a ^= c; a -= rot(c, 11);
  b ^= a; b -= rot(a, 25);
  c ^= b; c -= rot(b, 16);
  a ^= c; a -= rot(c, 4);
  b ^= a; b -= rot(a, 14);
  c ^= b; c -= rot(b, 24);
  return c;
}

std::string FileState::where(std::string_view path, std::string_view what) const {
  std::string s = src.file_name.empty() ? std::string("<memory>") : src.file_name;
  s += ": ";
  s += path.empty() ? std::string_view("/") : path;
  s += ": ";
  s += what;
  return s;
}
void FileState::fail(std::string_view path, std::string_view what) const {
  throw FormatError(where(path, what));
}
void FileState::unsupported(std::string_view path, std::string_view what) const {
  throw UnsupportedError(where(path, std::string("unsupported HDF5 feature: ") + std::string(what)));
}
void FileState::limit(std::string_view path, std::string_view what) const {
  throw LimitError(where(path, what));
}

Bytes FileState::at(std::uint64_t addr, std::uint64_t n, std::string_view path,
                    std::string_view field) const {
  const std::uint64_t total = size();
  if (addr == kUndefined) fail(path, std::string(field) + " address is undefined");
  if (addr > total || base > total - addr || n > total - base - addr) {
    fail(path, std::string(field) + " address " + hex(addr) + "+" + std::to_string(n) +
                   " lies past end of file (size " + hex(total) + ")");
  }
  return src.bytes.subspan(static_cast<std::size_t>(base + addr), static_cast<std::size_t>(n));
}

Bytes FileState::tail(std::uint64_t addr, std::uint64_t min, std::string_view path,
                      std::string_view field) const {
  (void)at(addr, min, path, field);
  return src.bytes.subspan(static_cast<std::size_t>(base + addr));
}

void FileState::visit(std::string_view path) const {
  if (visits.fetch_add(1, std::memory_order_relaxed) + 1 > limits.max_objects_visited) {
    limit(path, "more than " + std::to_string(limits.max_objects_visited) +
                    " HDF5 objects visited (max_objects_visited; cyclic or hostile file?)");
  }
}

void Cursor::seek(std::size_t p) {
  if (p > data_.size()) fail("offset " + std::to_string(p) + " outside the structure");
  pos_ = p;
}

Bytes Cursor::bytes(std::uint64_t n) {
  if (n > remaining()) {
    fail("needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) + " but only " +
         std::to_string(remaining()) + " remain");
  }
  Bytes b = data_.subspan(pos_, static_cast<std::size_t>(n));
  pos_ += static_cast<std::size_t>(n);
  return b;
}

std::uint64_t Cursor::uint(unsigned n) {
  Bytes b = bytes(n);
  std::uint64_t v = 0;
  for (unsigned i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(b[i]) << (8 * i);
  return v;
}

void Cursor::expect_signature(std::string_view sig) {
  Bytes b = bytes(sig.size());
  if (std::memcmp(b.data(), sig.data(), sig.size()) != 0) fail("bad signature (expected " + std::string(sig) + ")");
}

void Cursor::fail(std::string_view what) const {
  fs_.fail(path_, std::string(what_) + ": " + std::string(what));
}

void verify_checksum(const FileState& fs, Bytes covered, Bytes stored, std::string_view path,
                     std::string_view what) {
  std::uint32_t want = 0;
  for (int i = 0; i < 4; ++i) want |= static_cast<std::uint32_t>(stored[static_cast<std::size_t>(i)]) << (8 * i);
  const std::uint32_t got = lookup3(covered);
  if (got != want) fs.fail(path, std::string(what) + ": checksum mismatch (stored " + hex(want) + ", computed " + hex(got) + ")");
}

void parse_superblock(FileState& fs) {
  const std::optional<std::uint64_t> sb_at = superblock_offset(fs.src.bytes);
  if (!sb_at) {
    fs.fail("", "not an HDF5 file (no signature at offset 0 or at 512, 1024, 2048, ...)");
  }
  const Bytes sb = fs.src.bytes.subspan(static_cast<std::size_t>(*sb_at));
  Cursor c(fs, sb, "", "superblock");
  std::uint64_t base = 0;
  c.skip(8);
  const int version = c.u8();
  fs.superblock_version = version;
  std::uint64_t eof = 0;
  if (version == 0 || version == 1) {
    c.skip(3);  // free-space, root entry, reserved
    c.skip(1);  // shared header message format
    const unsigned so = c.u8(), sl = c.u8();
    if (so != 8 || sl != 8)
      fs.unsupported("", "superblock with " + std::to_string(so) + "-byte offsets and " +
                             std::to_string(sl) + "-byte lengths (only 8 is read)");
    c.skip(1);
    c.skip(4);  // group K values
    c.skip(4);  // consistency flags
    if (version == 1) c.skip(4);
    base = c.addr();
    c.skip(8);  // free space
    eof = c.addr();
    c.skip(8);  // driver info
    c.skip(8);  // root entry link name offset
    fs.root_address = c.addr();
    c.skip(24);  // cache type, reserved, scratch
  } else if (version == 2 || version == 3) {
    const unsigned so = c.u8(), sl = c.u8();
    if (so != 8 || sl != 8)
      fs.unsupported("", "superblock with " + std::to_string(so) + "-byte offsets and " +
                             std::to_string(sl) + "-byte lengths (only 8 is read)");
    c.skip(1);
    base = c.addr();
    c.skip(8);  // superblock extension (B-tree K values, shared message tables we refuse lazily)
    eof = c.addr();
    fs.root_address = c.addr();
    const std::size_t covered = c.pos();
    verify_checksum(fs, sb.first(covered), c.bytes(4), "", "superblock");
  } else {
    fs.unsupported("", "superblock version " + std::to_string(version));
  }
  // Addresses count from the superblock (libhdf5 writes the user block's size as the base).
  if (base != 0 && base != *sb_at) {
    fs.fail("", "superblock base address " + hex(base) +
                    " disagrees with the superblock's position " + hex(*sb_at));
  }
  fs.base = *sb_at;
  // libhdf5 counts the end-of-file address from the start of the file, user block included.
  if (eof != kUndefined && eof > fs.size()) {
    fs.fail("", "file is truncated: superblock end-of-file address " + hex(eof) + " but only " +
                    hex(fs.size()) + " bytes present");
  }
  if (fs.root_address == kUndefined) fs.fail("", "root group object header address is undefined");
}

}  // namespace detail
}  // namespace kserde::hdf5
