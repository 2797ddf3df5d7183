// Tensor: a shape, a dtype and contiguous row-major bytes. The bytes are either owned (allocated by
// the tensor) or borrowed from memory something else keeps alive (a mapped weights file); either
// way a shared owner handle keeps them valid, so copies of a Tensor are cheap and share storage.
// Use clone() for a deep copy. Eigen views live in the internal header core/src/ops/eigen.hpp so
// that Eigen stays out of public headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "kserde/dtype.hpp"
#include "kserde/shape.hpp"

namespace kserde {

namespace detail {
// Blocks of the process-wide tensor buffer cache (64-byte aligned). Released blocks are kept for
// the next request of their size class, so steady-state predictions allocate nothing.
void* cache_allocate(std::size_t bytes);
void cache_deallocate(void* p, std::size_t bytes) noexcept;
}  // namespace detail

// A standard allocator drawing from the tensor buffer cache (stateless: all instances are equal).
template <class T>
class CachedAllocator {
 public:
  using value_type = T;
  CachedAllocator() noexcept = default;
  template <class U>
  CachedAllocator(const CachedAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(detail::cache_allocate(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { detail::cache_deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const CachedAllocator<U>&) const noexcept {
    return true;
  }
};

// Released tensor memory is kept for reuse, up to KSERDE_TENSOR_CACHE_MB (default 512; 0 keeps
// none), so that repeated predictions allocate nothing and touch no fresh pages. This returns all
// of it to the system (say, after destroying a large model); the bytes released.
std::size_t release_cached_buffers();

// Tensor storage in bytes (blocks as allocated: size classes and whole pages): in use now, the
// most in use at once since the last reset_tensor_memory_peak(), and kept by the cache. For
// diagnostics and tests.
struct TensorMemoryStats {
  std::size_t in_use = 0;
  std::size_t peak_in_use = 0;
  std::size_t cached = 0;
};
TensorMemoryStats tensor_memory_stats();
void reset_tensor_memory_peak();

class Tensor;
// A list of tensors (a layer's inputs or outputs): a std::vector whose storage comes from the
// tensor buffer cache.
using TensorList = std::vector<Tensor, CachedAllocator<Tensor>>;

// In a Shape, -1 stands for an unknown dimension (Keras's None) in shapes of symbolic tensors and
// configs. A concrete Tensor never has -1.

std::string shape_to_string(const Shape& shape);      // "(None, 4)" like Keras prints
std::int64_t shape_num_elements(const Shape& shape);  // throws ShapeError on -1 or overflow

class Tensor {
 public:
  Tensor() = default;  // an empty float32 scalar-less tensor (rank 0, no storage); valid() false
  // Zero-initialized owned tensor. Throws ShapeError for negative dims or size overflow.
  Tensor(Shape shape, DType dtype);
  // Owned tensor whose contents are unspecified (they may be an earlier result), for kernels that
  // write every element. Large buffers are recycled through a process-wide cache of released
  // ones (KSERDE_TENSOR_CACHE_MB, default 512; 0 turns it off), so that predicting again with the
  // same shapes maps no new memory. Throws like the constructor.
  static Tensor uninitialized(Shape shape, DType dtype);
  // Zero-filled owned tensor from the same recycled storage, for kernels that accumulate into
  // their output: like the constructor, but a large one reuses a released buffer (cleared)
  // instead of mapping fresh memory each call.
  static Tensor recycled_zeros(Shape shape, DType dtype);
  // Zero-filled owned tensor whose storage is its own, never drawn from or returned to the
  // buffer cache: for long-lived tensors (variables, loaded weights), so that replacing or
  // destroying them returns their memory instead of leaving it cached. Large ones are fresh
  // mappings that cost nothing until written.
  static Tensor standalone_zeros(Shape shape, DType dtype);
  // Owned copy of `values` (count must equal the shape's element count).
  static Tensor from_floats(Shape shape, std::span<const float> values);
  static Tensor from_bytes(Shape shape, DType dtype, std::span<const std::byte> bytes);
  // Borrows `data` (not copied); `owner` keeps it alive. `data` must be aligned for dtype and
  // hold exactly the element count's bytes.
  static Tensor borrow(Shape shape, DType dtype, const void* data,
                       std::shared_ptr<const void> owner);

  bool valid() const noexcept { return data_ != nullptr || num_elements_ == 0; }
  const Shape& shape() const noexcept { return shape_; }
  std::int64_t dim(std::size_t axis) const { return shape_.at(axis); }
  std::size_t rank() const noexcept { return shape_.size(); }
  DType dtype() const noexcept { return dtype_; }
  std::int64_t num_elements() const noexcept { return num_elements_; }
  std::size_t nbytes() const noexcept;
  bool is_borrowed() const noexcept { return borrowed_; }

  std::span<const std::byte> bytes() const noexcept;
  // Mutable access; a borrowed tensor is copied into owned storage first (copy on write).
  std::span<std::byte> mutable_bytes();

  // Typed views; throw kserde::Error if T does not match dtype().
  template <class T>
  std::span<const T> values() const;
  template <class T>
  std::span<T> mutable_values();
  const float* f32() const { return values<float>().data(); }
  float* f32_mut() { return mutable_values<float>().data(); }

  // New tensor with the same bytes viewed under another shape of equal element count.
  Tensor reshaped(Shape shape) const;
  // Rows [begin, end) of the first axis, sharing storage (no copy).
  Tensor slice_rows(std::int64_t begin, std::int64_t end) const;
  // Concatenates along the first axis (all other dims and the dtype must agree).
  static Tensor concat_rows(std::span<const Tensor> parts);
  // Deep copy into owned storage.
  Tensor clone() const;
  // Converted copy (or this tensor when already of `dtype`).
  Tensor to(DType dtype) const;
  // True when dtype, shape and every byte are equal.
  bool bitwise_equal(const Tensor& other) const;

 private:
  // A tensor of `shape` whose storage comes from `allocate` (zeroed, scratch or standalone).
  static Tensor with_storage(Shape shape, DType dtype,
                             std::shared_ptr<std::byte> (*allocate)(std::size_t nbytes));
  void check_dtype(DType expected) const;
  Shape shape_;
  DType dtype_ = DType::Float32;
  std::int64_t num_elements_ = 0;
  std::shared_ptr<const void> owner_;
  std::byte* data_ = nullptr;
  bool borrowed_ = false;
};

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
  return DType::Int32;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::Int64;
}
template <>
constexpr DType dtype_of<std::int8_t>() {
  return DType::Int8;
}
template <>
constexpr DType dtype_of<std::uint8_t>() {
  return DType::UInt8;
}
template <>
constexpr DType dtype_of<bool>() {
  return DType::Bool;
}

template <class T>
std::span<const T> Tensor::values() const {
  check_dtype(dtype_of<T>());
  return {reinterpret_cast<const T*>(data_), static_cast<std::size_t>(num_elements_)};
}

template <class T>
std::span<T> Tensor::mutable_values() {
  check_dtype(dtype_of<T>());
  auto b = mutable_bytes();
  return {reinterpret_cast<T*>(b.data()), static_cast<std::size_t>(num_elements_)};
}

}  // namespace kserde
