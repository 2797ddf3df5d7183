#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>

#include "kserde/dtype.hpp"
#include "kserde/error.hpp"
#include "kserde/tensor.hpp"

using namespace kserde;

BOOST_AUTO_TEST_SUITE(dtype)

// Reference bit patterns from IEEE 754 binary16 / bfloat16 tables (hand-worked).
BOOST_AUTO_TEST_CASE(half_round_trips_known_bit_patterns) {
  BOOST_TEST(half_to_float(0x3c00) == 1.0f);
  BOOST_TEST(half_to_float(0xc000) == -2.0f);
  BOOST_TEST(half_to_float(0x7bff) == 65504.0f);
  BOOST_TEST(half_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  BOOST_TEST(half_to_float(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
  BOOST_TEST(std::isinf(half_to_float(0x7c00)));
  BOOST_TEST(std::isnan(half_to_float(0x7e00)));
  BOOST_TEST(float_to_half(1.0f) == 0x3c00);
  BOOST_TEST(float_to_half(65504.0f) == 0x7bff);
  BOOST_TEST(float_to_half(65520.0f) == 0x7c00);  // rounds up to infinity
  BOOST_TEST(float_to_half(std::ldexp(1.0f, -24)) == 0x0001);
  BOOST_TEST(float_to_half(std::ldexp(1.0f, -25)) == 0x0000);  // tie rounds to even (zero)
  BOOST_TEST(float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie to even
  BOOST_TEST(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);
  for (std::uint32_t h = 0; h < 0x7c00; ++h) {  // every finite positive half survives
    BOOST_TEST_REQUIRE(float_to_half(half_to_float(static_cast<std::uint16_t>(h))) == h);
  }
}

BOOST_AUTO_TEST_CASE(bfloat16_rounds_to_nearest_even) {
  BOOST_TEST(bfloat16_to_float(0x3f80) == 1.0f);
  BOOST_TEST(float_to_bfloat16(1.0f) == 0x3f80);
  BOOST_TEST(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);   // tie -> even
  BOOST_TEST(float_to_bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);
}

BOOST_AUTO_TEST_CASE(convert_truncates_and_saturates_like_numpy_astype) {
  const float src[] = {1.9f, -1.9f, 300.0f, 0.0f};
  std::int8_t dst[4];
  convert_elements(src, DType::Float32, dst, DType::Int8, 4);
  BOOST_TEST(dst[0] == 1);
  BOOST_TEST(dst[1] == -1);
  BOOST_TEST(dst[2] == 127);
  BOOST_TEST(dst[3] == 0);
  const std::int64_t big[] = {(std::int64_t{1} << 62) + 1};
  std::int64_t out[1];
  convert_elements(big, DType::Int64, out, DType::Int64, 1);
  BOOST_TEST(out[0] == big[0]);
}

BOOST_AUTO_TEST_CASE(names_match_keras_spelling) {
  BOOST_TEST(dtype_name(DType::BFloat16) == "bfloat16");
  BOOST_TEST(dtype_from_name("float64").value() == DType::Float64);
  BOOST_TEST(!dtype_from_name("complex64").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tensor)

BOOST_AUTO_TEST_CASE(borrowed_tensor_copies_on_write_and_keeps_owner_alive) {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
  Tensor t = Tensor::borrow({2, 2}, DType::Float32, owner->data(), owner);
  std::weak_ptr<std::vector<float>> weak = owner;
  owner.reset();
  BOOST_TEST(!weak.expired());
  BOOST_TEST(t.is_borrowed());
  BOOST_TEST(t.values<float>()[3] == 4.0f);
  t.mutable_values<float>()[0] = 9.0f;
  BOOST_TEST(!t.is_borrowed());
  BOOST_TEST(weak.expired());
  BOOST_TEST(t.values<float>()[0] == 9.0f);
}

BOOST_AUTO_TEST_CASE(shape_errors_are_typed) {
  BOOST_CHECK_THROW(Tensor({-1, 2}, DType::Float32), ShapeError);
  BOOST_CHECK_THROW(Tensor({1LL << 40, 1LL << 40}, DType::Float32), ShapeError);
  Tensor t({2, 3}, DType::Float32);
  BOOST_CHECK_THROW((void)t.reshaped({4, 2}), ShapeError);
  BOOST_CHECK_THROW((void)t.values<double>(), Error);
  BOOST_TEST(shape_to_string({-1, 4}) == "(None, 4)");
  BOOST_TEST(shape_to_string({3}) == "(3,)");
}

BOOST_AUTO_TEST_SUITE_END()
