#include "kserde/shape.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace kserde {

std::int64_t& Shape::at(std::size_t i) {
  if (i >= size_) {
    throw std::out_of_range("Shape::at: axis " + std::to_string(i) + " of a rank-" +
                            std::to_string(size_) + " shape");
  }
  return data_[i];
}

const std::int64_t& Shape::at(std::size_t i) const {
  return const_cast<Shape*>(this)->at(i);
}

void Shape::grow(std::size_t rank) {
  if (rank > std::numeric_limits<std::uint32_t>::max()) throw std::length_error("Shape: rank");
  const std::size_t cap = std::max<std::size_t>(rank, std::size_t{2} * capacity_);
  auto* heap = new std::int64_t[cap];  // owned by this Shape; freed in release()
  std::copy(begin(), end(), heap);
  release();
  data_ = heap;
  capacity_ = static_cast<std::uint32_t>(cap);
}

void Shape::release() noexcept {
  if (!is_inline()) delete[] data_;
  data_ = inline_;
  capacity_ = kInlineRank;
}

void Shape::take(Shape& other) noexcept {
  const auto n = other.size_;
  if (other.is_inline()) {
    std::copy(other.inline_, other.inline_ + n, inline_);
    data_ = inline_;
    capacity_ = kInlineRank;
  } else {
    data_ = other.data_;
    capacity_ = other.capacity_;
    other.data_ = other.inline_;
    other.capacity_ = kInlineRank;
  }
  size_ = n;
  other.size_ = 0;
}

void Shape::resize(std::size_t rank, std::int64_t value) {
  reserve(rank);
  for (std::size_t i = size_; i < rank; ++i) data_[i] = value;
  size_ = static_cast<std::uint32_t>(rank);
}

void Shape::assign(const std::int64_t* first, const std::int64_t* last) {
  const auto n = static_cast<std::size_t>(last - first);
  // `first` may point into this shape (s.assign(s.begin() + 1, s.end())): move, do not reallocate
  // first.
  if (n > capacity_) {
    Shape copy;
    copy.grow(n);
    std::copy(first, last, copy.data_);
    copy.size_ = static_cast<std::uint32_t>(n);
    *this = std::move(copy);
    return;
  }
  std::copy(first, last, data_);
  size_ = static_cast<std::uint32_t>(n);
}

Shape::iterator Shape::insert(const_iterator pos, std::int64_t dim) {
  return insert(pos, 1, dim);
}

Shape::iterator Shape::insert(const_iterator pos, std::size_t count, std::int64_t dim) {
  const auto at = static_cast<std::size_t>(pos - begin());
  reserve(size_ + count);
  std::copy_backward(data_ + at, data_ + size_, data_ + size_ + count);
  std::fill(data_ + at, data_ + at + count, dim);
  size_ += static_cast<std::uint32_t>(count);
  return data_ + at;
}

Shape::iterator Shape::erase(const_iterator first, const_iterator last) {
  const auto a = static_cast<std::size_t>(first - begin());
  const auto b = static_cast<std::size_t>(last - begin());
  std::copy(data_ + b, data_ + size_, data_ + a);
  size_ -= static_cast<std::uint32_t>(b - a);
  return data_ + a;
}

bool operator==(const Shape& a, const Shape& b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

std::strong_ordering operator<=>(const Shape& a, const Shape& b) noexcept {
  return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
}

}  // namespace kserde
