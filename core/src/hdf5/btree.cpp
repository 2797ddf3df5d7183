// Version 1 and version 2 B-trees.
//
// v1 node: "TREE" | type (1: 0 group, 1 chunk) | level (1) | entries used (2) | left sibling (O) |
//   right sibling (O) | key 0 | child 0 | key 1 | ... | child n-1 | key n
//   Leaves (level 0) point at symbol-table nodes (type 0) or raw chunks (type 1).
// v2 header: "BTHD" | version=0 | type (1) | node size (4) | record size (2) | depth (2) |
//   split % (1) | merge % (1) | root address (O) | root record count (2) | total records (L) | checksum
// v2 internal node: "BTIN" | version | type | records | child pointers: address (O) |
//   record count (width for the largest leaf count) | [total records below (width for the child
//   level's maximum) if the child is internal] | checksum
// v2 leaf: "BTLF" | version | type | records | checksum
// Walks are iterative, charge the visit budget per node, require each child's level to be one
// less than its parent's and refuse a node address seen twice.
#include <algorithm>
#include <bit>
#include <unordered_set>

#include "hdf5/internal.hpp"

namespace kserde::hdf5::detail {

void walk_btree_v1(const FileState& fs, std::uint64_t root, std::uint8_t type, std::size_t key_size,
                   std::string_view path,
                   const std::function<void(Bytes, std::uint64_t, Bytes)>& leaf) {
  struct Item {
    std::uint64_t addr;
    int level;  // -1: unknown (root)
  };
  std::vector<Item> stack{{root, -1}};
  std::unordered_set<std::uint64_t> seen;
  while (!stack.empty()) {
    const Item it = stack.back();
    stack.pop_back();
    if (!seen.insert(it.addr).second)
      fs.fail(path, "B-tree node " + hex(it.addr) + " reached twice (cycle)");
    fs.visit(path);
    Cursor c(fs, fs.tail(it.addr, 24, path, "B-tree node"), path, "B-tree node " + hex(it.addr));
    c.expect_signature("TREE");
    if (c.u8() != type) c.fail("unexpected node type");
    const int level = c.u8();
    const std::uint16_t entries = c.u16();
    if (it.level >= 0 && level != it.level) c.fail("level " + std::to_string(level) + " where " + std::to_string(it.level) + " was expected");
    c.skip(16);  // siblings
    std::vector<Item> children;
    Bytes key = c.bytes(key_size);
    for (unsigned i = 0; i < entries; ++i) {
      const std::uint64_t child = c.addr();
      Bytes next = c.bytes(key_size);
      if (level == 0) {
        leaf(key, child, next);
      } else {
        children.push_back({child, level - 1});
      }
      key = next;
    }
    // Push in reverse so children are visited left to right.
    for (auto r = children.rbegin(); r != children.rend(); ++r) stack.push_back(*r);
  }
}

namespace {
unsigned enc_size(std::uint64_t n) {
  return n == 0 ? 1u : static_cast<unsigned>((std::bit_width(n) - 1) / 8 + 1);
}
}  // namespace

void walk_btree_v2(const FileState& fs, std::uint64_t header, std::uint8_t expected_type,
                   std::string_view path, const std::function<void(Bytes, std::size_t)>& record) {
  fs.visit(path);
  Bytes hb = fs.at(header, 38 + 4, path, "v2 B-tree header");
  Cursor h(fs, hb, path, "v2 B-tree header " + hex(header));
  h.expect_signature("BTHD");
  if (h.u8() != 0) h.fail("unknown version");
  if (h.u8() != expected_type) h.fail("unexpected record type");
  const std::uint32_t node_size = h.u32();
  const std::uint16_t rec_size = h.u16();
  const std::uint16_t depth = h.u16();
  h.skip(2);
  const std::uint64_t root = h.addr();
  const std::uint16_t root_nrec = h.u16();
  h.skip(8);
  verify_checksum(fs, hb.first(h.pos()), h.peek4(), path, "v2 B-tree header " + hex(header));
  if (rec_size == 0 || node_size < 10u + rec_size) h.fail("node size " + std::to_string(node_size) + " too small for record size " + std::to_string(rec_size));
  if (depth > 32) h.fail("depth " + std::to_string(depth));
  if (root == kUndefined) return;  // empty tree

  // Per-level maximum record counts and pointer widths, as the format derives them.
  std::vector<std::uint64_t> max_nrec(depth + 1u), cum_max(depth + 1u);
  std::vector<unsigned> cum_size(depth + 1u), ptr_size(depth + 1u);
  max_nrec[0] = (node_size - 10u) / rec_size;
  cum_max[0] = max_nrec[0];
  cum_size[0] = 0;
  const unsigned nrec_size = enc_size(max_nrec[0]);
  for (unsigned u = 1; u <= depth; ++u) {
    ptr_size[u] = 8 + nrec_size + (u > 1 ? cum_size[u - 1] : 0);
    if (node_size < 10u + ptr_size[u]) h.fail("node size too small for its depth");
    max_nrec[u] = (node_size - 10u - ptr_size[u]) / (rec_size + ptr_size[u]);
    std::uint64_t cm = 0;
    if (__builtin_mul_overflow(max_nrec[u] + 1, cum_max[u - 1], &cm) ||
        __builtin_add_overflow(cm, max_nrec[u], &cm))
      cm = ~std::uint64_t{0};
    cum_max[u] = cm;
    cum_size[u] = enc_size(cum_max[u]);
  }

  struct Item {
    std::uint64_t addr;
    std::uint64_t nrec;
    unsigned level;
  };
  std::vector<Item> stack{{root, root_nrec, depth}};
  std::unordered_set<std::uint64_t> seen;
  while (!stack.empty()) {
    const Item it = stack.back();
    stack.pop_back();
    if (!seen.insert(it.addr).second) fs.fail(path, "v2 B-tree node " + hex(it.addr) + " reached twice (cycle)");
    fs.visit(path);
    if (it.nrec > max_nrec[it.level]) fs.fail(path, "v2 B-tree node " + hex(it.addr) + " claims " + std::to_string(it.nrec) + " records");
    Bytes nb = fs.at(it.addr, node_size, path, "v2 B-tree node");
    Cursor c(fs, nb, path, "v2 B-tree node " + hex(it.addr));
    c.expect_signature(it.level == 0 ? "BTLF" : "BTIN");
    if (c.u8() != 0) c.fail("unknown version");
    if (c.u8() != expected_type) c.fail("unexpected record type");
    Bytes recs = c.bytes(it.nrec * rec_size);
    std::vector<Item> children;
    if (it.level > 0) {
      for (std::uint64_t i = 0; i <= it.nrec; ++i) {
        Item child{c.addr(), c.uint(nrec_size), it.level - 1};
        if (it.level > 1) c.skip(cum_size[it.level - 1]);
        children.push_back(child);
      }
    }
    verify_checksum(fs, nb.first(c.pos()), c.peek4(), path, "v2 B-tree node " + hex(it.addr));
    for (std::uint64_t i = 0; i < it.nrec; ++i) record(recs.subspan(static_cast<std::size_t>(i * rec_size), rec_size), rec_size);
    for (auto r = children.rbegin(); r != children.rend(); ++r) stack.push_back(*r);
  }
}

}  // namespace kserde::hdf5::detail
