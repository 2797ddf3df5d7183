// Object headers, versions 1 and 2, with their continuation chunks.
//
// Version 1 (at an 8-aligned address):
//   version=1 (1) | reserved (1) | message count (2) | reference count (4) | chunk size (4) |
//   reserved (4) | messages: type (2) | size (2) | flags (1) | reserved (3) | data (size, 8-aligned)
//   Continuation chunks hold bare messages of the same form.
// Version 2:
//   "OHDR" | version=2 (1) | flags (1) | [4 times x 4 if flags&0x20] |
//   [max compact (2) | min dense (2) if flags&0x10] | chunk-0 size (1 << (flags&3) bytes) |
//   messages: type (1) | size (2) | flags (1) | [creation order (2) if flags&0x04] | data |
//   gap (< one message header) | lookup3 checksum (4)
//   Continuation chunks: "OCHK" | messages | gap | checksum (4).
// Continuation message (0x10): chunk address (O) | chunk length (L).
#include <algorithm>

#include "hdf5/internal.hpp"

namespace kserde::hdf5::detail {

const Message* ObjectHeader::find(std::uint16_t type) const {
  for (const Message& m : messages)
    if (m.type == type) return &m;
  return nullptr;
}

namespace {

struct Chunk {
  std::uint64_t addr;
  std::uint64_t length;
};

void parse_messages(const FileState& fs, Bytes chunk, int version, bool creation_order,
                    std::string_view path, ObjectHeader& oh, std::vector<Chunk>& pending) {
  Cursor c(fs, chunk, path, "object header " + hex(oh.address));
  const std::size_t hdr = version == 1 ? 8 : (creation_order ? 6 : 4);
  while (c.remaining() >= hdr) {
    Message m;
    if (version == 1) {
      m.type = c.u16();
      const std::uint16_t size = c.u16();
      m.flags = c.u8();
      c.skip(3);
      m.data = c.bytes(size);
    } else {
      m.type = c.u8();
      const std::uint16_t size = c.u16();
      m.flags = c.u8();
      if (creation_order) c.skip(2);
      m.data = c.bytes(size);
    }
    if (m.type == msg::Continuation) {
      Cursor mc(fs, m.data, path, "continuation message");
      const std::uint64_t a = mc.addr();
      const std::uint64_t l = mc.len();
      pending.push_back({a, l});
    } else if (m.type != msg::Nil) {
      oh.messages.push_back(m);
    }
  }
}

}  // namespace

ObjectHeader read_object_header(const FileState& fs, std::uint64_t addr, std::string_view path) {
  fs.visit(path);
  ObjectHeader oh;
  oh.address = addr;
  Bytes head = fs.tail(addr, 16, path, "object header");
  std::vector<Chunk> pending;
  std::vector<std::uint64_t> seen{addr};
  int version = 0;
  bool creation_order = false;
  if (head[0] == std::byte{1}) {
    version = 1;
    Cursor c(fs, head, path, "object header " + hex(addr));
    c.skip(4);
    c.skip(4);  // reference count
    const std::uint32_t chunk_size = c.u32();
    c.skip(4);
    parse_messages(fs, c.bytes(chunk_size), 1, false, path, oh, pending);
  } else if (head[0] == std::byte{'O'}) {
    version = 2;
    Cursor c(fs, head, path, "object header " + hex(addr));
    c.expect_signature("OHDR");
    if (c.u8() != 2) c.fail("unknown version");
    const std::uint8_t flags = c.u8();
    creation_order = (flags & 0x04) != 0;
    if (flags & 0x20) c.skip(16);
    if (flags & 0x10) c.skip(4);
    const std::uint64_t chunk_size = c.uint(1u << (flags & 3));
    Bytes msgs = c.bytes(chunk_size);
    verify_checksum(fs, head.first(c.pos()), c.peek4(), path, "object header " + hex(addr));
    parse_messages(fs, msgs, 2, creation_order, path, oh, pending);
  } else {
    fs.fail(path, "object header at " + hex(addr) + " has unknown version " +
                      std::to_string(static_cast<int>(head[0])));
  }
  // Follow continuation chunks breadth-first; each address only once.
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const Chunk ch = pending[i];
    if (std::find(seen.begin(), seen.end(), ch.addr) != seen.end())
      fs.fail(path, "object header continuation " + hex(ch.addr) + " visited twice (cycle)");
    seen.push_back(ch.addr);
    fs.visit(path);
    Bytes block = fs.at(ch.addr, ch.length, path, "object header continuation");
    if (version == 1) {
      parse_messages(fs, block, 1, false, path, oh, pending);
    } else {
      Cursor c(fs, block, path, "object header continuation " + hex(ch.addr));
      c.expect_signature("OCHK");
      if (block.size() < 8) c.fail("too short");
      verify_checksum(fs, block.first(block.size() - 4), block.last(4), path,
                      "object header continuation " + hex(ch.addr));
      parse_messages(fs, block.subspan(4, block.size() - 8), 2, creation_order, path, oh, pending);
    }
  }
  return oh;
}

}  // namespace kserde::hdf5::detail
