// NumPy .npy reader and writer.
//
// Byte layout read and written (numpy/lib/format.py, format versions 1.0, 2.0, 3.0):
//   0   "\x93NUMPY"                 magic, 6 bytes
//   6   major u8, 7 minor u8        1.0, 2.0 or 3.0
//   8   HLEN: u16 LE (1.0) or u32 LE (2.0, 3.0)
//   10 (1.0) or 12: HLEN header bytes: a Python dict literal, latin-1 (1.0, 2.0) or UTF-8 (3.0),
//       padded with spaces and ended by '\n', e.g.
//       {'descr': '<f4', 'fortran_order': False, 'shape': (4, 784), }
//   then prod(shape) elements of `descr` in C (or Fortran) order, and nothing after them.
// The writer reproduces NumPy's own header bytes (1.0, keys sorted, 21 spare spaces for growing
// the first axis, data aligned to 64), so kserde's files are byte-identical to np.save's.
#include "kserde/io/npy.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "io/posix_util.hpp"
#include "kserde/error.hpp"
#include "kserde/io/atomic_file.hpp"
#include "kserde/io/mapped_file.hpp"

namespace kserde::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;

struct Header {
  DType dtype = DType::Float32;
  bool swap = false;  // stored in the other byte order
  bool fortran = false;
  Shape shape;
};

// A strict parser for the three-key header dict (no eval: only the literals NumPy writes).
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name, const NpyLimits& limits)
      : s_(text), name_(name), limits_(limits) {}

  Header parse() {
    Header h;
    bool have_descr = false, have_fortran = false, have_shape = false;
    expect('{', "the header dict");
    for (;;) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = string_literal("a header key");
      skip_ws();
      expect(':', "':' after key '" + key + "'");
      skip_ws();
      bool* seen = key == "descr"           ? &have_descr
                   : key == "fortran_order" ? &have_fortran
                   : key == "shape"         ? &have_shape
                                            : nullptr;
      if (seen == nullptr)
        fail("unexpected key '" + key + "' (expected descr, fortran_order, shape)");
      if (*seen) fail("key '" + key + "' appears twice");
      *seen = true;
      if (key == "descr") {
        if (peek() == '[') {
          throw UnsupportedError("'" + name_ +
                                 "': field 'descr' is a structured dtype; only plain "
                                 "numeric and bool arrays are supported");
        }
        parse_descr(string_literal("field 'descr'"), h);
      } else if (key == "fortran_order") {
        h.fortran = boolean();
      } else {
        h.shape = shape();
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_ws();
      if (peek() != '}') fail("expected ',' or '}' after field '" + key + "'");
    }
    ++i_;
    skip_ws();
    if (i_ != s_.size()) fail("unexpected text after the header dict");
    if (!have_descr || !have_fortran || !have_shape) {
      fail("the header dict lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError("'" + name_ + "': bad .npy header: " + what +
                      "; the file is damaged or not "
                      "written by numpy.save");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  void expect(char c, const std::string& what) {
    if (peek() != c) fail(std::string("expected '") + c + "' to begin " + what);
    ++i_;
  }
  std::string string_literal(const std::string& what) {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string for " + what);
    const std::size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != q) {
      const auto u = static_cast<unsigned char>(s_[i_]);
      if (s_[i_] == '\\' || u < 0x20) fail("unsupported character in " + what);
      ++i_;
    }
    if (i_ == s_.size()) fail("unterminated string in " + what);
    return std::string(s_.substr(start, i_++ - start));
  }
  bool boolean() {
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      const std::string_view w(word);
      if (s_.substr(i_, w.size()) == w) {
        i_ += w.size();
        return value;
      }
    }
    fail("field 'fortran_order' must be True or False");
  }
  Shape shape() {
    expect('(', "field 'shape' (a tuple)");
    Shape shape;
    bool trailing_comma = false;
    for (;;) {
      skip_ws();
      if (peek() == ')') break;
      if (shape.size() >= limits_.max_rank) {
        throw LimitError("'" + name_ + "': field 'shape' has more than " +
                         std::to_string(limits_.max_rank) + " dimensions (NpyLimits::max_rank)");
      }
      shape.push_back(dimension());
      skip_ws();
      trailing_comma = peek() == ',';
      if (trailing_comma) {
        ++i_;
      } else if (peek() != ')') {
        fail("expected ',' or ')' in field 'shape'");
      }
    }
    ++i_;
    // Python spells a 1-tuple "(3,)"; "(3)" is the integer 3, which NumPy rejects too.
    if (shape.size() == 1 && !trailing_comma) fail("field 'shape' is not a tuple");
    return shape;
  }
  std::int64_t dimension() {
    if (peek() == '-') fail("field 'shape' has a negative dimension");
    if (peek() < '0' || peek() > '9') fail("field 'shape' holds something other than integers");
    std::int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const int d = peek() - '0';
      if (v > (std::numeric_limits<std::int64_t>::max() - d) / 10)
        fail("a dimension in field 'shape' is too large");
      v = v * 10 + d;
      ++i_;
    }
    if (peek() == 'L') ++i_;  // Python 2 long literal, as old NumPy wrote
    return v;
  }
  void parse_descr(const std::string& d, Header& h) const {
    auto unsupported = [&] {
      return UnsupportedError("'" + name_ + "': field 'descr' is '" + d +
                              "', which kserde does not "
                              "support (float16/32/64, int8-64, uint8-64 and bool are)");
    };
    if (d.size() < 3 || std::string_view("<>|=").find(d[0]) == std::string_view::npos)
      throw unsupported();
    const std::string_view code = std::string_view(d).substr(1);
    static constexpr std::pair<std::string_view, DType> kTypes[] = {
        {"f2", DType::Float16}, {"f4", DType::Float32}, {"f8", DType::Float64},
        {"i1", DType::Int8},    {"i2", DType::Int16},   {"i4", DType::Int32},
        {"i8", DType::Int64},   {"u1", DType::UInt8},   {"u2", DType::UInt16},
        {"u4", DType::UInt32},  {"u8", DType::UInt64},  {"b1", DType::Bool}};
    const auto* it = std::find_if(std::begin(kTypes), std::end(kTypes),
                                  [&](const auto& t) { return t.first == code; });
    if (it == std::end(kTypes)) throw unsupported();
    h.dtype = it->second;
    const std::size_t size = dtype_size(h.dtype);
    // '|' means "byte order not applicable", which NumPy only uses for one-byte types.
    if (d[0] == '|' && size != 1) fail("field 'descr' '" + d + "' lacks a byte order");
    const bool big = d[0] == '>' || (d[0] == '=' && std::endian::native == std::endian::big);
    h.swap = size > 1 && (big != (std::endian::native == std::endian::big));
  }

  std::string_view s_;
  std::size_t i_ = 0;
  const std::string& name_;
  const NpyLimits& limits_;
};

void copy_element(const std::byte* src, std::byte* dst, std::size_t size, bool swap) {
  if (!swap) {
    std::memcpy(dst, src, size);
  } else {
    for (std::size_t k = 0; k < size; ++k) dst[k] = src[size - 1 - k];
  }
}

std::string_view descr_of(DType dtype) {
  constexpr bool le = std::endian::native == std::endian::little;
  switch (dtype) {
    case DType::Float16:
      return le ? "<f2" : ">f2";
    case DType::Float32:
      return le ? "<f4" : ">f4";
    case DType::Float64:
      return le ? "<f8" : ">f8";
    case DType::Int8:
      return "|i1";
    case DType::Int16:
      return le ? "<i2" : ">i2";
    case DType::Int32:
      return le ? "<i4" : ">i4";
    case DType::Int64:
      return le ? "<i8" : ">i8";
    case DType::UInt8:
      return "|u1";
    case DType::UInt16:
      return le ? "<u2" : ">u2";
    case DType::UInt32:
      return le ? "<u4" : ">u4";
    case DType::UInt64:
      return le ? "<u8" : ">u8";
    case DType::Bool:
      return "|b1";
    case DType::BFloat16:
      break;  // not a NumPy dtype; converted to float32 before we get here
  }
  return "<f4";
}

// The full preamble (magic .. '\n') exactly as numpy.lib.format.write_array_header_1_0 writes it.
std::string npy_header(const Tensor& t) {
  std::string shape = "(";
  for (std::size_t i = 0; i < t.rank(); ++i) shape += (i ? ", " : "") + std::to_string(t.dim(i));
  shape += t.rank() == 1 ? ",)" : ")";
  std::string dict = "{'descr': '" + std::string(descr_of(t.dtype())) +
                     "', 'fortran_order': False, 'shape': " + shape + ", }";
  if (t.rank() > 0)
    dict.append(21 - std::to_string(t.dim(0)).size(), ' ');  // GROWTH_AXIS_MAX_DIGITS
  const std::size_t hlen = dict.size() + 1;
  const std::size_t pad = 64 - (kMagicLen + 2 + 2 + hlen) % 64;
  const std::size_t total = hlen + pad;
  if (total > 0xFFFF)
    throw UnsupportedError("tensor of rank " + std::to_string(t.rank()) +
                           " needs a .npy header too long for format 1.0");
  std::string out(kMagic, kMagicLen);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(total & 0xFF);
  out += static_cast<char>(total >> 8);
  out += dict;
  out.append(pad, ' ');
  out += '\n';
  return out;
}

// Where a .npy file's array lies and how it is stored; everything checked against the file size.
struct Layout {
  Header h;
  std::uint64_t count = 0;        // elements
  std::uint64_t data_offset = 0;  // bytes from the start of the file
};

Layout parse_layout(std::span<const std::byte> bytes, const std::string& name,
                    const NpyLimits& limits) {
  auto u8 = [&](std::size_t i) { return std::to_integer<std::uint8_t>(bytes[i]); };
  auto truncated = [&](const std::string& what) {
    return FormatError("'" + name + "': the .npy file ends inside its " + what + " (" +
                       std::to_string(bytes.size()) + " bytes); it is truncated");
  };
  const std::size_t m = std::min(bytes.size(), kMagicLen);
  if (m == 0 || std::memcmp(bytes.data(), kMagic, m) != 0) {
    throw FormatError(
        "'" + name +
        "' is not a .npy file (no \\x93NUMPY magic); pass a file written by numpy.save");
  }
  if (bytes.size() < kMagicLen + 2) throw truncated("preamble");
  const unsigned major = u8(6), minor = u8(7);
  if (major < 1 || major > 3 || minor != 0) {
    throw UnsupportedError("'" + name + "': .npy format version " + std::to_string(major) + "." +
                           std::to_string(minor) + " is not supported (1.0, 2.0 and 3.0 are)");
  }
  const std::size_t len_size = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicLen + 2 + len_size;
  if (bytes.size() < prefix) throw truncated("header length field");
  std::uint64_t hlen = 0;
  for (std::size_t k = len_size; k-- > 0;) hlen = (hlen << 8) | u8(8 + k);
  if (hlen > limits.max_header_bytes) {
    throw LimitError("'" + name + "': the .npy header claims " + std::to_string(hlen) +
                     " bytes, over the limit of " + std::to_string(limits.max_header_bytes) +
                     " (NpyLimits::max_header_bytes)");
  }
  if (hlen > bytes.size() - prefix) throw truncated("header");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + prefix, hlen);
  Layout out;
  out.h = HeaderParser(text, name, limits).parse();
  const Header& h = out.h;

  // Element count and byte size, checked before anything is allocated.
  const std::size_t item = dtype_size(h.dtype);
  std::uint64_t count = 1;
  for (std::int64_t d : h.shape) {
    const auto u = static_cast<std::uint64_t>(d);
    if (u != 0 && count > std::numeric_limits<std::uint64_t>::max() / item / u) {
      throw LimitError("'" + name + "': field 'shape' " + shape_to_string(h.shape) +
                       " has too many elements");
    }
    count *= u;
  }
  const std::uint64_t nbytes = count * item;
  if (nbytes > limits.max_bytes) {
    throw LimitError("'" + name + "': the array of shape " + shape_to_string(h.shape) + " needs " +
                     std::to_string(nbytes) + " bytes, over the limit of " +
                     std::to_string(limits.max_bytes) + " (NpyLimits::max_bytes)");
  }
  const std::uint64_t data_offset = prefix + hlen;
  if (bytes.size() - data_offset != nbytes) {
    throw FormatError("'" + name + "': the header's shape " + shape_to_string(h.shape) + " of " +
                      std::string(dtype_name(h.dtype)) + " needs " + std::to_string(nbytes) +
                      " data bytes but the file holds " +
                      std::to_string(bytes.size() - data_offset) +
                      "; the file is truncated or damaged");
  }
  out.count = count;
  out.data_offset = data_offset;
  return out;
}

// Copies `count` C-order elements into native byte order (bools normalised to 0/1).
void decode_c_order(const Header& h, const std::byte* src, std::byte* dst, std::uint64_t count) {
  const std::size_t item = dtype_size(h.dtype);
  if (!h.swap) {
    if (count) std::memcpy(dst, src, count * item);
  } else {
    for (std::uint64_t e = 0; e < count; ++e)
      copy_element(src + e * item, dst + e * item, item, h.swap);
  }
  if (h.dtype == DType::Bool) {
    // NumPy bools are 0/1; normalise any other byte so that kserde never sees an invalid bool.
    for (std::uint64_t e = 0; e < count; ++e) dst[e] = std::byte{dst[e] != std::byte{0}};
  }
}

}  // namespace

Tensor parse_npy(std::span<const std::byte> bytes, const std::string& name,
                 const NpyLimits& limits) {
  const Layout layout = parse_layout(bytes, name, limits);
  const Header& h = layout.h;
  const std::uint64_t count = layout.count;
  const std::size_t item = dtype_size(h.dtype);
  const std::uint64_t data_offset = layout.data_offset;
  Tensor t(h.shape, h.dtype);
  const std::byte* src = bytes.data() + data_offset;
  std::byte* dst = t.mutable_bytes().data();
  if (!h.fortran || h.shape.size() < 2) {
    decode_c_order(h, src, dst, count);
    return t;
  }
  if (count > 0) {
    // Fortran order: walk the C-order output with an odometer, tracking the Fortran offset.
    const std::size_t rank = h.shape.size();
    std::vector<std::uint64_t> fstride(rank), idx(rank, 0);
    for (std::size_t k = 0, s = 1; k < rank; ++k) {
      fstride[k] = s;
      s *= static_cast<std::size_t>(h.shape[k]);
    }
    std::uint64_t off = 0;
    for (std::uint64_t e = 0; e < count; ++e) {
      copy_element(src + off * item, dst + e * item, item, h.swap);
      for (std::size_t k = rank; k-- > 0;) {
        off += fstride[k];
        if (++idx[k] < static_cast<std::uint64_t>(h.shape[k])) break;
        off -= fstride[k] * idx[k];
        idx[k] = 0;
      }
    }
  }
  if (h.dtype == DType::Bool) {
    for (std::uint64_t e = 0; e < count; ++e) dst[e] = std::byte{dst[e] != std::byte{0}};
  }
  return t;
}

Tensor read_npy(const std::filesystem::path& path, const NpyLimits& limits) {
  const ByteSource src = map_file(path, true);
  return parse_npy(src.bytes, path.string(), limits);
}

std::string serialize_npy(const Tensor& tensor) {
  const Tensor t = tensor.dtype() == DType::BFloat16 ? tensor.to(DType::Float32) : tensor;
  std::string out = npy_header(t);
  const auto b = t.bytes();
  out.append(reinterpret_cast<const char*>(b.data()), b.size());
  return out;
}

void write_npy(const std::filesystem::path& path, const Tensor& tensor) {
  const Tensor t = tensor.dtype() == DType::BFloat16 ? tensor.to(DType::Float32) : tensor;
  const std::string header = npy_header(t);
  AtomicFile file(path);
  detail::UniqueFd fd(::open(file.temp_path().c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd.valid()) detail::throw_io(file.temp_path(), "cannot open the temporary file", errno);
  // Header and data written straight from their buffers: no second copy of the tensor.
  for (auto part : {std::as_bytes(std::span(header)), t.bytes()}) {
    while (!part.empty()) {
      const ssize_t n = ::write(fd.get(), part.data(), part.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        detail::throw_io(file.temp_path(), "write failed (disk full?)", errno);
      }
      part = part.subspan(static_cast<std::size_t>(n));
    }
  }
  if (fd.release_and_close() != 0) detail::throw_io(file.temp_path(), "close failed", errno);
  file.commit();
}

NpyReader::NpyReader(const std::filesystem::path& path, const NpyLimits& limits)
    : name_(path.string()), source_(map_file(path, true)) {
  const Layout layout = parse_layout(source_.bytes, name_, limits);
  shape_ = layout.h.shape;
  dtype_ = layout.h.dtype;
  swap_ = layout.h.swap;
  data_offset_ = layout.data_offset;
  if (shape_.empty() || (layout.h.fortran && shape_.size() >= 2)) {
    whole_ = parse_npy(source_.bytes, name_, limits);
    read_whole_ = true;
    return;
  }
  row_bytes_ =
      shape_[0] == 0
          ? 0
          : static_cast<std::size_t>(layout.count / static_cast<std::uint64_t>(shape_[0])) *
                dtype_size(dtype_);
}

Tensor NpyReader::rows(std::int64_t begin, std::int64_t end) const {
  if (begin < 0 || end < begin || end > rows()) {
    throw ShapeError("'" + name_ + "': rows [" + std::to_string(begin) + ", " +
                     std::to_string(end) + ") out of range for shape " + shape_to_string(shape_));
  }
  if (read_whole_) return shape_.empty() ? whole_ : whole_.slice_rows(begin, end);
  Shape s = shape_;
  s[0] = end - begin;
  const std::byte* src =
      source_.bytes.data() + data_offset_ + static_cast<std::size_t>(begin) * row_bytes_;
  const auto count = static_cast<std::uint64_t>(shape_num_elements(s));
  const bool aligned = reinterpret_cast<std::uintptr_t>(src) % dtype_size(dtype_) == 0;
  if (!swap_ && dtype_ != DType::Bool && aligned) {
    return Tensor::borrow(std::move(s), dtype_, src, source_.owner);
  }
  Tensor t = Tensor::uninitialized(std::move(s), dtype_);
  Header h;
  h.dtype = dtype_;
  h.swap = swap_;
  decode_c_order(h, src, t.mutable_bytes().data(), count);
  return t;
}

void NpyReader::release(std::int64_t begin, std::int64_t end) const {
  if (read_whole_ || row_bytes_ == 0 || begin < 0 || end <= begin || end > rows()) return;
  const std::byte* src =
      source_.bytes.data() + data_offset_ + static_cast<std::size_t>(begin) * row_bytes_;
  release_pages(source_, {src, static_cast<std::size_t>(end - begin) * row_bytes_});
}

NpyWriter::NpyWriter(const std::filesystem::path& path, Shape shape, DType dtype)
    : path_(path),
      shape_(std::move(shape)),
      dtype_(dtype == DType::BFloat16 ? DType::Float32 : dtype),
      file_(path) {
  if (shape_.empty()) throw ShapeError("'" + path_.string() + "': NpyWriter needs a first axis");
  fd_ = ::open(file_.temp_path().c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd_ < 0) detail::throw_io(file_.temp_path(), "cannot open the temporary file", errno);
  // The header describes a tensor of the final shape; only its shape and dtype are used.
  Tensor meta = Tensor::borrow(shape_, dtype_, nullptr, nullptr);
  const std::string header = npy_header(meta);
  write_all(std::as_bytes(std::span(header)));
}

NpyWriter::~NpyWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void NpyWriter::write_all(std::span<const std::byte> part) {
  while (!part.empty()) {
    const ssize_t n = ::write(fd_, part.data(), part.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      detail::throw_io(file_.temp_path(), "write failed (disk full?)", errno);
    }
    part = part.subspan(static_cast<std::size_t>(n));
  }
}

void NpyWriter::write_rows(const Tensor& rows_in) {
  const Tensor rows = rows_in.dtype() == dtype_ ? rows_in : rows_in.to(dtype_);
  Shape want = shape_;
  if (rows.rank() > 0) want[0] = rows.dim(0);
  if (rows.shape() != want || written_ + rows.dim(0) > shape_[0]) {
    throw ShapeError("'" + path_.string() + "': rows of shape " + shape_to_string(rows.shape()) +
                     " do not continue an array of shape " + shape_to_string(shape_) + " after " +
                     std::to_string(written_) + " rows");
  }
  write_all(rows.bytes());
  written_ += rows.dim(0);
}

void NpyWriter::commit() {
  if (written_ != shape_[0]) {
    throw ShapeError("'" + path_.string() + "': " + std::to_string(written_) + " of " +
                     std::to_string(shape_[0]) + " rows written");
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) detail::throw_io(file_.temp_path(), "close failed", errno);
  file_.commit();
}

}  // namespace kserde::io
