// Data layout, filter pipeline and chunk indexes: decoding a dataset's stored bytes.
//
// Layout message (0x8), versions 3 and 4:
//   version | class (0 compact, 1 contiguous, 2 chunked, 3 virtual) |
//   compact: size (2) | data;  contiguous: address (O) | size (L)
//   chunked v3: rank+1 (1) | v1 B-tree address (O) | chunk dims (4 each, last = element size)
//   chunked v4: flags (1) | rank+1 (1) | dim width (1) | chunk dims (width each) | index type (1:
//     single chunk [filtered size (L) | filter mask (4) if flags&2], 2 implicit, 3 fixed array
//     [page bits (1)], 4 extensible array [5 bytes], 5 v2 B-tree [node size (4) | split | merge]) |
//     index address (O)
// Filter pipeline (0xB): v1: version | count | reserved (6) | filters: id (2) | name length (2) |
//   flags (2) | value count (2) | name (8-padded) | values (4 each) | [4 padding if count odd];
//   v2: version | count | filters: id (2) | [name length (2) if id >= 256] | flags (2) |
//   value count (2) | [name] | values (4 each)
// v1 B-tree chunk key: chunk size (4) | filter mask (4) | offsets (8 each, rank+1).
// Fixed array: header "FAHD" | version=0 | client (1: 0 plain, 1 filtered) | element size (1) |
//   page bits (1) | element count (L) | data block (O) | checksum; data block "FADB" | version |
//   client | header (O) | [page bitmap] | elements (address (O) [| size | filter mask (4)]) | checksum
//   (paged: the prefix has its own checksum and every page ends in one).
// v2 B-tree chunk records: type 10: address (O) | scaled offsets (8 each); type 11: address (O) |
//   chunk size (variable) | filter mask (4) | scaled offsets (8 each).
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "hdf5/internal.hpp"

namespace kserde::hdf5::detail {

Layout parse_layout(const FileState& fs, Bytes data, std::string_view path, std::size_t rank,
                    std::size_t element_size) {
  Cursor c(fs, data, path, "layout message");
  Layout l;
  l.version = c.u8();
  if (l.version < 3) fs.unsupported(path, "data layout message version " + std::to_string(l.version));
  if (l.version > 4) c.fail("version " + std::to_string(l.version));
  const std::uint8_t cls = c.u8();
  if (cls == 0) {
    l.kind = Layout::Kind::Compact;
    l.compact = c.bytes(c.u16());
  } else if (cls == 1) {
    l.kind = Layout::Kind::Contiguous;
    l.address = c.addr();
    l.size = c.len();
  } else if (cls == 2) {
    l.kind = Layout::Kind::Chunked;
    unsigned width = 4;
    if (l.version == 4) l.flags = c.u8();
    const std::uint8_t ndims = c.u8();
    if (l.version == 4) {
      width = c.u8();
      if (width < 1 || width > 8) c.fail("chunk dimension width " + std::to_string(width));
    } else {
      l.address = c.addr();
    }
    if (rank == 0 || ndims != rank + 1) c.fail("chunk rank " + std::to_string(ndims) + " for a dataspace of rank " + std::to_string(rank));
    for (unsigned i = 0; i < ndims; ++i) {
      const std::uint64_t d = c.uint(width);
      if (d == 0) c.fail("chunk dimension of 0");
      if (i < rank) l.chunk.push_back(d);
      else if (d != element_size) c.fail("chunk element size " + std::to_string(d) + " differs from the datatype's " + std::to_string(element_size));
    }
    if (l.version == 4) {
      l.index = c.u8();
      switch (l.index) {
        case 1:
          if (l.flags & 2) {
            l.single_size = c.len();
            l.single_mask = c.u32();
          }
          break;
        case 2: break;
        case 3: c.skip(1); break;
        case 4: fs.unsupported(path, "extensible array chunk index"); break;
        case 5: c.skip(6); break;
        default: c.fail("chunk index type " + std::to_string(l.index));
      }
      l.address = c.addr();
    }
  } else if (cls == 3) {
    fs.unsupported(path, "virtual dataset layout (a model file never makes kserde open another file)");
  } else {
    c.fail("layout class " + std::to_string(cls));
  }
  return l;
}

std::vector<Filter> parse_filters(const FileState& fs, Bytes data, std::string_view path) {
  Cursor c(fs, data, path, "filter pipeline message");
  const std::uint8_t version = c.u8();
  if (version != 1 && version != 2) c.fail("version " + std::to_string(version));
  const std::uint8_t n = c.u8();
  if (n > 32) c.fail(std::to_string(n) + " filters");
  if (version == 1) c.skip(6);
  std::vector<Filter> out;
  for (unsigned i = 0; i < n; ++i) {
    Filter f;
    f.id = c.u16();
    std::uint16_t name_len = 0;
    if (version == 1 || f.id >= 256) name_len = c.u16();
    f.flags = c.u16();
    const std::uint16_t nvalues = c.u16();
    c.skip(version == 1 ? (name_len + 7u) / 8 * 8 : name_len);
    for (unsigned v = 0; v < nvalues; ++v) f.params.push_back(c.u32());
    if (version == 1 && (nvalues & 1)) c.skip(4);
    out.push_back(std::move(f));
  }
  return out;
}

namespace {

struct ChunkRef {
  std::vector<std::uint64_t> offset;  // element offsets
  std::uint64_t address = kUndefined;
  std::uint64_t size = 0;
  std::uint32_t mask = 0;
};

void inflate_into(const FileState& fs, std::string_view path, Bytes in, std::vector<std::byte>& out, std::uint64_t cap) {
  out.resize(static_cast<std::size_t>(cap));
  z_stream z{};
  if (inflateInit(&z) != Z_OK) fs.fail(path, "zlib initialisation failed");
  struct End {
    z_stream* s;
    ~End() { inflateEnd(s); }
  } end{&z};
  // Output is capped at the chunk size; once full, one scratch byte tells a stream that ends
  // exactly there from one that decodes further.
  std::size_t in_pos = 0, out_pos = 0;
  Bytef scratch = 0;
  while (true) {
    const std::size_t in_step = std::min<std::size_t>(in.size() - in_pos, 1u << 30);
    const bool full = out_pos == out.size();
    const std::size_t out_step = full ? 1 : std::min<std::size_t>(out.size() - out_pos, 1u << 30);
    z.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(in.data() + in_pos));
    z.avail_in = static_cast<uInt>(in_step);
    z.next_out = full ? &scratch : reinterpret_cast<Bytef*>(out.data() + out_pos);
    z.avail_out = static_cast<uInt>(out_step);
    const int ret = inflate(&z, Z_NO_FLUSH);
    in_pos += in_step - z.avail_in;
    if (full && z.avail_out == 0) fs.fail(path, "deflate stream decodes past the chunk size " + std::to_string(cap));
    if (!full) out_pos += out_step - z.avail_out;
    if (ret == Z_STREAM_END) break;
    if (ret != Z_OK) fs.fail(path, std::string("corrupt deflate stream in chunk (") + (z.msg ? z.msg : "truncated") + ")");
  }
  out.resize(out_pos);
}

void unshuffle(Bytes in, std::vector<std::byte>& out, std::size_t es) {
  out.resize(in.size());
  const std::size_t n = es ? in.size() / es : 0;
  if (es < 2 || n < 2) {
    std::memcpy(out.data(), in.data(), in.size());
    return;
  }
  for (std::size_t j = 0; j < es; ++j) {
    const std::byte* src = in.data() + j * n;
    for (std::size_t i = 0; i < n; ++i) out[i * es + j] = src[i];
  }
  std::memcpy(out.data() + n * es, in.data() + n * es, in.size() - n * es);  // trailing bytes
}

// Copies the part of `chunk` that lies inside the dataset into `out`.
void place_chunk(std::span<std::byte> out, const std::vector<std::uint64_t>& dims,
                 const std::vector<std::uint64_t>& cdims, const std::vector<std::uint64_t>& off,
                 const std::byte* chunk, std::size_t es) {
  const std::size_t rank = dims.size();
  std::vector<std::uint64_t> ext(rank), ostride(rank), cstride(rank);
  for (std::size_t d = 0; d < rank; ++d) ext[d] = std::min(cdims[d], dims[d] - off[d]);
  std::uint64_t os = es, cs = es;
  for (std::size_t d = rank; d-- > 0;) {
    ostride[d] = os;
    cstride[d] = cs;
    os *= dims[d];
    cs *= cdims[d];
  }
  const std::uint64_t run = ext[rank - 1] * es;
  std::vector<std::uint64_t> idx(rank, 0);
  while (true) {
    std::uint64_t o = 0, c = 0;
    for (std::size_t d = 0; d < rank; ++d) {
      o += (off[d] + idx[d]) * ostride[d];
      c += idx[d] * cstride[d];
    }
    std::memcpy(out.data() + o, chunk + c, static_cast<std::size_t>(run));
    std::size_t d = rank - 1;
    bool done = true;
    while (d > 0) {
      --d;
      if (++idx[d] < ext[d]) {
        done = false;
        break;
      }
      idx[d] = 0;
    }
    if (done) break;
  }
}

void fill(std::span<std::byte> out, const std::vector<std::byte>& value) {
  if (value.empty() || std::all_of(value.begin(), value.end(), [](std::byte b) { return b == std::byte{0}; })) {
    std::memset(out.data(), 0, out.size());
    return;
  }
  for (std::size_t i = 0; i + value.size() <= out.size(); i += value.size())
    std::memcpy(out.data() + i, value.data(), value.size());
}

// Enumerates the chunks of a chunked dataset through its index.
void for_each_chunk(const FileState& fs, const DatasetInfo& ds, std::uint64_t chunk_bytes,
                    const std::function<void(const ChunkRef&)>& fn) {
  const Layout& l = ds.layout;
  const std::size_t rank = ds.space.dims.size();
  const std::string_view path = ds.path;
  if (l.address == kUndefined) return;  // nothing written yet
  // Chunk-grid helpers for the linear indexes (implicit, fixed array).
  std::vector<std::uint64_t> grid(rank);
  std::uint64_t nchunks = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    grid[d] = (ds.space.dims[d] + l.chunk[d] - 1) / l.chunk[d];
    if (grid[d] != 0 && nchunks > ~std::uint64_t{0} / grid[d]) fs.fail(path, "chunk count overflows");
    nchunks *= grid[d];
  }
  auto offsets_of = [&](std::uint64_t linear) {
    std::vector<std::uint64_t> off(rank);
    for (std::size_t d = rank; d-- > 0;) {
      off[d] = (linear % grid[d]) * l.chunk[d];
      linear /= grid[d];
    }
    return off;
  };
  if (l.version == 3) {
    const std::size_t key = 8 + 8 * (rank + 1);
    walk_btree_v1(fs, l.address, 1, key, path, [&](Bytes k, std::uint64_t child, Bytes) {
      Cursor c(fs, k, path, "chunk B-tree key");
      ChunkRef r;
      r.size = c.u32();
      r.mask = c.u32();
      for (std::size_t d = 0; d < rank; ++d) r.offset.push_back(c.u64());
      r.address = child;
      fn(r);
    });
    return;
  }
  switch (l.index) {
    case 1: {
      ChunkRef r;
      r.offset.assign(rank, 0);
      r.address = l.address;
      r.size = (l.flags & 2) ? l.single_size : chunk_bytes;
      r.mask = l.single_mask;
      fn(r);
      return;
    }
    case 2: {
      if (!ds.filters.empty()) fs.fail(path, "implicit chunk index with filters");
      if (nchunks > fs.size()) fs.fail(path, "implicit chunk index with " + std::to_string(nchunks) + " chunks");
      for (std::uint64_t i = 0; i < nchunks; ++i) {
        ChunkRef r;
        r.offset = offsets_of(i);
        r.address = l.address + i * chunk_bytes;
        r.size = chunk_bytes;
        fn(r);
      }
      return;
    }
    case 3: {
      fs.visit(path);
      Bytes hb = fs.at(l.address, 4 + 4 + 8 + 8 + 4, path, "fixed array header");
      Cursor h(fs, hb, path, "fixed array header " + hex(l.address));
      h.expect_signature("FAHD");
      if (h.u8() != 0) h.fail("unknown version");
      const std::uint8_t client = h.u8();
      const std::uint8_t esize = h.u8();
      const std::uint8_t page_bits = h.u8();
      const std::uint64_t n = h.len();
      const std::uint64_t dblock = h.addr();
      verify_checksum(fs, hb.first(h.pos()), h.peek4(), path, "fixed array header");
      const bool filtered = client == 1;
      if (client > 1 || esize < (filtered ? 13 : 8) || page_bits > 32) h.fail("bad element description");
      if (n != nchunks) h.fail(std::to_string(n) + " elements for " + std::to_string(nchunks) + " chunks");
      if (dblock == kUndefined) return;
      fs.visit(path);
      const std::uint64_t page_elems = std::uint64_t{1} << page_bits;
      const bool paged = n > page_elems;
      const std::uint64_t npages = paged ? (n + page_elems - 1) / page_elems : 0;
      const std::uint64_t prefix = 4 + 1 + 1 + 8 + (npages + 7) / 8;
      if (n > fs.size()) h.fail("element count larger than the file");
      auto element = [&](Bytes e, std::uint64_t i) {
        Cursor c(fs, e, path, "fixed array element");
        ChunkRef r;
        r.address = c.addr();
        if (filtered) {
          r.size = c.uint(esize - 12u);
          r.mask = c.u32();
        } else {
          r.size = chunk_bytes;
        }
        if (r.address == kUndefined) return;
        r.offset = offsets_of(i);
        fn(r);
      };
      if (!paged) {
        Bytes b = fs.at(dblock, prefix + n * esize + 4, path, "fixed array data block");
        Cursor c(fs, b, path, "fixed array data block " + hex(dblock));
        c.expect_signature("FADB");
        verify_checksum(fs, b.first(b.size() - 4), b.last(4), path, "fixed array data block");
        for (std::uint64_t i = 0; i < n; ++i) element(b.subspan(static_cast<std::size_t>(prefix + i * esize), esize), i);
      } else {
        Bytes b = fs.at(dblock, prefix + 4, path, "fixed array data block");
        Cursor c(fs, b, path, "fixed array data block " + hex(dblock));
        c.expect_signature("FADB");
        verify_checksum(fs, b.first(prefix), b.last(4), path, "fixed array data block");
        std::uint64_t page_addr = dblock + prefix + 4;
        for (std::uint64_t p = 0; p < npages; ++p) {
          const std::uint64_t count = std::min(page_elems, n - p * page_elems);
          const bool present = (static_cast<std::uint8_t>(b[static_cast<std::size_t>(14 + p / 8)]) >> (7 - p % 8)) & 1;
          const std::uint64_t page_size = count * esize + 4;
          if (present) {
            fs.visit(path);
            Bytes pg = fs.at(page_addr, page_size, path, "fixed array page");
            verify_checksum(fs, pg.first(pg.size() - 4), pg.last(4), path, "fixed array page");
            for (std::uint64_t i = 0; i < count; ++i) element(pg.subspan(static_cast<std::size_t>(i * esize), esize), p * page_elems + i);
          }
          page_addr += page_elems * esize + 4;
        }
      }
      return;
    }
    case 5: {
      const bool filtered = !ds.filters.empty();
      walk_btree_v2(fs, l.address, filtered ? 11 : 10, path, [&](Bytes rec, std::size_t size) {
        Cursor c(fs, rec, path, "chunk record");
        ChunkRef r;
        r.address = c.addr();
        if (filtered) {
          if (size < 8 + 4 + 8 * rank + 1) c.fail("record too short");
          r.size = c.uint(static_cast<unsigned>(std::min<std::size_t>(8, size - 12 - 8 * rank)));
          r.mask = c.u32();
        } else {
          r.size = chunk_bytes;
        }
        for (std::size_t d = 0; d < rank; ++d) {
          const std::uint64_t s = c.u64();
          if (s > ~std::uint64_t{0} / l.chunk[d]) c.fail("scaled offset overflows");
          r.offset.push_back(s * l.chunk[d]);
        }
        fn(r);
      });
      return;
    }
    default:
      fs.unsupported(path, "chunk index type " + std::to_string(l.index));
  }
}

}  // namespace

void read_raw(const FileState& fs, const DatasetInfo& ds, std::span<std::byte> out) {
  const std::string_view path = ds.path;
  const std::uint64_t need = out.size();
  const Layout& l = ds.layout;
  switch (l.kind) {
    case Layout::Kind::Compact:
      if (l.compact.size() < need) fs.fail(path, "compact data of " + std::to_string(l.compact.size()) + " bytes for " + std::to_string(need) + " needed");
      std::memcpy(out.data(), l.compact.data(), static_cast<std::size_t>(need));
      return;
    case Layout::Kind::Contiguous: {
      if (l.address == kUndefined) {
        fill(out, ds.fill);
        return;
      }
      if (!ds.filters.empty()) fs.unsupported(path, "filters on contiguous data");
      Bytes src = fs.at(l.address, need, path, "data");
      std::memcpy(out.data(), src.data(), static_cast<std::size_t>(need));
      return;
    }
    case Layout::Kind::Chunked:
      break;
  }
  const std::size_t es = ds.type.pub.size;
  std::uint64_t chunk_elems = 1;
  for (std::uint64_t d : l.chunk) {
    if (chunk_elems > ~std::uint64_t{0} / d) fs.limit(path, "chunk element count overflows");
    chunk_elems *= d;
  }
  if (chunk_elems > fs.limits.max_dataset_bytes / es) {
    fs.limit(path, "chunk of " + std::to_string(chunk_elems) + " elements exceeds max_dataset_bytes " + std::to_string(fs.limits.max_dataset_bytes));
  }
  const std::uint64_t chunk_bytes = chunk_elems * es;
  // Chunks larger than the dataset itself only waste memory; refuse absurd ones.
  if (chunk_bytes > std::max<std::uint64_t>(need, 64u << 20)) {
    fs.limit(path, "chunk of " + std::to_string(chunk_bytes) + " bytes for a dataset of " + std::to_string(need));
  }
  for (const Filter& f : ds.filters) {
    if (f.id != 1 && f.id != 2 && !(f.flags & 1))
      fs.unsupported(path, f.id == 3 ? std::string("fletcher32 filter") : "filter " + std::to_string(f.id));
  }
  fill(out, ds.fill);
  if (need == 0) return;
  std::vector<std::byte> a, b;
  const auto& dims = ds.space.dims;
  for_each_chunk(fs, ds, chunk_bytes, [&](const ChunkRef& r) {
    for (std::size_t d = 0; d < dims.size(); ++d) {
      if (r.offset[d] % l.chunk[d] != 0) fs.fail(path, "chunk offset " + std::to_string(r.offset[d]) + " is not a multiple of the chunk size");
      if (r.offset[d] >= dims[d]) return;  // chunk beyond the current extent
    }
    Bytes stored = fs.at(r.address, r.size, path, "chunk");
    Bytes cur = stored;
    for (std::size_t i = ds.filters.size(); i-- > 0;) {
      if (i < 32 && (r.mask >> i) & 1) continue;  // filter skipped for this chunk
      const Filter& f = ds.filters[i];
      if (f.id == 1) {
        if (chunk_bytes > (1u << 20) && cur.size() * fs.limits.max_decompression_ratio < chunk_bytes) {
          fs.limit(path, "chunk of " + std::to_string(cur.size()) + " stored bytes claims " + std::to_string(chunk_bytes) +
                             " decoded bytes (max_decompression_ratio " + std::to_string(fs.limits.max_decompression_ratio) + ")");
        }
        inflate_into(fs, path, cur, b, chunk_bytes);
      } else if (f.id == 2) {
        const std::size_t ses = f.params.empty() ? es : f.params[0];
        unshuffle(cur, b, ses);
      } else {
        fs.unsupported(path, "filter " + std::to_string(f.id));
      }
      std::swap(a, b);
      cur = a;
    }
    if (cur.size() < chunk_bytes) fs.fail(path, "chunk at " + hex(r.address) + " decodes to " + std::to_string(cur.size()) + " bytes, expected " + std::to_string(chunk_bytes));
    place_chunk(out, dims, l.chunk, r.offset, cur.data(), es);
  });
}

}  // namespace kserde::hdf5::detail
