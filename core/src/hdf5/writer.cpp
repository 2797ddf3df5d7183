// Streaming HDF5 writer: superblock v0, old-style groups, contiguous datasets, attributes.
//
// File layout (all addresses absolute, 8-byte offsets and lengths):
//   superblock v0 (96 bytes; leaf K 4, internal K 16; root entry caches the root's B-tree/heap)
//   per group, in pre-order: object header v1 (symbol table message + attribute messages) |
//     local heap header (32) + data ("" at offset 0, then NUL-terminated names, 8-padded) |
//     v1 B-tree nodes (root level first; 544 bytes each: up to 32 children) |
//     symbol table nodes (328 bytes each: up to 8 entries, sorted by name)
//   per dataset: object header v1 (dataspace, datatype, fill value, layout v3, [dtype attribute])
//   global heap collections (>= 4096 bytes each) holding the variable-length attribute strings
//   dataset bytes, each run 64-aligned (relative to the image start), straight from the caller's
//   spans, so a mapped image can lend them to tensors (SIMD-friendly when the image itself is)
// The layout pass serializes every metadata block once with placeholder addresses to learn its
// size (sizes never depend on address values), assigns addresses, and the emit pass serializes
// again with the real ones, checking each block against its planned size.
#include "kserde/hdf5/writer.hpp"

#include <algorithm>
#include <cstring>
#include <map>

#include "hdf5/path.hpp"
#include "kserde/error.hpp"

namespace kserde::hdf5 {

struct WriteGroup::Node {
  struct Dset {
    DType dtype;
    std::vector<std::uint64_t> shape;
    std::span<const std::byte> data;
  };
  struct Attr {
    enum class Kind { String, Strings, Doubles } kind;
    std::string name;
    std::vector<std::string> strings;
    std::vector<double> numbers;
    bool ascii = false;
  };
  Node() : handle(this) {}
  WriteGroup handle;
  std::map<std::string, std::unique_ptr<Node>, std::less<>> groups;
  std::map<std::string, Dset, std::less<>> datasets;
  std::vector<Attr> attrs;

  void set_attr(Attr a) {
    for (Attr& x : attrs)
      if (x.name == a.name) {
        x = std::move(a);
        return;
      }
    attrs.push_back(std::move(a));
  }
};

namespace {

using Node = WriteGroup::Node;
constexpr std::uint64_t kUndef = ~std::uint64_t{0};
constexpr unsigned kLeafK = 4, kInternalK = 16;
constexpr std::uint64_t kSnodSize = 8 + 2 * kLeafK * 40;
constexpr std::uint64_t kBtreeSize = 24 + (2 * kInternalK + 1) * 8 + 2 * kInternalK * 8;
constexpr std::uint64_t kSuperblockSize = 96;
constexpr std::uint64_t kMinCollection = 4096, kMaxCollection = 1 << 16;
const std::string kBf16 = "bfloat16";  // the tag Keras puts on bfloat16 datasets

std::uint64_t pad8(std::uint64_t n) {
  return (n + 7) / 8 * 8;
}

// Little-endian byte builder.
struct Buf {
  std::string s;
  void u8(std::uint64_t v) { s.push_back(static_cast<char>(v & 0xff)); }
  void u16(std::uint64_t v) {
    for (int i = 0; i < 2; ++i) u8(v >> (8 * i));
  }
  void u32(std::uint64_t v) {
    for (int i = 0; i < 4; ++i) u8(v >> (8 * i));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(v >> (8 * i));
  }
  void raw(std::string_view v) { s.append(v); }
  void zeros(std::uint64_t n) { s.append(static_cast<std::size_t>(n), '\0'); }
  void align8() { zeros(pad8(s.size()) - s.size()); }
};

// Datatype message bodies (unpadded), as libhdf5 encodes them.
std::string int_type(std::size_t size, bool is_signed) {
  Buf b;
  b.u8(0x10);
  b.u8(is_signed ? 0x08 : 0);
  b.u16(0);
  b.u32(size);
  b.u16(0);
  b.u16(size * 8);
  return b.s;
}
std::string float_type(std::size_t size) {
  Buf b;
  b.u8(0x11);
  b.u8(0x20);  // implied mantissa msb
  b.u8(size * 8 - 1);
  b.u8(0);
  b.u32(size);
  b.u16(0);
  b.u16(size * 8);
  const unsigned esize = size == 2 ? 5 : size == 4 ? 8 : 11;
  const unsigned msize = size * 8 - 1 - esize;
  b.u8(msize);
  b.u8(esize);
  b.u8(0);
  b.u8(msize);
  b.u32((1u << (esize - 1)) - 1);
  return b.s;
}
std::string dtype_type(DType d) {
  switch (d) {
    case DType::Float16:
      return float_type(2);
    case DType::Float32:
      return float_type(4);
    case DType::Float64:
      return float_type(8);
    case DType::BFloat16: {
      Buf b;
      b.u8(0x15);
      b.zeros(3);
      b.u32(2);
      return b.s;
    }
    case DType::Bool: {  // h5py: enum of int8 {FALSE=0, TRUE=1}
      Buf b;
      b.u8(0x18);
      b.u16(2);
      b.u8(0);
      b.u32(1);
      b.raw(int_type(1, true));
      b.raw(std::string_view("FALSE\0\0\0TRUE\0\0\0\0", 16));
      b.u8(0);
      b.u8(1);
      return b.s;
    }
    case DType::Int8:
    case DType::Int16:
    case DType::Int32:
    case DType::Int64:
      return int_type(dtype_size(d), true);
    case DType::UInt8:
    case DType::UInt16:
    case DType::UInt32:
    case DType::UInt64:
      return int_type(dtype_size(d), false);
  }
  return {};
}
std::string vlen_string_type(bool ascii) {
  Buf b;
  b.u8(0x19);
  b.u8(0x01);  // string, null-terminated padding
  b.u8(ascii ? 0 : 1);
  b.u8(0);
  b.u32(16);
  b.raw(int_type(1, false));
  return b.s;
}
std::string dataspace(const std::vector<std::uint64_t>& dims, bool scalar) {
  Buf b;
  b.u8(1);
  b.u8(scalar ? 0 : dims.size());
  b.u8(scalar ? 0 : 1);
  b.zeros(5);
  if (!scalar) {
    for (auto d : dims) b.u64(d);
    for (auto d : dims) b.u64(d);
  }
  return b.s;
}

void message(Buf& b, std::uint16_t type, std::uint8_t flags, std::string_view body) {
  const std::uint64_t size = pad8(body.size());
  if (size > 0xfff8)
    throw ConfigError("HDF5 object header message of " + std::to_string(size) +
                      " bytes is too large (split long attributes like Keras does)");
  b.u16(type);
  b.u16(size);
  b.u8(flags);
  b.zeros(3);
  b.raw(body);
  b.zeros(size - body.size());
}

std::string object_header(
    const std::vector<std::pair<std::uint16_t, std::pair<std::uint8_t, std::string>>>& msgs) {
  Buf body;
  for (const auto& [type, fb] : msgs) message(body, type, fb.first, fb.second);
  Buf b;
  b.u8(1);
  b.u8(0);
  b.u16(msgs.size());
  b.u32(1);
  b.u32(body.s.size());
  b.u32(0);
  b.raw(body.s);
  return b.s;
}

struct StrRef {
  std::uint64_t collection = 0;  // collection number until addresses are assigned
  std::uint32_t index = 0;
};

struct Collection {
  std::vector<const std::string*> objects;
  std::uint64_t used = 16;  // header
  std::uint64_t size = 0;
  std::uint64_t addr = 0;
};

struct GroupL {
  const Node* node = nullptr;
  struct Member {
    std::string_view name;
    bool is_group;
    std::size_t index;  // into groups / dsets
    std::uint64_t heap_off;
  };
  std::vector<Member> members;
  std::uint64_t heap_data_size = 8;
  std::size_t nsnod = 0;
  struct BNode {
    std::size_t first, count;
    std::uint64_t addr;
  };
  std::vector<std::vector<BNode>> levels;      // [0] = leaves
  std::vector<std::vector<StrRef>> attr_refs;  // per attribute, per string
  std::uint64_t header = 0, header_size = 0, heap = 0, btree = 0, snod = 0;
};

struct DsetL {
  const Node::Dset* d = nullptr;
  std::string_view name;
  std::uint64_t bytes = 0;
  StrRef dtype_attr;  // bfloat16 tag
  std::uint64_t header = 0, header_size = 0, data = kUndef;
};

struct Plan {
  std::vector<GroupL> groups;
  std::vector<DsetL> dsets;
  std::vector<Collection> collections;
  std::uint64_t eof = 0;

  StrRef add_string(const std::string& s) {
    const std::uint64_t need = 16 + pad8(s.size());
    if (collections.empty() || collections.back().objects.size() >= 0xfff0 ||
        (collections.back().used + need > kMaxCollection && collections.back().objects.size() > 0))
      collections.emplace_back();
    Collection& c = collections.back();
    c.objects.push_back(&s);
    c.used += need;
    return {collections.size() - 1, static_cast<std::uint32_t>(c.objects.size())};
  }
  std::uint64_t coll_addr(const StrRef& r) const { return collections[r.collection].addr; }
};

std::string attribute_message(const Plan& p, const Node::Attr& a, const std::vector<StrRef>& refs) {
  std::string type, space;
  Buf data;
  if (a.kind == Node::Attr::Kind::Doubles) {
    type = float_type(8);
    space = dataspace({a.numbers.size()}, false);
    for (double v : a.numbers) {
      std::uint64_t bits;
      std::memcpy(&bits, &v, 8);
      data.u64(bits);
    }
  } else {
    type = vlen_string_type(a.ascii);
    space = a.kind == Node::Attr::Kind::String ? dataspace({}, true)
                                               : dataspace({a.strings.size()}, false);
    for (std::size_t i = 0; i < a.strings.size(); ++i) {
      data.u32(a.strings[i].size());
      data.u64(p.coll_addr(refs[i]));
      data.u32(refs[i].index);
    }
  }
  Buf b;
  b.u8(1);
  b.u8(0);
  b.u16(a.name.size() + 1);
  b.u16(type.size());
  b.u16(space.size());
  b.raw(a.name);
  b.u8(0);
  b.align8();
  b.raw(type);
  b.align8();
  b.raw(space);
  b.align8();
  b.raw(data.s);
  return b.s;
}

std::string group_header(const Plan& p, const GroupL& g) {
  std::vector<std::pair<std::uint16_t, std::pair<std::uint8_t, std::string>>> msgs;
  Buf stab;
  stab.u64(g.btree);
  stab.u64(g.heap);
  msgs.push_back({0x11, {0, stab.s}});
  for (std::size_t i = 0; i < g.node->attrs.size(); ++i)
    msgs.push_back({0x0C, {0, attribute_message(p, g.node->attrs[i], g.attr_refs[i])}});
  return object_header(msgs);
}

std::string dataset_header(const Plan& p, const DsetL& d) {
  std::vector<std::pair<std::uint16_t, std::pair<std::uint8_t, std::string>>> msgs;
  msgs.push_back({0x01, {0, dataspace(d.d->shape, d.d->shape.empty())}});
  msgs.push_back({0x03, {1, dtype_type(d.d->dtype)}});
  msgs.push_back(
      {0x05, {1, std::string("\x02\x02\x02\x01\0\0\0\0", 8)}});  // late alloc, default fill
  Buf layout;
  layout.u8(3);
  layout.u8(1);
  layout.u64(d.data);
  layout.u64(d.bytes);
  msgs.push_back({0x08, {0, layout.s}});
  if (d.d->dtype == DType::BFloat16) {
    Node::Attr a{Node::Attr::Kind::String, "dtype", {kBf16}, {}, false};
    msgs.push_back({0x0C, {0, attribute_message(p, a, {d.dtype_attr})}});
  }
  return object_header(msgs);
}

void collect(Plan& p, const Node& n) {
  const std::size_t gi = p.groups.size();
  p.groups.emplace_back();
  p.groups[gi].node = &n;
  {
    GroupL& g = p.groups[gi];
    for (const auto& a : n.attrs) {
      std::vector<StrRef> refs;
      for (const auto& s : a.strings) refs.push_back(p.add_string(s));
      g.attr_refs.push_back(std::move(refs));
    }
  }
  // Members in byte order: std::map orders by std::string's (unsigned) comparison.
  std::vector<GroupL::Member> members;
  for (const auto& [name, d] : n.datasets) {
    DsetL dl;
    dl.d = &d;
    dl.name = name;
    dl.bytes = d.data.size();
    if (d.dtype == DType::BFloat16) dl.dtype_attr = p.add_string(kBf16);
    members.push_back({name, false, p.dsets.size(), 0});
    p.dsets.push_back(dl);
  }
  for (const auto& [name, child] : n.groups) {
    members.push_back({name, true, p.groups.size(), 0});
    collect(p, *child);
  }
  std::sort(members.begin(), members.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  GroupL& g = p.groups[gi];
  g.members = std::move(members);
  for (auto& m : g.members) {
    m.heap_off = g.heap_data_size;
    g.heap_data_size += pad8(m.name.size() + 1);
  }
  g.nsnod = (g.members.size() + 2 * kLeafK - 1) / (2 * kLeafK);
  std::size_t below = g.nsnod;
  do {
    std::vector<GroupL::BNode> level;
    for (std::size_t i = 0; i < std::max<std::size_t>(below, 1); i += 2 * kInternalK)
      level.push_back({i, std::min<std::size_t>(2 * kInternalK, below - std::min(below, i)), 0});
    below = level.size();
    g.levels.push_back(std::move(level));
  } while (below > 1);
}

// Heap offset of the largest name below child `i` of a node at `level`.
std::uint64_t max_key(const GroupL& g, std::size_t level, std::size_t child) {
  while (level > 0) {
    const auto& n = g.levels[level - 1][child];
    child = n.first + n.count - 1;
    --level;
  }
  const std::size_t last = std::min((child + 1) * 2 * kLeafK, g.members.size()) - 1;
  return g.members[last].heap_off;
}

std::string btree_node(const GroupL& g, std::size_t level, std::size_t i) {
  const auto& nodes = g.levels[level];
  const auto& n = nodes[i];
  Buf b;
  b.raw("TREE");
  b.u8(0);
  b.u8(level);
  b.u16(n.count);
  b.u64(i > 0 ? nodes[i - 1].addr : kUndef);
  b.u64(i + 1 < nodes.size() ? nodes[i + 1].addr : kUndef);
  b.u64(i > 0 ? max_key(g, level + 1, i - 1) : 0);
  for (std::size_t c = 0; c < n.count; ++c) {
    const std::size_t child = n.first + c;
    b.u64(level == 0 ? g.snod + child * kSnodSize : g.levels[level - 1][child].addr);
    b.u64(max_key(g, level, child));
  }
  b.zeros(kBtreeSize - b.s.size());
  return b.s;
}

std::string snod(const Plan& p, const GroupL& g, std::size_t j) {
  Buf b;
  b.raw("SNOD");
  b.u8(1);
  b.u8(0);
  const std::size_t first = j * 2 * kLeafK, last = std::min(first + 2 * kLeafK, g.members.size());
  b.u16(last - first);
  for (std::size_t k = first; k < last; ++k) {
    const auto& m = g.members[k];
    b.u64(m.heap_off);
    if (m.is_group) {
      const GroupL& c = p.groups[m.index];
      b.u64(c.header);
      b.u32(1);
      b.u32(0);
      b.u64(c.btree);
      b.u64(c.heap);
    } else {
      b.u64(p.dsets[m.index].header);
      b.zeros(24);
    }
  }
  b.zeros(kSnodSize - b.s.size());
  return b.s;
}

std::string local_heap(const GroupL& g, std::uint64_t addr) {
  Buf b;
  b.raw("HEAP");
  b.u8(0);
  b.zeros(3);
  b.u64(g.heap_data_size);
  b.u64(1);  // no free block
  b.u64(addr + 32);
  b.zeros(8);  // "" at offset 0
  for (const auto& m : g.members) {
    b.raw(m.name);
    b.zeros(pad8(m.name.size() + 1) - m.name.size());
  }
  return b.s;
}

std::string collection(const Collection& c) {
  Buf b;
  b.raw("GCOL");
  b.u8(1);
  b.zeros(3);
  b.u64(c.size);
  for (std::size_t i = 0; i < c.objects.size(); ++i) {
    b.u16(i + 1);
    b.u16(0);
    b.u32(0);
    b.u64(c.objects[i]->size());
    b.raw(*c.objects[i]);
    b.align8();
  }
  const std::uint64_t rest = c.size - b.s.size();
  if (rest >= 16) {
    b.u16(0);
    b.u16(0);
    b.u32(0);
    b.u64(rest);
  }
  b.zeros(c.size - b.s.size());
  return b.s;
}

std::string superblock(const Plan& p) {
  const GroupL& root = p.groups[0];
  Buf b;
  b.raw(std::string_view("\x89HDF\r\n\x1a\n", 8));
  b.zeros(5);  // versions
  b.u8(8);
  b.u8(8);
  b.u8(0);
  b.u16(kLeafK);
  b.u16(kInternalK);
  b.u32(0);
  b.u64(0);
  b.u64(kUndef);
  b.u64(p.eof);
  b.u64(kUndef);
  b.u64(0);
  b.u64(root.header);
  b.u32(1);
  b.u32(0);
  b.u64(root.btree);
  b.u64(root.heap);
  return b.s;
}

Plan make_plan(const Node& root) {
  Plan p;
  collect(p, root);
  for (Collection& c : p.collections) {
    c.size = pad8(std::max(c.used, kMinCollection));
    if (c.size - c.used == 8) c.size += 8;  // leave room for a free-space object header
  }
  std::uint64_t pos = kSuperblockSize;
  for (GroupL& g : p.groups) {
    g.header = pos;
    g.header_size = group_header(p, g).size();
    pos += g.header_size;
    g.heap = pos;
    pos += 32 + g.heap_data_size;
    for (std::size_t lv = g.levels.size(); lv-- > 0;)
      for (auto& n : g.levels[lv]) {
        n.addr = pos;
        pos += kBtreeSize;
      }
    g.btree = g.levels.back()[0].addr;
    g.snod = pos;
    pos += g.nsnod * kSnodSize;
  }
  for (DsetL& d : p.dsets) {
    d.header = pos;
    d.header_size = dataset_header(p, d).size();
    pos += d.header_size;
  }
  for (Collection& c : p.collections) {
    c.addr = pos;
    pos += c.size;
  }
  for (DsetL& d : p.dsets) {
    if (d.bytes == 0) continue;
    pos = (pos + 63) / 64 * 64;
    d.data = pos;
    pos += d.bytes;
  }
  p.eof = pos;
  return p;
}

class Emitter {
 public:
  explicit Emitter(io::ByteSink& sink) : sink_(sink) {}
  void at(std::uint64_t addr) {
    if (addr < pos_) throw std::logic_error("HDF5 writer layout went backwards");
    static const std::byte zeros[64] = {};
    while (pos_ < addr)
      put({zeros, static_cast<std::size_t>(std::min<std::uint64_t>(64, addr - pos_))});
  }
  void block(std::uint64_t addr, std::uint64_t size, const std::string& s) {
    if (s.size() != size) throw std::logic_error("HDF5 writer block size changed between passes");
    at(addr);
    put({reinterpret_cast<const std::byte*>(s.data()), s.size()});
  }
  void put(std::span<const std::byte> b) {
    sink_.write(b);
    pos_ += b.size();
  }
  std::uint64_t pos() const { return pos_; }

 private:
  io::ByteSink& sink_;
  std::uint64_t pos_ = 0;
};

}  // namespace

// ---- WriteGroup --------------------------------------------------------------------------------

WriteGroup& WriteGroup::group(std::string_view path) {
  Node* n = node_;
  const auto parts = detail::path_components(path);
  if (parts.empty())
    throw ConfigError("HDF5 writer: empty group path \"" + std::string(path) + "\"");
  for (std::string_view part : parts) {
    if (n->datasets.find(part) != n->datasets.end())
      throw ConfigError("HDF5 writer: \"" + std::string(part) + "\" is already a dataset in \"" +
                        std::string(path) + "\"");
    auto it = n->groups.find(part);
    if (it == n->groups.end())
      it = n->groups.emplace(std::string(part), std::make_unique<Node>()).first;
    n = it->second.get();
  }
  return n->handle;
}

void WriteGroup::dataset(std::string_view name, DType dtype, std::vector<std::uint64_t> shape,
                         std::span<const std::byte> data) {
  const auto parts = detail::path_components(name);
  if (parts.empty()) throw ConfigError("HDF5 writer: empty dataset name");
  Node* parent = node_;
  if (parts.size() > 1) {
    const std::string_view dir = name.substr(0, name.rfind('/'));
    parent = group(dir).node_;
  }
  const std::string leaf(parts.back());
  if (parent->datasets.count(leaf) || parent->groups.count(leaf))
    throw ConfigError("HDF5 writer: duplicate member name \"" + std::string(name) + "\"");
  if (shape.size() > 32)
    throw ConfigError("HDF5 writer: dataset \"" + std::string(name) + "\" has rank " +
                      std::to_string(shape.size()) + " (HDF5 allows 32)");
  std::uint64_t n = 1;
  for (auto d : shape) {
    if (d != 0 && n > ~std::uint64_t{0} / d)
      throw ShapeError("HDF5 writer: dataset \"" + std::string(name) +
                       "\" element count overflows");
    n *= d;
  }
  if (n > ~std::uint64_t{0} / dtype_size(dtype) || n * dtype_size(dtype) != data.size())
    throw ShapeError("HDF5 writer: dataset \"" + std::string(name) + "\" has " +
                     std::to_string(data.size()) + " bytes for " + std::to_string(n) +
                     " elements of " + std::string(dtype_name(dtype)));
  parent->datasets.emplace(leaf, Node::Dset{dtype, std::move(shape), data});
}

void WriteGroup::attribute_string(std::string_view name, std::string_view value, bool ascii) {
  if (name.empty()) throw ConfigError("HDF5 writer: empty attribute name");
  node_->set_attr({Node::Attr::Kind::String, std::string(name), {std::string(value)}, {}, ascii});
}

void WriteGroup::attribute_strings(std::string_view name, const std::vector<std::string>& values,
                                   bool ascii) {
  if (name.empty()) throw ConfigError("HDF5 writer: empty attribute name");
  node_->set_attr({Node::Attr::Kind::Strings, std::string(name), values, {}, ascii});
}

void WriteGroup::attribute_doubles(std::string_view name, const std::vector<double>& values) {
  if (name.empty()) throw ConfigError("HDF5 writer: empty attribute name");
  node_->set_attr({Node::Attr::Kind::Doubles, std::string(name), {}, values, false});
}

// ---- Writer ------------------------------------------------------------------------------------

struct Writer::State {
  Node root;
};

Writer::Writer() : state_(std::make_unique<State>()) {}
Writer::~Writer() = default;
WriteGroup& Writer::root() {
  return state_->root.handle;
}

std::uint64_t Writer::file_size() const {
  return make_plan(state_->root).eof;
}

void Writer::write(io::ByteSink& sink) const {
  const Plan p = make_plan(state_->root);
  Emitter e(sink);
  e.block(0, kSuperblockSize, superblock(p));
  for (const GroupL& g : p.groups) {
    e.block(g.header, g.header_size, group_header(p, g));
    e.block(g.heap, 32 + g.heap_data_size, local_heap(g, g.heap));
    for (std::size_t lv = g.levels.size(); lv-- > 0;)
      for (std::size_t i = 0; i < g.levels[lv].size(); ++i)
        e.block(g.levels[lv][i].addr, kBtreeSize, btree_node(g, lv, i));
    for (std::size_t j = 0; j < g.nsnod; ++j)
      e.block(g.snod + j * kSnodSize, kSnodSize, snod(p, g, j));
  }
  for (const DsetL& d : p.dsets) e.block(d.header, d.header_size, dataset_header(p, d));
  for (const Collection& c : p.collections) e.block(c.addr, c.size, collection(c));
  for (const DsetL& d : p.dsets) {
    if (d.bytes == 0) continue;
    e.at(d.data);
    e.put(d.d->data);
  }
  if (e.pos() != p.eof) throw std::logic_error("HDF5 writer emitted a different size than planned");
}

}  // namespace kserde::hdf5
