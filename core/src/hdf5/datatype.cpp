// Datatype, dataspace and fill value messages.
//
// Datatype (0x3): class | version<<4 (1) | class bits (3) | element size (4) | properties:
//   0 fixed-point: bit offset (2) | precision (2); bits: 0 byte order (1=BE), 3 signed
//   1 float: bit offset (2) | precision (2) | exponent location (1) | exponent size (1) |
//            mantissa location (1) | mantissa size (1) | exponent bias (4);
//            bits: 0 and 6 byte order (00 LE, 01 BE, 10 VAX), 8..15 sign location
//   3 string: no properties; bits 0..3 padding, 4..7 character set
//   5 opaque: ASCII tag, bits 0..7 give its (8-padded) length
//   8 enum: base type | names (NUL-terminated, 8-padded before version 3) | values (base size each);
//           bits 0..15 member count
//   9 variable-length: base type; bits 0..3 kind (1 = string), 4..7 padding, 8..11 character set
// Dataspace (0x1): version (1) | rank (1) | flags (1) | v1: reserved (5) / v2: type (1: 0 scalar,
//   1 simple, 2 null) | dims (L x rank) | [max dims (L x rank) if flags&1] |
//   [v1 permutation (L x rank) if flags&2]
// Fill value (0x5): v1/v2: version | alloc time | write time | defined | [size (4) | value]
//   (v1 always has size+value; v2 only when defined); v3: version | flags | [size (4) | value if
//   flags&0x20]. Old fill value (0x4): size (4) | value.
#include <algorithm>
#include <cstring>

#include "hdf5/internal.hpp"

namespace kserde::hdf5::detail {

void swap_bytes(std::byte* p, std::size_t size, std::uint64_t n) noexcept {
  if (size < 2) return;
  for (std::uint64_t i = 0; i < n; ++i, p += size) std::reverse(p, p + size);
}

TypeInfo parse_datatype(Cursor& c, int depth) {
  if (depth > 8) c.fail("datatype nested too deeply");
  TypeInfo t;
  const std::size_t start = c.pos();
  const std::uint8_t b0 = c.u8();
  const unsigned cls = b0 & 0x0f, version = b0 >> 4;
  if (version < 1 || version > 4) c.fail("datatype version " + std::to_string(version));
  const std::uint8_t b1 = c.u8(), b2 = c.u8();
  c.skip(1);
  const std::uint32_t size = c.u32();
  if (size == 0) c.fail("datatype of size 0");
  Datatype& d = t.pub;
  d.size = size;
  switch (cls) {
    case 0: {  // fixed-point
      const std::uint16_t offset = c.u16(), precision = c.u16();
      d.cls = Datatype::Class::Integer;
      d.big_endian = (b1 & 1) != 0;
      d.is_signed = (b1 & 8) != 0;
      if (offset == 0 && precision == size * 8) {
        switch (size) {
          case 1: d.dtype = d.is_signed ? DType::Int8 : DType::UInt8; break;
          case 2: d.dtype = d.is_signed ? DType::Int16 : DType::UInt16; break;
          case 4: d.dtype = d.is_signed ? DType::Int32 : DType::UInt32; break;
          case 8: d.dtype = d.is_signed ? DType::Int64 : DType::UInt64; break;
          default: break;
        }
      }
      break;
    }
    case 1: {  // IEEE float
      const std::uint16_t offset = c.u16(), precision = c.u16();
      const std::uint8_t eloc = c.u8(), esize = c.u8(), mloc = c.u8(), msize = c.u8();
      const std::uint32_t bias = c.u32();
      d.cls = Datatype::Class::Float;
      const unsigned order = b1 & 0x41;
      d.big_endian = order == 0x01;
      const bool ieee_layout = order != 0x40 && offset == 0 && precision == size * 8 && mloc == 0 &&
                               b2 == size * 8 - 1;
      if (ieee_layout) {
        if (size == 2 && eloc == 10 && esize == 5 && msize == 10 && bias == 15) d.dtype = DType::Float16;
        if (size == 4 && eloc == 23 && esize == 8 && msize == 23 && bias == 127) d.dtype = DType::Float32;
        if (size == 8 && eloc == 52 && esize == 11 && msize == 52 && bias == 1023) d.dtype = DType::Float64;
      }
      break;
    }
    case 3:  // fixed-length string
      d.cls = Datatype::Class::String;
      t.str_pad = b1 & 0x0f;
      d.utf8 = ((b1 >> 4) & 0x0f) == 1;
      break;
    case 5:  // opaque: 2-byte opaque is how Keras stores bfloat16
      d.cls = Datatype::Class::Opaque;
      c.skip(b1);
      if (size == 2) d.dtype = DType::BFloat16;
      break;
    case 8: {  // enum; h5py's bool is int8 {FALSE=0, TRUE=1}
      d.cls = Datatype::Class::Enum;
      const unsigned n = b1 | (static_cast<unsigned>(b2) << 8);
      const TypeInfo base = parse_datatype(c, depth + 1);
      if (base.pub.cls != Datatype::Class::Integer || base.pub.size != size) c.fail("enum base type is not an integer of the enum's size");
      if (n > c.remaining()) c.fail("enum member count " + std::to_string(n) + " exceeds the message");
      std::vector<std::string> names;
      for (unsigned i = 0; i < n; ++i) {
        const Bytes rest = c.data().subspan(c.pos());
        const auto* p = reinterpret_cast<const char*>(rest.data());
        const std::size_t len = strnlen(p, rest.size());
        if (len == rest.size()) c.fail("unterminated enum member name");
        names.emplace_back(p, len);
        c.skip(version < 3 ? (len + 8) / 8 * 8 : len + 1);
      }
      if (static_cast<std::uint64_t>(n) * size > c.remaining()) c.fail("enum values exceed the message");
      Bytes values = c.bytes(static_cast<std::uint64_t>(n) * size);
      if (size == 1 && n == 2) {
        bool is_bool = true;
        for (unsigned i = 0; i < 2; ++i) {
          const auto v = static_cast<std::uint8_t>(values[i]);
          if (!((names[i] == "FALSE" && v == 0) || (names[i] == "TRUE" && v == 1))) is_bool = false;
        }
        if (is_bool) d.dtype = DType::Bool;
      }
      break;
    }
    case 9: {  // variable-length
      const unsigned kind = b1 & 0x0f;
      const TypeInfo base = parse_datatype(c, depth + 1);
      if (kind == 1) {
        d.cls = Datatype::Class::String;
        d.variable_length = true;
        d.utf8 = (b2 & 0x0f) == 1;
        if (size != 16) c.fail("variable-length string descriptor of size " + std::to_string(size));
      }
      (void)base;
      break;
    }
    default:
      d.cls = Datatype::Class::Other;
      t.encoded_size = 0;  // unknown: callers rely on the enclosing message's size
      return t;
  }
  t.encoded_size = c.pos() - start;
  return t;
}

Dataspace parse_dataspace(Cursor& c, std::uint32_t max_rank) {
  Dataspace s;
  const std::uint8_t version = c.u8();
  const std::uint8_t rank = c.u8();
  const std::uint8_t flags = c.u8();
  if (version == 1) {
    c.skip(5);
  } else if (version == 2) {
    const std::uint8_t type = c.u8();
    if (type > 2) c.fail("dataspace type " + std::to_string(type));
    if (type == 2) {
      s.null = true;
      s.count = 0;
      return s;
    }
    if (type == 0 && rank != 0) c.fail("scalar dataspace with rank " + std::to_string(rank));
  } else {
    c.fail("dataspace version " + std::to_string(version));
  }
  if (rank > max_rank || rank > 32) {
    c.fs().limit(c.path(), "dataspace rank " + std::to_string(rank) + " exceeds max_rank " +
                               std::to_string(std::min<std::uint32_t>(max_rank, 32)));
  }
  std::uint64_t count = 1;
  bool overflow = false;
  for (unsigned i = 0; i < rank; ++i) {
    const std::uint64_t d = c.len();
    s.dims.push_back(d);
    if (d != 0 && count > ~std::uint64_t{0} / d) overflow = true;
    count *= d;
  }
  if (overflow) c.fail("dataspace element count overflows 64 bits");
  if (flags & 1) c.skip(8ULL * rank);
  s.count = count;
  return s;
}

std::vector<std::byte> parse_fill_value(const ObjectHeader& oh, const FileState& fs,
                                        std::string_view path, std::size_t element_size) {
  std::vector<std::byte> out;
  auto take = [&](Cursor& c) {
    const std::uint32_t size = c.u32();
    Bytes v = c.bytes(size);
    if (size == element_size) out.assign(v.begin(), v.end());
  };
  if (const Message* m = oh.find(msg::Fill)) {
    Cursor c(fs, m->data, path, "fill value message");
    const std::uint8_t version = c.u8();
    if (version == 1 || version == 2) {
      c.skip(2);
      const std::uint8_t defined = c.u8();
      if (version == 1 || defined) take(c);
    } else if (version == 3) {
      const std::uint8_t flags = c.u8();
      if (flags & 0x20) take(c);
    } else {
      c.fail("version " + std::to_string(version));
    }
  } else if (const Message* old = oh.find(msg::FillOld)) {
    Cursor c(fs, old->data, path, "old fill value message");
    take(c);
  }
  return out;
}

}  // namespace kserde::hdf5::detail
