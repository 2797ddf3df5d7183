// Shape: the dimensions of a tensor, with std::vector's interface for what shapes need. Up to
// kInlineRank dimensions live inside the object, so making, copying and reshaping tensors of the
// ranks Keras models use allocates nothing (a prediction in steady state makes no heap
// allocation); higher ranks, which HDF5 files may declare, spill to the heap.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <span>
#include <vector>

namespace kserde {

class Shape {
 public:
  using value_type = std::int64_t;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using reference = std::int64_t&;
  using const_reference = const std::int64_t&;
  using pointer = std::int64_t*;
  using const_pointer = const std::int64_t*;
  using iterator = std::int64_t*;
  using const_iterator = const std::int64_t*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  static constexpr std::size_t kInlineRank = 6;

  Shape() noexcept = default;
  Shape(std::initializer_list<std::int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(std::size_t rank, std::int64_t value = 0) { resize(rank, value); }
  template <std::input_iterator It>
  Shape(It first, It last) {
    for (; first != last; ++first) push_back(static_cast<std::int64_t>(*first));
  }
  // Shapes and std::vector<std::int64_t> (config tuples, strides) convert both ways.
  Shape(const std::vector<std::int64_t>& dims) {  // NOLINT(google-explicit-constructor)
    assign(dims.data(), dims.data() + dims.size());
  }
  std::vector<std::int64_t> to_vector() const { return {begin(), end()}; }
  operator std::span<const std::int64_t>() const noexcept {  // NOLINT(google-explicit-constructor)
    return {data_, size_};
  }

  Shape(const Shape& other) { assign(other.begin(), other.end()); }
  Shape(Shape&& other) noexcept { take(other); }
  Shape& operator=(const Shape& other) {
    if (this != &other) assign(other.begin(), other.end());
    return *this;
  }
  Shape& operator=(Shape&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  Shape& operator=(std::initializer_list<std::int64_t> dims) {
    assign(dims.begin(), dims.end());
    return *this;
  }
  ~Shape() { release(); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::int64_t* data() noexcept { return data_; }
  const std::int64_t* data() const noexcept { return data_; }

  std::int64_t& operator[](std::size_t i) noexcept { return data_[i]; }
  const std::int64_t& operator[](std::size_t i) const noexcept { return data_[i]; }
  // Throws std::out_of_range like std::vector::at.
  std::int64_t& at(std::size_t i);
  const std::int64_t& at(std::size_t i) const;
  std::int64_t& front() noexcept { return data_[0]; }
  const std::int64_t& front() const noexcept { return data_[0]; }
  std::int64_t& back() noexcept { return data_[size_ - 1]; }
  const std::int64_t& back() const noexcept { return data_[size_ - 1]; }

  iterator begin() noexcept { return data_; }
  iterator end() noexcept { return data_ + size_; }
  const_iterator begin() const noexcept { return data_; }
  const_iterator end() const noexcept { return data_ + size_; }
  const_iterator cbegin() const noexcept { return data_; }
  const_iterator cend() const noexcept { return data_ + size_; }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }

  void clear() noexcept { size_ = 0; }
  void reserve(std::size_t rank) {
    if (rank > capacity_) grow(rank);
  }
  void resize(std::size_t rank, std::int64_t value = 0);
  void push_back(std::int64_t dim) {
    if (size_ == capacity_) grow(size_ + 1);
    data_[size_++] = dim;
  }
  void emplace_back(std::int64_t dim) { push_back(dim); }
  void pop_back() noexcept { --size_; }
  iterator insert(const_iterator pos, std::int64_t dim);
  template <std::input_iterator It>
  iterator insert(const_iterator pos, It first, It last) {
    const std::size_t at = static_cast<std::size_t>(pos - begin());
    for (std::size_t i = at; first != last; ++first, ++i) insert(begin() + i, *first);
    return begin() + at;
  }
  iterator insert(const_iterator pos, std::size_t count, std::int64_t dim);
  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  iterator erase(const_iterator first, const_iterator last);
  void assign(const std::int64_t* first, const std::int64_t* last);
  void assign(std::size_t rank, std::int64_t value) {
    clear();
    resize(rank, value);
  }
  void assign(std::initializer_list<std::int64_t> dims) { assign(dims.begin(), dims.end()); }
  template <std::input_iterator It>
  void assign(It first, It last) {
    clear();
    for (; first != last; ++first) push_back(static_cast<std::int64_t>(*first));
  }

  friend bool operator==(const Shape& a, const Shape& b) noexcept;
  friend std::strong_ordering operator<=>(const Shape& a, const Shape& b) noexcept;

 private:
  void grow(std::size_t rank);
  void release() noexcept;
  void take(Shape& other) noexcept;
  bool is_inline() const noexcept { return data_ == inline_; }

  std::int64_t inline_[kInlineRank] = {};
  std::int64_t* data_ = inline_;
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = kInlineRank;
};

}  // namespace kserde
