// Group members and attributes.
//
// Symbol table message (0x11): v1 B-tree address (O) | local heap address (O)
// Symbol table node: "SNOD" | version=1 | reserved (1) | symbol count (2) | entries:
//   link name offset (O) | object header address (O) | cache type (4; 2 = soft link) |
//   reserved (4) | scratch pad (16)
// Link message (0x6): version=1 | flags | [link type (1) if flags&8] | [creation order (8) if
//   flags&4] | [charset (1) if flags&16] | name length (1 << (flags&3) bytes) | name |
//   hard: object address (O); soft/external/user-defined: length (2) | value
// Link info message (0x2): version=0 | flags | [max creation index (8) if flags&1] |
//   fractal heap (O) | name index v2 B-tree (O, record type 5: hash (4) | heap ID) | [order index]
// Attribute message (0xC): version | v1: reserved / v2,v3: flags (1: shared datatype, 2: shared
//   dataspace) | name size (2, with NUL) | datatype size (2) | dataspace size (2) | [v3: charset] |
//   name | datatype | dataspace | data (v1 pads the three fields to 8)
// Attribute info message (0x15): version=0 | flags | [max creation index (2) if flags&1] |
//   fractal heap (O) | name index v2 B-tree (O, record type 8: heap ID (8) | flags (1) |
//   creation order (4) | hash (4)) | [order index (O) if flags&2]
#include <algorithm>
#include <cstring>

#include "hdf5/internal.hpp"

namespace kserde::hdf5::detail {

namespace {

Link parse_link(const FileState& fs, Bytes data, std::string_view path) {
  Cursor c(fs, data, path, "link message");
  if (c.u8() != 1) c.fail("unknown version");
  const std::uint8_t flags = c.u8();
  unsigned type = 0;
  if (flags & 8) type = c.u8();
  if (flags & 4) c.skip(8);
  if (flags & 16) c.skip(1);
  const std::uint64_t name_len = c.uint(1u << (flags & 3));
  if (name_len == 0) c.fail("empty link name");
  Bytes name = c.bytes(name_len);
  Link l;
  l.name.assign(reinterpret_cast<const char*>(name.data()), name.size());
  if (type == 0) {
    l.type = Link::Type::Hard;
    l.address = c.addr();
  } else if (type == 1) {
    l.type = Link::Type::Soft;
  } else if (type == 64) {
    l.type = Link::Type::External;
  } else {
    l.type = Link::Type::Other;
  }
  return l;
}

void read_symbol_table(const FileState& fs, Bytes data, std::string_view path, std::vector<Link>& out) {
  Cursor c(fs, data, path, "symbol table message");
  const std::uint64_t btree = c.addr();
  const std::uint64_t heap_addr = c.addr();
  const LocalHeap heap = read_local_heap(fs, heap_addr, path);
  walk_btree_v1(fs, btree, 0, 8, path, [&](Bytes, std::uint64_t snod, Bytes) {
    fs.visit(path);
    Cursor n(fs, fs.tail(snod, 8, path, "symbol table node"), path, "symbol table node " + hex(snod));
    n.expect_signature("SNOD");
    if (n.u8() != 1) n.fail("unknown version");
    n.skip(1);
    const std::uint16_t count = n.u16();
    for (unsigned i = 0; i < count; ++i) {
      const std::uint64_t name_off = n.u64();
      Link l;
      l.address = n.addr();
      const std::uint32_t cache = n.u32();
      n.skip(4 + 16);
      l.name = heap.name_at(fs, name_off, path);
      if (l.name.empty()) n.fail("empty link name");
      l.type = cache == 2 ? Link::Type::Soft : Link::Type::Hard;
      out.push_back(std::move(l));
    }
  });
}

}  // namespace

std::vector<Link> read_links(const FileState& fs, const ObjectHeader& oh, std::string_view path) {
  std::vector<Link> out;
  for (const Message& m : oh.messages) {
    if (m.type == msg::SymbolTable) read_symbol_table(fs, m.data, path, out);
    if (m.type == msg::Link) out.push_back(parse_link(fs, m.data, path));
    if (m.type == msg::LinkInfo) {
      Cursor c(fs, m.data, path, "link info message");
      if (c.u8() != 0) c.fail("unknown version");
      const std::uint8_t flags = c.u8();
      if (flags & 1) c.skip(8);
      const std::uint64_t heap_addr = c.addr();
      const std::uint64_t index = c.addr();
      if (heap_addr == kUndefined) continue;  // compact storage: links are messages
      const FractalHeap heap(fs, heap_addr, std::string(path));
      walk_btree_v2(fs, index, 5, path, [&](Bytes rec, std::size_t size) {
        if (size < 5) fs.fail(path, "link name index record too short");
        out.push_back(parse_link(fs, heap.object(rec.subspan(4)), path));
      });
    }
  }
  std::sort(out.begin(), out.end(), [](const Link& a, const Link& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i].name == out[i - 1].name) fs.fail(path, "duplicate link name \"" + out[i].name + "\"");
  return out;
}

namespace {

struct AttrFields {
  std::string name;
  Bytes datatype, dataspace, data;
};

AttrFields split_attribute(const FileState& fs, Bytes message, std::string_view path) {
  Cursor c(fs, message, path, "attribute message");
  const std::uint8_t version = c.u8();
  if (version < 1 || version > 3) c.fail("version " + std::to_string(version));
  const std::uint8_t flags = c.u8();
  if (version >= 2 && (flags & 3)) fs.unsupported(path, "attribute with a shared datatype or dataspace");
  const std::uint16_t name_size = c.u16(), dt_size = c.u16(), ds_size = c.u16();
  if (version == 3) c.skip(1);
  auto padded = [&](std::uint64_t n) { return version == 1 ? (n + 7) / 8 * 8 : n; };
  AttrFields f;
  Bytes name = c.bytes(name_size);
  if (padded(name_size) > name_size) c.skip(std::min<std::uint64_t>(padded(name_size) - name_size, c.remaining()));
  const auto* p = reinterpret_cast<const char*>(name.data());
  f.name.assign(p, strnlen(p, name.size()));
  if (f.name.empty()) c.fail("empty attribute name");
  f.datatype = c.bytes(dt_size);
  if (padded(dt_size) > dt_size) c.skip(std::min<std::uint64_t>(padded(dt_size) - dt_size, c.remaining()));
  f.dataspace = c.bytes(ds_size);
  if (padded(ds_size) > ds_size) c.skip(std::min<std::uint64_t>(padded(ds_size) - ds_size, c.remaining()));
  f.data = c.data().subspan(c.pos());
  return f;
}

}  // namespace

std::string attribute_message_name(const FileState& fs, Bytes message, std::string_view path) {
  return split_attribute(fs, message, path).name;
}

std::vector<RawAttribute> read_raw_attributes(const FileState& fs, const ObjectHeader& oh,
                                              std::string_view path) {
  std::vector<RawAttribute> out;
  for (const Message& m : oh.messages) {
    if (m.type == msg::Attribute) {
      if (m.flags & 2) fs.unsupported(path, "shared attribute message");
      out.push_back({attribute_message_name(fs, m.data, path), m.data});
    }
    if (m.type == msg::AttributeInfo) {
      Cursor c(fs, m.data, path, "attribute info message");
      if (c.u8() != 0) c.fail("unknown version");
      const std::uint8_t flags = c.u8();
      if (flags & 1) c.skip(2);
      const std::uint64_t heap_addr = c.addr();
      const std::uint64_t index = c.addr();
      if (heap_addr == kUndefined) continue;
      const FractalHeap heap(fs, heap_addr, std::string(path));
      walk_btree_v2(fs, index, 8, path, [&](Bytes rec, std::size_t size) {
        if (size < 10) fs.fail(path, "attribute name index record too short");
        if (static_cast<std::uint8_t>(rec[size - 9]) & 2) fs.unsupported(path, "shared attribute message");
        Bytes body = heap.object(rec.first(size - 9));
        out.push_back({attribute_message_name(fs, body, path), body});
      });
    }
  }
  std::sort(out.begin(), out.end(), [](const RawAttribute& a, const RawAttribute& b) { return a.name < b.name; });
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i].name == out[i - 1].name) fs.fail(path, "duplicate attribute name \"" + out[i].name + "\"");
  return out;
}

Attribute decode_attribute(const FileState& fs, const RawAttribute& raw, std::string_view path) {
  const AttrFields f = split_attribute(fs, raw.message, path);
  const std::string where = std::string(path) + " attribute \"" + f.name + "\"";
  Cursor tc(fs, f.datatype, where, "datatype");
  const TypeInfo t = parse_datatype(tc);
  Cursor sc(fs, f.dataspace, where, "dataspace");
  const Dataspace s = parse_dataspace(sc, fs.limits.max_rank);
  const std::uint64_t max = fs.limits.max_attribute_bytes;
  if (s.count > max / t.pub.size) {
    fs.limit(where, "attribute of " + std::to_string(s.count) + " elements exceeds max_attribute_bytes " + std::to_string(max));
  }
  const std::uint64_t nbytes = s.count * t.pub.size;
  if (nbytes > f.data.size()) {
    fs.fail(where, "attribute data needs " + std::to_string(nbytes) + " bytes but the message holds " + std::to_string(f.data.size()));
  }
  const Bytes data = f.data.first(static_cast<std::size_t>(nbytes));
  std::vector<std::string> strings;
  std::vector<double> numbers;
  const auto n = static_cast<std::size_t>(s.count);
  if (t.pub.cls == Datatype::Class::String && t.pub.variable_length) {
    GlobalHeapReader gh(fs, where);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      Cursor e(fs, data.subspan(i * 16, 16), where, "variable-length string");
      const std::uint32_t len = e.u32();
      const std::uint64_t coll = e.addr();
      const std::uint32_t idx = e.u32();
      if (len == 0) {
        strings.emplace_back();
        continue;
      }
      total += len;
      if (total > max) fs.limit(where, "attribute strings exceed max_attribute_bytes " + std::to_string(max));
      Bytes obj = gh.object(coll, idx);
      if (obj.size() < len) fs.fail(where, "string of " + std::to_string(len) + " bytes in a heap object of " + std::to_string(obj.size()));
      strings.emplace_back(reinterpret_cast<const char*>(obj.data()), len);
    }
  } else if (t.pub.cls == Datatype::Class::String) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto* p = reinterpret_cast<const char*>(data.data()) + i * t.pub.size;
      std::string v(p, t.pub.size);
      if (t.str_pad == 2) {
        v.erase(v.find_last_not_of(' ') + 1);
      } else {
        v.resize(strnlen(v.data(), v.size()));
      }
      strings.push_back(std::move(v));
    }
  } else if (t.pub.dtype && t.pub.cls != Datatype::Class::Opaque && n > 0) {
    std::vector<std::byte> tmp(data.begin(), data.end());
    if (t.pub.big_endian) swap_bytes(tmp.data(), t.pub.size, n);
    numbers.resize(n);
    convert_elements(tmp.data(), *t.pub.dtype, numbers.data(), DType::Float64, n);
  }
  return Attribute(f.name, t.pub, s.dims, std::move(strings), std::move(numbers));
}

}  // namespace kserde::hdf5::detail
