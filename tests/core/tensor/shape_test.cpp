// Shape: std::vector's behaviour for the operations shapes use, inline up to kInlineRank
// dimensions and on the heap beyond (checked against std::vector doing the same operations).
#include <boost/test/unit_test.hpp>
#include <stdexcept>
#include <vector>

#include "kserde/shape.hpp"

// GCC 12 at -O2 reports std::vector<long>::insert itself (its reallocating path, inlined here) as
// a potential null dereference; the reference vector below is plain standard-library use.
#pragma GCC diagnostic ignored "-Wnull-dereference"

using kserde::Shape;

namespace {

bool same(const Shape& s, const std::vector<std::int64_t>& v) {
  return std::vector<std::int64_t>(s.begin(), s.end()) == v && s.size() == v.size();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(shape)

BOOST_AUTO_TEST_CASE(edits_match_std_vector_below_and_above_the_inline_rank) {
  for (std::size_t rank : {std::size_t{0}, std::size_t{3}, Shape::kInlineRank,
                           Shape::kInlineRank + 1, std::size_t{20}}) {
    Shape s;
    std::vector<std::int64_t> v;
    for (std::size_t i = 0; i < rank; ++i) {
      s.push_back(static_cast<std::int64_t>(i) + 1);
      v.push_back(static_cast<std::int64_t>(i) + 1);
    }
    BOOST_TEST(same(s, v));
    s.insert(s.begin(), -1);
    v.insert(v.begin(), -1);
    s.insert(s.begin() + 1, 2, 7);
    v.insert(v.begin() + 1, 2, 7);
    BOOST_TEST(same(s, v));
    s.erase(s.begin() + 1);
    v.erase(v.begin() + 1);
    s.erase(s.begin(), s.begin() + 1);
    v.erase(v.begin(), v.begin() + 1);
    BOOST_TEST(same(s, v));
    s.resize(rank + 4, 9);
    v.resize(rank + 4, 9);
    BOOST_TEST(same(s, v));
    s.pop_back();
    v.pop_back();
    BOOST_TEST(same(s, v));
    const std::vector<std::int64_t> tail(v.begin() + 1, v.end());
    s.insert(s.end(), tail.begin(), tail.end());
    v.insert(v.end(), tail.begin(), tail.end());
    BOOST_TEST(same(s, v));
  }
}

BOOST_AUTO_TEST_CASE(copies_and_moves_keep_values_whether_inline_or_on_the_heap) {
  const Shape small{2, 3};
  const Shape big{1, 2, 3, 4, 5, 6, 7, 8, 9};
  Shape a = small;
  Shape b = big;
  BOOST_TEST(same(a, {2, 3}));
  BOOST_TEST(same(b, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  Shape c = std::move(b);
  BOOST_TEST(same(c, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  BOOST_TEST(b.empty());  // NOLINT(bugprone-use-after-move): a moved-from Shape is empty
  Shape d = std::move(a);
  BOOST_TEST(same(d, {2, 3}));
  d = c;  // inline <- heap
  BOOST_TEST(d == c);
  c = small;  // heap <- inline
  BOOST_TEST(same(c, {2, 3}));
  c = c;  // self-assignment
  BOOST_TEST(same(c, {2, 3}));
  d.assign(d.begin() + 1, d.end());  // from its own elements
  BOOST_TEST(same(d, {2, 3, 4, 5, 6, 7, 8, 9}));
}

BOOST_AUTO_TEST_CASE(converts_compares_and_checks_bounds_like_a_vector) {
  const std::vector<std::int64_t> v{4, -1, 5};
  const Shape s = v;
  BOOST_TEST(s.to_vector() == v);
  BOOST_TEST((Shape(3, 1) == Shape{1, 1, 1}));
  BOOST_TEST((Shape{1, 2} < Shape{1, 3}));
  BOOST_TEST((Shape{1, 2} < Shape{1, 2, 0}));
  BOOST_TEST((Shape{1, 2} != Shape{1, 2, 0}));
  const std::span<const std::int64_t> view = s;
  BOOST_TEST(view.size() == 3u);
  BOOST_TEST(view[1] == -1);
  BOOST_TEST(s.at(2) == 5);
  BOOST_CHECK_THROW(s.at(3), std::out_of_range);
  BOOST_TEST(s.front() == 4);
  BOOST_TEST(s.back() == 5);
  BOOST_TEST(*s.rbegin() == 5);
}

BOOST_AUTO_TEST_SUITE_END()
