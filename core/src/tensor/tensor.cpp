#include "kserde/tensor.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>

#include "kserde/error.hpp"

namespace kserde {

namespace {

// Tensors of kPageThreshold bytes or more come straight from the kernel, so that releasing one
// returns its pages and a cached block can serve any smaller request. Anonymous memory is already
// zero (no memset pass touching every page before the real data is written). From kMapThreshold
// on, a mapping starts on a 2 MiB boundary and is advised MADV_HUGEPAGE, so filling it takes one
// page fault per 2 MiB instead of one per 4 KiB where transparent huge pages are enabled
// ("madvise" or "always").
constexpr std::size_t kPage = std::size_t{4} << 10;
constexpr std::size_t kHuge = std::size_t{2} << 20;
constexpr std::size_t kPageThreshold = std::size_t{64} << 10;
constexpr std::size_t kMapThreshold = std::size_t{4} << 20;

// Whole pages, not whole huge pages: the kernel backs the 2 MiB-aligned part of a large mapping
// with huge pages and its tail with small ones, so no tensor pays for up to 2 MiB it never uses.
std::size_t mapped_size(std::size_t nbytes) {
  return (nbytes + kPage - 1) / kPage * kPage;
}

// A fresh anonymous mapping of mapped_size(nbytes) bytes (the caller unmaps it).
std::byte* map_fresh(std::size_t nbytes) {
  const std::size_t size = mapped_size(nbytes);
  if (size < kMapThreshold) {
    void* raw = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    return static_cast<std::byte*>(raw);
  }
  void* raw =
      ::mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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
  return p;
}

// Released tensor storage kept for reuse: a prediction's activations have the same sizes every
// call, so in steady state every buffer (and every shared_ptr control block) a call needs comes
// from here and the call makes no heap allocation and maps no memory (a fresh mapping costs a page
// fault and a kernel-side clear per page, ~12 us per 4 KiB where huge pages are off). Small blocks
// (< kPageThreshold) are kept in power-of-two classes on intrusive free lists, mappings in a
// table. A tensor takes the smallest cached block at least its size (a buffer an earlier, wider
// layer released serves a later, narrower one): a mapping, or a small block of its class or a
// larger one. The allocator interface (control blocks, tensor lists), which frees by byte count,
// takes its exact class or mapping size.
//
// The cache never holds more than a prediction's peak. Each kind (small blocks, mappings) keeps
// its high-water mark: the most bytes of it in use at once since the last trim. When no cached
// block can serve a request and the new block would take the kind's bytes in use plus cached
// above that mark (plus a small slack for small blocks), cached blocks of the kind are returned
// to the system first: smaller ones, largest first, then larger ones. A miss that stays under the
// mark evicts nothing, so calls whose parts run in a different order (a pool worker late on a
// busy machine) settle on a set of blocks that serves every order instead of trading one class
// for another on every call. (The kinds are bounded apart: a small block cannot serve a
// mapping's request or the reverse.) Neither bookkeeping allocates.
class BufferCache {
 public:
  static constexpr std::size_t kMinBlock = 64;
  static constexpr std::size_t kClasses = 11;  // 64 B .. 64 KiB
  static constexpr std::size_t kLargeSlots = 256;
  // Small blocks are rounded up to classes and taken across classes, so the bytes a set of calls
  // needs can exceed the most in use during any one; this much more may stay cached.
  static constexpr std::size_t kSmallSlack = std::size_t{16} << 10;

  BufferCache() : budget_(budget_from_env()) {}
  BufferCache(const BufferCache&) = delete;
  BufferCache& operator=(const BufferCache&) = delete;
  // Returns every cached block to the system and restarts the high-water marks; the bytes
  // released.
  std::size_t trim() noexcept {
    FreeBlock* small[kClasses] = {};
    LargeBlock large[kLargeSlots];
    std::size_t large_count = 0;
    std::size_t released = 0;
    {
      std::lock_guard<std::mutex> lk(m_);
      std::copy(small_, small_ + kClasses, small);
      std::fill(small_, small_ + kClasses, nullptr);
      std::copy(large_, large_ + large_count_, large);
      large_count = large_count_;
      large_count_ = 0;
      released = cached_;
      cached_ = 0;
      for (Kind* k : {&small_kind_, &large_kind_}) {
        k->cached = 0;
        k->high_water = k->in_use;
      }
    }
    for (FreeBlock* b : small) {
      while (b != nullptr) {
        FreeBlock* next = b->next;
        std::free(b);
        b = next;
      }
    }
    for (std::size_t i = 0; i < large_count; ++i) ::munmap(large[i].p, large[i].size);
    return released;
  }

  static std::size_t class_of(std::size_t nbytes) {
    std::size_t c = 0;
    while ((kMinBlock << c) < nbytes) ++c;
    return c;
  }
  static std::size_t class_bytes(std::size_t c) { return kMinBlock << c; }

  // A 64-byte aligned block of class `c` (exact) or the smallest cached class above it, contents
  // unspecified; its class in `*got`.
  std::byte* take_small(std::size_t c, std::size_t* got, bool exact) {
    FreeBlock* evicted = nullptr;  // chained through next, freed after the lock
    {
      std::lock_guard<std::mutex> lk(m_);
      for (std::size_t k = c; k < (exact ? c + 1 : kClasses); ++k) {
        if (FreeBlock* b = small_[k]) {
          small_[k] = b->next;
          uncache(small_kind_, class_bytes(k));
          acquired(small_kind_, class_bytes(k));
          *got = k;
          return reinterpret_cast<std::byte*>(b);
        }
      }
      acquired(small_kind_, class_bytes(c));
      // Over the mark: give back cached blocks of smaller classes, largest first. (Larger ones
      // serve any request; an exact request that finds only those may leave the kind over its
      // mark by the blocks it makes, at most its own class's peak demand.)
      auto over = [&] { return small_kind_.total() > small_kind_.high_water + kSmallSlack; };
      auto evict_from = [&](std::size_t k) {
        while (over() && small_[k] != nullptr) {
          FreeBlock* b = small_[k];
          small_[k] = b->next;
          b->next = evicted;
          evicted = b;
          uncache(small_kind_, class_bytes(k));
        }
      };
      for (std::size_t k = c; k-- > 0 && over();) evict_from(k);
    }
    while (evicted != nullptr) {
      FreeBlock* next = evicted->next;
      std::free(evicted);
      evicted = next;
    }
    *got = c;
    void* p = std::aligned_alloc(kMinBlock, class_bytes(c));
    if (p == nullptr) {
      released(small_kind_, class_bytes(c));
      throw std::bad_alloc();
    }
    return static_cast<std::byte*>(p);
  }

  void give_small(std::byte* p, std::size_t c) noexcept {
    {
      std::lock_guard<std::mutex> lk(m_);
      in_use_ -= class_bytes(c);
      small_kind_.in_use -= class_bytes(c);
      if (fits(class_bytes(c))) {
        auto* b = reinterpret_cast<FreeBlock*>(p);
        b->next = small_[c];
        small_[c] = b;
        cache(small_kind_, class_bytes(c));
        return;
      }
    }
    std::free(p);
  }

  // A mapping of at least mapped_size(bytes) (exactly that when `exact`), cached or fresh; its
  // size in `*got`.
  std::byte* take_large(std::size_t bytes, std::size_t* got, bool exact = false) {
    // Cached blocks are whole mappings: compare with the mapping these bytes would get, or a
    // buffer just over a multiple would never find its own block again.
    const std::size_t size = mapped_size(bytes);
    LargeBlock evicted[kLargeSlots];
    std::size_t evicted_count = 0;
    {
      std::lock_guard<std::mutex> lk(m_);
      std::size_t best = large_count_;
      for (std::size_t i = 0; i < large_count_; ++i) {
        const std::size_t s = large_[i].size;
        if (s >= size && (!exact || s == size) && (best == large_count_ || s < large_[best].size)) {
          best = i;
        }
      }
      if (best != large_count_) {
        *got = large_[best].size;
        std::byte* p = large_[best].p;
        uncache(large_kind_, large_[best].size);
        acquired(large_kind_, large_[best].size);
        large_[best] = large_[--large_count_];
        return p;
      }
      acquired(large_kind_, size);
      // Over the mark: give back cached mappings too small for this request, largest first.
      while (large_kind_.total() > large_kind_.high_water) {
        std::size_t pick = large_count_;
        for (std::size_t i = 0; i < large_count_; ++i) {
          if (large_[i].size < size && (pick == large_count_ || large_[i].size > large_[pick].size))
            pick = i;
        }
        if (pick == large_count_) break;
        uncache(large_kind_, large_[pick].size);
        evicted[evicted_count++] = large_[pick];
        large_[pick] = large_[--large_count_];
      }
    }
    for (std::size_t i = 0; i < evicted_count; ++i) ::munmap(evicted[i].p, evicted[i].size);
    try {
      std::byte* p = map_fresh(bytes);
      *got = size;
      return p;
    } catch (...) {
      std::lock_guard<std::mutex> lk(m_);
      released(large_kind_, size);
      throw;
    }
  }

  void give_large(std::byte* p, std::size_t size) noexcept {
    {
      std::lock_guard<std::mutex> lk(m_);
      in_use_ -= size;
      large_kind_.in_use -= size;
      if (large_count_ < kLargeSlots && fits(size)) {
        large_[large_count_++] = {size, p};
        cache(large_kind_, size);
        return;
      }
    }
    ::munmap(p, size);
  }

  // Storage outside the cache (long-lived tensors), counted in the statistics only.
  void note_acquired(std::size_t bytes) noexcept {
    std::lock_guard<std::mutex> lk(m_);
    in_use_ += bytes;
    peak_in_use_ = std::max(peak_in_use_, in_use_);
  }
  void note_released(std::size_t bytes) noexcept {
    std::lock_guard<std::mutex> lk(m_);
    in_use_ -= bytes;
  }

  TensorMemoryStats stats() noexcept {
    std::lock_guard<std::mutex> lk(m_);
    return {in_use_, peak_in_use_, cached_};
  }
  void reset_peak() noexcept {
    std::lock_guard<std::mutex> lk(m_);
    peak_in_use_ = in_use_;
  }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  struct LargeBlock {
    std::size_t size = 0;
    std::byte* p = nullptr;
  };
  // One kind's bytes: in use (taken from the cache or made for it), cached, and the most in use
  // at once since the last trim.
  struct Kind {
    std::size_t in_use = 0;
    std::size_t cached = 0;
    std::size_t high_water = 0;
    std::size_t total() const { return in_use + cached; }
  };

  bool fits(std::size_t size) const { return size <= budget_ && cached_ <= budget_ - size; }
  // Called with m_ held.
  void acquired(Kind& k, std::size_t bytes) noexcept {
    k.in_use += bytes;
    k.high_water = std::max(k.high_water, k.in_use);
    in_use_ += bytes;
    peak_in_use_ = std::max(peak_in_use_, in_use_);
  }
  void released(Kind& k, std::size_t bytes) noexcept {
    k.in_use -= bytes;
    in_use_ -= bytes;
  }
  void cache(Kind& k, std::size_t bytes) noexcept {
    k.cached += bytes;
    cached_ += bytes;
  }
  void uncache(Kind& k, std::size_t bytes) noexcept {
    k.cached -= bytes;
    cached_ -= bytes;
  }

  static std::size_t budget_from_env() {
    std::size_t mb = 512;
    if (const char* env = std::getenv("KSERDE_TENSOR_CACHE_MB")) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(env, &end, 10);
      if (end != env && *end == '\0' && v < (std::size_t{1} << 40))
        mb = static_cast<std::size_t>(v);
    }
    return mb << 20;
  }

  std::mutex m_;
  FreeBlock* small_[kClasses] = {};
  LargeBlock large_[kLargeSlots];
  std::size_t large_count_ = 0;
  Kind small_kind_;
  Kind large_kind_;
  std::size_t cached_ = 0;
  std::size_t in_use_ = 0;
  std::size_t peak_in_use_ = 0;
  const std::size_t budget_;
};

static_assert((BufferCache::kMinBlock << (BufferCache::kClasses - 1)) == kPageThreshold);

// Never destroyed: tensors, lists and control blocks released during static destruction (a
// model held in a static) still find it. Its cached blocks stay reachable from it until exit.
BufferCache& buffer_cache() {
  alignas(BufferCache) static unsigned char storage[sizeof(BufferCache)];
  static BufferCache* const cache = ::new (storage) BufferCache();
  return *cache;
}

struct SmallBlockDeleter {
  std::size_t cls;
  void operator()(std::byte* q) const noexcept { buffer_cache().give_small(q, cls); }
};

struct LargeBlockDeleter {
  std::size_t size;
  void operator()(std::byte* q) const noexcept { buffer_cache().give_large(q, size); }
};

struct UnmapDeleter {
  std::size_t size;
  void operator()(std::byte* q) const noexcept {
    ::munmap(q, size);
    buffer_cache().note_released(size);
  }
};

struct FreeDeleter {
  std::size_t size;
  void operator()(std::byte* q) const noexcept {
    std::free(q);
    buffer_cache().note_released(size);
  }
};

// Owned storage whose control block comes from the cache too. (Should that allocation throw, the
// shared_ptr constructor hands `p` to the deleter: nothing leaks.)
template <class Deleter>
std::shared_ptr<std::byte> own(std::byte* p, Deleter d) {
  return {p, d, CachedAllocator<std::byte>()};
}

// Scratch storage, recycled; never cleared.
std::shared_ptr<std::byte> allocate_scratch(std::size_t nbytes) {
  BufferCache& c = buffer_cache();
  if (nbytes < kPageThreshold) {
    std::size_t cls = 0;
    std::byte* p = c.take_small(BufferCache::class_of(nbytes), &cls, false);
    return own(p, SmallBlockDeleter{cls});
  }
  std::size_t size = 0;
  std::byte* p = c.take_large(nbytes, &size);
  return own(p, LargeBlockDeleter{size});
}

// 64-byte aligned, so that SIMD loops see aligned rows and mapped/borrowed data keeps the same
// alignment guarantees as owned data. Large zeroed tensors are fresh mappings: their pages are
// zero without a clearing pass and cost nothing until written. Kernels that write every element
// use Tensor::uninitialized, which recycles.
std::shared_ptr<std::byte> allocate_zeroed(std::size_t nbytes) {
  if (nbytes < kMapThreshold) {
    auto storage = allocate_scratch(nbytes);
    std::memset(storage.get(), 0, nbytes);
    return storage;
  }
  const std::size_t size = mapped_size(nbytes);
  std::byte* p = map_fresh(nbytes);
  buffer_cache().note_acquired(size);
  return own(p, UnmapDeleter{size});
}

// Zeroed storage of its own, never taken from the cache nor given back to it: for long-lived
// tensors (variables, loaded weights), whose blocks would otherwise stay cached, touched, after
// they are replaced or destroyed.
std::shared_ptr<std::byte> allocate_standalone(std::size_t nbytes) {
  if (nbytes >= kPageThreshold) {
    const std::size_t size = mapped_size(nbytes);
    std::byte* p = map_fresh(nbytes);
    buffer_cache().note_acquired(size);
    return own(p, UnmapDeleter{size});
  }
  const std::size_t size =
      std::max(BufferCache::kMinBlock, (nbytes + BufferCache::kMinBlock - 1) /
                                           BufferCache::kMinBlock * BufferCache::kMinBlock);
  void* p = std::aligned_alloc(BufferCache::kMinBlock, size);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, size);
  buffer_cache().note_acquired(size);
  return own(static_cast<std::byte*>(p), FreeDeleter{size});
}

}  // namespace

namespace detail {

// Blocks of kPageThreshold bytes or more are mappings of exactly mapped_size(bytes):
// deallocation knows only the byte count.
void* cache_allocate(std::size_t bytes) {
  if (bytes >= kPageThreshold) {
    std::size_t got = 0;
    return buffer_cache().take_large(bytes, &got, true);
  }
  std::size_t cls = 0;
  return buffer_cache().take_small(BufferCache::class_of(bytes), &cls, true);
}

void cache_deallocate(void* p, std::size_t bytes) noexcept {
  if (bytes >= kPageThreshold) {
    buffer_cache().give_large(static_cast<std::byte*>(p), mapped_size(bytes));
    return;
  }
  buffer_cache().give_small(static_cast<std::byte*>(p), BufferCache::class_of(bytes));
}

}  // namespace detail

std::size_t release_cached_buffers() {
  return buffer_cache().trim();
}

TensorMemoryStats tensor_memory_stats() {
  return buffer_cache().stats();
}

void reset_tensor_memory_peak() {
  buffer_cache().reset_peak();
}

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
    : Tensor(with_storage(std::move(shape), dtype, allocate_zeroed)) {}

Tensor Tensor::with_storage(Shape shape, DType dtype,
                            std::shared_ptr<std::byte> (*allocate)(std::size_t nbytes)) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.num_elements_ = shape_num_elements(t.shape_);
  if (static_cast<std::uint64_t>(t.num_elements_) > std::numeric_limits<std::size_t>::max() / 8) {
    throw ShapeError("shape " + shape_to_string(t.shape_) + " is too large");
  }
  auto storage = allocate(t.nbytes());
  t.data_ = storage.get();
  t.owner_ = std::move(storage);
  return t;
}

Tensor Tensor::standalone_zeros(Shape shape, DType dtype) {
  return with_storage(std::move(shape), dtype, allocate_standalone);
}

Tensor Tensor::uninitialized(Shape shape, DType dtype) {
  return with_storage(std::move(shape), dtype, allocate_scratch);
}

Tensor Tensor::recycled_zeros(Shape shape, DType dtype) {
  Tensor t = uninitialized(std::move(shape), dtype);
  if (t.nbytes()) std::memset(t.data_, 0, t.nbytes());
  return t;
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

std::span<const std::byte> Tensor::bytes() const noexcept {
  return {data_, nbytes()};
}

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
    throw ShapeError("cannot reshape " + shape_to_string(shape_) + " to " + shape_to_string(shape));
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

Tensor Tensor::concat_rows(std::span<const Tensor> parts) {
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
  Tensor out = uninitialized(shape, parts[0].dtype());  // every byte is written below
  std::size_t offset = 0;
  for (const Tensor& p : parts) {
    if (p.nbytes()) std::memcpy(out.data_ + offset, p.data_, p.nbytes());
    offset += p.nbytes();
  }
  return out;
}

Tensor Tensor::clone() const {
  Tensor t = uninitialized(shape_, dtype_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t = uninitialized(shape_, dtype);
  convert_elements(data_, dtype_, t.data_, dtype, static_cast<std::size_t>(num_elements_));
  return t;
}

bool Tensor::bitwise_equal(const Tensor& other) const {
  return dtype_ == other.dtype_ && shape_ == other.shape_ &&
         (nbytes() == 0 || std::memcmp(data_, other.data_, nbytes()) == 0);
}

}  // namespace kserde
