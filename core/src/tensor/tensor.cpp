#include "kserde/tensor.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "kserde/error.hpp"

namespace kserde {

namespace {

// Large tensors (weights, big activations) come straight from the kernel: anonymous memory is
// already zero (no memset pass touching every page before the real data is written), starts on a
// 2 MiB boundary and is advised MADV_HUGEPAGE, so filling it takes one page fault per 2 MiB
// instead of one per 4 KiB where transparent huge pages are enabled ("madvise" or "always").
constexpr std::size_t kHuge = std::size_t{2} << 20;
constexpr std::size_t kMapThreshold = std::size_t{4} << 20;

std::shared_ptr<std::byte> allocate_mapped(std::size_t nbytes) {
  const std::size_t size = (nbytes + kHuge - 1) / kHuge * kHuge;
  void* raw = ::mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t start = (base + kHuge - 1) / kHuge * kHuge;
  if (start > base) ::munmap(raw, start - base);
  const std::uintptr_t tail = base + size + kHuge - (start + size);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(start + size), tail);
  auto* p = reinterpret_cast<std::byte*>(start);
#ifdef MADV_HUGEPAGE
  ::madvise(p, size, MADV_HUGEPAGE);  // advisory; ignored where THP is off
#endif
  return {p, [size](std::byte* q) { ::munmap(q, size); }};
}

// 64-byte aligned, so that Eigen and SIMD loops see aligned rows and mapped/borrowed data keeps the
// same alignment guarantees as owned data.
std::shared_ptr<std::byte> allocate_zeroed(std::size_t nbytes) {
  if (nbytes >= kMapThreshold) return allocate_mapped(nbytes);
  const std::size_t rounded = (nbytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, nbytes);
  return {static_cast<std::byte*>(p), [](std::byte* q) { std::free(q); }};
}

}  // namespace

std::string shape_to_string(const Shape& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i] < 0 ? "None" : std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::int64_t shape_num_elements(const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) throw ShapeError("shape " + shape_to_string(shape) + " has an unknown dimension");
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) {
      throw ShapeError("shape " + shape_to_string(shape) + " has too many elements");
    }
    n *= d;
  }
  return n;
}

Tensor::Tensor(Shape shape, DType dtype)
    : shape_(std::move(shape)), dtype_(dtype), num_elements_(shape_num_elements(shape_)) {
  if (static_cast<std::uint64_t>(num_elements_) >
      std::numeric_limits<std::size_t>::max() / 8) {
    throw ShapeError("shape " + shape_to_string(shape_) + " is too large");
  }
  auto storage = allocate_zeroed(nbytes());
  data_ = storage.get();
  owner_ = std::move(storage);
}

Tensor Tensor::from_floats(Shape shape, std::span<const float> values) {
  Tensor t(std::move(shape), DType::Float32);
  if (values.size() != static_cast<std::size_t>(t.num_elements_)) {
    throw ShapeError("from_floats: " + std::to_string(values.size()) + " values for shape " +
                     shape_to_string(t.shape_));
  }
  if (!values.empty()) std::memcpy(t.data_, values.data(), values.size_bytes());
  return t;
}

Tensor Tensor::from_bytes(Shape shape, DType dtype, std::span<const std::byte> bytes) {
  Tensor t(std::move(shape), dtype);
  if (bytes.size() != t.nbytes()) {
    throw ShapeError("from_bytes: " + std::to_string(bytes.size()) + " bytes for shape " +
                     shape_to_string(t.shape_) + " of " + std::string(dtype_name(dtype)));
  }
  if (!bytes.empty()) std::memcpy(t.data_, bytes.data(), bytes.size());
  return t;
}

Tensor Tensor::borrow(Shape shape, DType dtype, const void* data,
                      std::shared_ptr<const void> owner) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.num_elements_ = shape_num_elements(t.shape_);
  // Borrowed bytes are never written through: mutable access copies first.
  t.data_ = const_cast<std::byte*>(static_cast<const std::byte*>(data));
  t.owner_ = std::move(owner);
  t.borrowed_ = true;
  return t;
}

std::size_t Tensor::nbytes() const noexcept {
  return static_cast<std::size_t>(num_elements_) * dtype_size(dtype_);
}

std::span<const std::byte> Tensor::bytes() const noexcept { return {data_, nbytes()}; }

std::span<std::byte> Tensor::mutable_bytes() {
  if (borrowed_) {
    auto storage = allocate_zeroed(nbytes());
    if (nbytes()) std::memcpy(storage.get(), data_, nbytes());
    data_ = storage.get();
    owner_ = std::move(storage);
    borrowed_ = false;
  }
  return {data_, nbytes()};
}

void Tensor::check_dtype(DType expected) const {
  if (expected != dtype_) {
    throw Error("tensor of dtype " + std::string(dtype_name(dtype_)) + " accessed as " +
                std::string(dtype_name(expected)));
  }
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_num_elements(shape) != num_elements_) {
    throw ShapeError("cannot reshape " + shape_to_string(shape_) + " to " +
                     shape_to_string(shape));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice_rows(std::int64_t begin, std::int64_t end) const {
  if (rank() == 0 || begin < 0 || end < begin || end > shape_[0]) {
    throw ShapeError("row slice [" + std::to_string(begin) + ", " + std::to_string(end) +
                     ") out of range for shape " + shape_to_string(shape_));
  }
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.num_elements_ = shape_num_elements(t.shape_);
  const std::size_t row_bytes = shape_[0] == 0 ? 0 : nbytes() / static_cast<std::size_t>(shape_[0]);
  t.data_ = data_ + static_cast<std::size_t>(begin) * row_bytes;
  // A slice shares the parent's storage; writes must not reach the parent, so mark it borrowed.
  t.borrowed_ = true;
  return t;
}

Tensor Tensor::concat_rows(const std::vector<Tensor>& parts) {
  if (parts.empty()) throw ShapeError("concat_rows of no tensors");
  if (parts.size() == 1) return parts[0];
  Shape shape = parts[0].shape();
  if (shape.empty()) throw ShapeError("concat_rows of scalars");
  std::int64_t rows = 0;
  for (const Tensor& p : parts) {
    Shape a = p.shape(), b = shape;
    if (a.size() != b.size() || p.dtype() != parts[0].dtype()) {
      throw ShapeError("concat_rows: mismatched parts " + shape_to_string(a) + " and " +
                       shape_to_string(b));
    }
    a[0] = b[0] = 0;
    if (a != b) {
      throw ShapeError("concat_rows: mismatched parts " + shape_to_string(p.shape()) + " and " +
                       shape_to_string(shape));
    }
    rows += p.shape()[0];
  }
  shape[0] = rows;
  Tensor out(shape, parts[0].dtype());
  std::size_t offset = 0;
  for (const Tensor& p : parts) {
    if (p.nbytes()) std::memcpy(out.data_ + offset, p.data_, p.nbytes());
    offset += p.nbytes();
  }
  return out;
}

Tensor Tensor::clone() const {
  Tensor t(shape_, dtype_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t(shape_, dtype);
  convert_elements(data_, dtype_, t.data_, dtype, static_cast<std::size_t>(num_elements_));
  return t;
}

bool Tensor::bitwise_equal(const Tensor& other) const {
  return dtype_ == other.dtype_ && shape_ == other.shape_ &&
         (nbytes() == 0 || std::memcmp(data_, other.data_, nbytes()) == 0);
}

}  // namespace kserde
