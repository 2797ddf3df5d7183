// Local heaps (group member names), global heap collections (variable-length data) and fractal
// heaps (dense link and attribute storage).
//
// Local heap: "HEAP" | version=0 | reserved (3) | data size (L) | free-list head (L) | data address (O)
// Global heap collection: "GCOL" | version=1 | reserved (3) | collection size (L) | objects:
//   index (2; 0 = free space, ends the list) | reference count (2) | reserved (4) | size (L) |
//   data (size, padded to 8)
// Fractal heap header: "FRHP" | version=0 | heap ID length (2) | I/O filter length (2) | flags (1) |
//   max managed object size (4) | next huge ID (L) | huge B-tree (O) | free space (L) |
//   free-space manager (O) | managed space (L) | allocated space (L) | iterator offset (L) |
//   managed objects (L) | huge size (L) | huge count (L) | tiny size (L) | tiny count (L) |
//   table width (2) | starting block size (L) | max direct block size (L) | max heap size (2, bits) |
//   starting root rows (2) | root block address (O) | current root rows (2) |
//   [filtered root info if filters] | checksum (4)
// Direct block: "FHDB" | version=0 | heap header (O) | block offset (heap offset size) |
//   [checksum (4) if flags&2] | objects. Heap offsets count from the block start.
// Indirect block: "FHIB" | version=0 | heap header (O) | block offset | direct entries (O each,
//   min(rows, max direct rows) x width) | indirect entries (O each) | checksum (4)
// Heap ID: byte 0 = version<<6 | type<<4 (0 managed, 1 huge, 2 tiny) | managed: offset | length.
#include <algorithm>
#include <bit>
#include <cstring>

#include "hdf5/internal.hpp"

namespace kserde::hdf5::detail {

LocalHeap read_local_heap(const FileState& fs, std::uint64_t addr, std::string_view path) {
  fs.visit(path);
  Cursor c(fs, fs.at(addr, 32, path, "local heap"), path, "local heap " + hex(addr));
  c.expect_signature("HEAP");
  if (c.u8() != 0) c.fail("unknown version");
  c.skip(3);
  const std::uint64_t size = c.len();
  c.skip(8);
  const std::uint64_t data = c.addr();
  return LocalHeap{fs.at(data, size, path, "local heap data segment")};
}

std::string LocalHeap::name_at(const FileState& fs, std::uint64_t offset, std::string_view path) const {
  if (offset >= data.size()) fs.fail(path, "link name offset " + std::to_string(offset) + " outside local heap of " + std::to_string(data.size()) + " bytes");
  const auto* p = reinterpret_cast<const char*>(data.data()) + offset;
  const std::size_t n = strnlen(p, data.size() - static_cast<std::size_t>(offset));
  if (n == data.size() - offset) fs.fail(path, "unterminated link name in local heap");
  return std::string(p, n);
}

Bytes GlobalHeapReader::object(std::uint64_t collection, std::uint32_t index) {
  auto it = std::find_if(cache_.begin(), cache_.end(), [&](const Collection& col) { return col.addr == collection; });
  if (it == cache_.end()) {
    fs_.visit(path_);
    Bytes head = fs_.at(collection, 16, path_, "global heap collection");
    Cursor h(fs_, head, path_, "global heap collection " + hex(collection));
    h.expect_signature("GCOL");
    if (h.u8() != 1) h.fail("unknown version");
    h.skip(3);
    const std::uint64_t size = h.len();
    if (size < 16) h.fail("collection size " + std::to_string(size));
    Collection col{collection, {}};
    Cursor c(fs_, fs_.at(collection, size, path_, "global heap collection"), path_,
             "global heap collection " + hex(collection));
    c.skip(16);
    while (c.remaining() >= 16) {
      const std::uint16_t idx = c.u16();
      c.skip(6);
      const std::uint64_t osize = c.len();
      if (idx == 0) break;  // free space: the rest of the collection
      Bytes data = c.bytes(osize);
      col.objects.emplace_back(idx, data);
      const std::uint64_t pad = (8 - osize % 8) % 8;
      if (pad > c.remaining()) break;
      c.skip(pad);
    }
    cache_.push_back(std::move(col));
    it = cache_.end() - 1;
  }
  for (const auto& [idx, data] : it->objects)
    if (idx == index) return data;
  fs_.fail(path_, "global heap object " + std::to_string(index) + " not in collection " + hex(collection));
}

FractalHeap::FractalHeap(const FileState& fs, std::uint64_t addr, std::string path)
    : fs_(fs), path_(std::move(path)), addr_(addr) {
  fs.visit(path_);
  Bytes hb = fs.tail(addr, 146, path_, "fractal heap header");
  Cursor c(fs, hb, path_, "fractal heap header " + hex(addr));
  c.expect_signature("FRHP");
  if (c.u8() != 0) c.fail("unknown version");
  id_len_ = c.u16();
  const std::uint16_t filter_len = c.u16();
  const std::uint8_t flags = c.u8();
  checksummed_direct_ = (flags & 2) != 0;
  const std::uint32_t max_managed = c.u32();
  c.skip(8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8);
  width_ = c.u16();
  start_block_ = c.len();
  max_direct_ = c.len();
  max_heap_bits_ = c.u16();
  c.skip(2);
  root_ = c.addr();
  root_rows_ = c.u16();
  if (filter_len != 0) fs.unsupported(path_, "filtered fractal heap");
  verify_checksum(fs, hb.first(c.pos()), c.peek4(), path_, "fractal heap header " + hex(addr));
  if (width_ == 0 || !std::has_single_bit(width_) || width_ > 4096) c.fail("table width " + std::to_string(width_));
  if (!std::has_single_bit(start_block_) || !std::has_single_bit(max_direct_) || start_block_ > max_direct_ ||
      max_direct_ > (std::uint64_t{1} << 40))
    c.fail("block sizes " + std::to_string(start_block_) + "/" + std::to_string(max_direct_));
  if (max_heap_bits_ == 0 || max_heap_bits_ > 64) c.fail("max heap size " + std::to_string(max_heap_bits_) + " bits");
  const unsigned start_bits = static_cast<unsigned>(std::countr_zero(start_block_));
  const unsigned direct_bits = static_cast<unsigned>(std::countr_zero(max_direct_));
  max_direct_rows_ = direct_bits - start_bits + 2;
  if (root_rows_ > 64) c.fail("root indirect block rows " + std::to_string(root_rows_));
  off_size_ = (max_heap_bits_ + 7) / 8;
  const unsigned dir_len = (direct_bits + 7) / 8;
  const unsigned man_len = max_managed == 0 ? 1u : static_cast<unsigned>((std::bit_width(max_managed) - 1) / 8 + 1);
  len_size_ = std::min(dir_len, man_len);
}

std::uint64_t FractalHeap::row_block_size(unsigned row) const {
  if (row <= 1) return start_block_;
  const unsigned shift = row - 1;
  if (shift >= 63 || start_block_ > (~std::uint64_t{0} >> shift)) fs_.fail(path_, "fractal heap row " + std::to_string(row) + " too large");
  return start_block_ << shift;
}

Bytes FractalHeap::object(Bytes id) const {
  if (id.empty()) fs_.fail(path_, "empty fractal heap ID");
  const auto b0 = static_cast<std::uint8_t>(id[0]);
  if ((b0 >> 6) != 0) fs_.fail(path_, "fractal heap ID version " + std::to_string(b0 >> 6));
  const unsigned type = (b0 >> 4) & 3;
  if (type == 2) {  // tiny: the data is in the ID
    std::size_t n = (b0 & 0x0f) + 1u, start = 1;
    if (id_len_ > 18) {
      if (id.size() < 2) fs_.fail(path_, "short tiny heap ID");
      n = ((static_cast<std::size_t>(b0 & 0x0f) << 8) | static_cast<std::uint8_t>(id[1])) + 1;
      start = 2;
    }
    if (start + n > id.size()) fs_.fail(path_, "tiny heap object exceeds its ID");
    return id.subspan(start, n);
  }
  if (type == 1) fs_.unsupported(path_, "huge fractal heap object");
  if (type != 0) fs_.fail(path_, "fractal heap ID of type 3");
  Cursor c(fs_, id, path_, "fractal heap ID");
  c.skip(1);
  const std::uint64_t offset = c.uint(off_size_);
  const std::uint64_t length = c.uint(len_size_);
  if (root_ == kUndefined) fs_.fail(path_, "fractal heap has no root block");
  if (root_rows_ == 0) return locate(root_, 0, 0, offset, length, 0);
  return locate(root_, root_rows_, 0, offset, length, 0);
}

Bytes FractalHeap::direct(std::uint64_t block_addr, std::uint64_t size, std::uint64_t block_offset,
                          std::uint64_t offset, std::uint64_t length) const {
  Bytes blk = fs_.at(block_addr, size, path_, "fractal heap direct block");
  Cursor c(fs_, blk, path_, "fractal heap direct block " + hex(block_addr));
  c.expect_signature("FHDB");
  if (c.u8() != 0) c.fail("unknown version");
  if (c.addr() != addr_) c.fail("belongs to another heap");
  if (c.uint(off_size_) != block_offset) c.fail("block offset mismatch");
  if (checksummed_direct_ && verified_.insert(block_addr).second) {
    // The checksum covers the whole block with the checksum field zeroed.
    std::vector<std::byte> copy(blk.begin(), blk.end());
    std::memset(copy.data() + c.pos(), 0, 4);
    verify_checksum(fs_, copy, c.bytes(4), path_, "fractal heap direct block " + hex(block_addr));
  }
  const std::uint64_t hdr = 4 + 1 + 8 + off_size_ + (checksummed_direct_ ? 4 : 0);
  const std::uint64_t in = offset - block_offset;
  if (offset < block_offset || in < hdr || in > size || length > size - in)
    fs_.fail(path_, "fractal heap object " + hex(offset) + "+" + std::to_string(length) + " outside its direct block");
  return blk.subspan(static_cast<std::size_t>(in), static_cast<std::size_t>(length));
}

Bytes FractalHeap::locate(std::uint64_t block_addr, unsigned nrows, std::uint64_t block_offset,
                          std::uint64_t offset, std::uint64_t length, int depth) const {
  fs_.visit(path_);
  if (depth > 64) fs_.fail(path_, "fractal heap indirect blocks nested too deeply");
  if (nrows == 0) return direct(block_addr, start_block_, block_offset, offset, length);
  const unsigned direct_rows = std::min(nrows, max_direct_rows_);
  const std::uint64_t n_direct = std::uint64_t{direct_rows} * width_;
  const std::uint64_t n_indirect = std::uint64_t{nrows - direct_rows} * width_;
  const std::uint64_t size = 4 + 1 + 8 + off_size_ + (n_direct + n_indirect) * 8 + 4;
  Bytes blk = fs_.at(block_addr, size, path_, "fractal heap indirect block");
  Cursor c(fs_, blk, path_, "fractal heap indirect block " + hex(block_addr));
  c.expect_signature("FHIB");
  if (c.u8() != 0) c.fail("unknown version");
  if (c.addr() != addr_) c.fail("belongs to another heap");
  if (c.uint(off_size_) != block_offset) c.fail("block offset mismatch");
  const std::size_t entries = c.pos();
  verify_checksum(fs_, blk.first(blk.size() - 4), blk.last(4), path_, "fractal heap indirect block " + hex(block_addr));
  if (offset < block_offset) fs_.fail(path_, "fractal heap offset below its block");
  const std::uint64_t rel = offset - block_offset;
  std::uint64_t row_start = 0;
  for (unsigned r = 0; r < nrows; ++r) {
    const std::uint64_t bsize = row_block_size(r);
    if (bsize > (~std::uint64_t{0} - row_start) / width_) fs_.fail(path_, "fractal heap rows overflow");
    const std::uint64_t span = bsize * width_;
    if (rel < row_start + span) {
      const std::uint64_t idx = (rel - row_start) / bsize;
      const std::uint64_t child_offset = block_offset + row_start + idx * bsize;
      const std::uint64_t entry = r < direct_rows ? r * std::uint64_t{width_} + idx
                                                  : n_direct + (r - direct_rows) * std::uint64_t{width_} + idx;
      c.seek(entries + static_cast<std::size_t>(entry * 8));
      const std::uint64_t child = c.addr();
      if (child == kUndefined) fs_.fail(path_, "fractal heap offset " + hex(offset) + " lies in an unallocated block");
      if (r < direct_rows) {
        return direct(child, bsize, child_offset, offset, length);
      }
      const int child_rows = std::countr_zero(bsize) - std::countr_zero(start_block_ * width_) + 1;
      if (child_rows < 1 || child_rows > 64) fs_.fail(path_, "fractal heap indirect block of " + std::to_string(child_rows) + " rows");
      return locate(child, static_cast<unsigned>(child_rows), child_offset, offset, length, depth + 1);
    }
    row_start += span;
  }
  fs_.fail(path_, "fractal heap offset " + hex(offset) + " beyond its indirect block");
}

}  // namespace kserde::hdf5::detail
