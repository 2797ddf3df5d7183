// parse_json: numbers converted exactly (std::from_chars) with RapidJSON's value kinds, and every
// malformed or out-of-range number refused with a ConfigError naming the source.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <rapidjson/document.h>

#include "kserde/error.hpp"
#include "kserde/json.hpp"

using namespace kserde;

namespace {

JsonValue& first(JsonDocument& d) {
  return d[0];
}

}  // namespace

BOOST_AUTO_TEST_SUITE(parse_json_numbers)

BOOST_AUTO_TEST_CASE(integers_keep_rapidjson_kinds) {
  auto d = parse_json("[7, -7, 4294967295, 4294967296, -2147483649, 18446744073709551615]", "t");
  BOOST_TEST((*d)[0].IsInt());
  BOOST_TEST((*d)[0].GetInt() == 7);
  BOOST_TEST((*d)[1].IsInt());
  BOOST_TEST((*d)[1].GetInt() == -7);
  BOOST_TEST((*d)[2].IsUint());
  BOOST_TEST(!(*d)[2].IsInt());
  BOOST_TEST((*d)[2].GetUint() == 4294967295u);
  BOOST_TEST((*d)[3].IsUint64());
  BOOST_TEST((*d)[3].GetUint64() == 4294967296ull);
  BOOST_TEST((*d)[4].IsInt64());
  BOOST_TEST((*d)[4].GetInt64() == -2147483649ll);
  BOOST_TEST((*d)[5].GetUint64() == std::numeric_limits<std::uint64_t>::max());
}

BOOST_AUTO_TEST_CASE(integers_past_uint64_become_doubles) {
  auto d = parse_json("[123456789012345678901234567890]", "t");
  BOOST_TEST(first(*d).IsDouble());
  BOOST_TEST(first(*d).GetDouble() == 1.2345678901234568e29);
}

BOOST_AUTO_TEST_CASE(doubles_are_correctly_rounded) {
  // Values whose nearest double a naive decimal conversion misses by one unit in the last place.
  auto d = parse_json(
      "[0.1, 1e-07, 2.2250738585072011e-308, 9007199254740993.0, 1.7976931348623157e308]", "t");
  BOOST_TEST((*d)[0].GetDouble() == 0.1);
  BOOST_TEST((*d)[1].GetDouble() == 1e-07);
  BOOST_TEST((*d)[2].GetDouble() == 2.2250738585072011e-308);
  BOOST_TEST((*d)[3].GetDouble() == 9007199254740992.0);  // ties to even
  BOOST_TEST((*d)[4].GetDouble() == std::numeric_limits<double>::max());
}

BOOST_AUTO_TEST_CASE(zero_significands_and_underflow_are_zero) {
  // "0e55" made RapidJSON 1.1's own conversion call __builtin_clzll(0) (fuzz finding).
  auto d = parse_json("[0e55, 0e-300, -0.0e12, 1e-400, -1e-400]", "t");
  for (rapidjson::SizeType i = 0; i < d->Size(); ++i) BOOST_TEST((*d)[i].GetDouble() == 0.0);
  BOOST_TEST(std::signbit((*d)[2].GetDouble()));
  BOOST_TEST(std::signbit((*d)[4].GetDouble()));
}

BOOST_AUTO_TEST_CASE(python_nan_and_infinity_are_read) {
  auto d = parse_json("[NaN, Infinity, -Infinity]", "t");
  BOOST_TEST(std::isnan((*d)[0].GetDouble()));
  BOOST_TEST((*d)[1].GetDouble() == std::numeric_limits<double>::infinity());
  BOOST_TEST((*d)[2].GetDouble() == -std::numeric_limits<double>::infinity());
}

BOOST_AUTO_TEST_CASE(overflowing_and_malformed_numbers_are_config_errors) {
  for (const std::string bad : {"[1e400]", "[-1e400]", "[01]", "[1.]", "[.5]", "[1e]", "[--1]"}) {
    BOOST_TEST_CONTEXT(bad) {
      try {
        (void)parse_json(bad, "numbers.json");
        BOOST_ERROR("accepted");
      } catch (const ConfigError& e) {
        BOOST_TEST(std::string(e.what()).find("numbers.json") != std::string::npos);
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
