// The window and element-wise kernels of every kernel set (pool_2d, add_bias, relu) against plain
// scalar loops written here from their definitions: bitwise equal, for channel counts that reach
// the 16-, 8- and 4-lane blocks and the one-channel tail, with NaN and infinities among the inputs.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernel_sets.hpp"
#include "ops/kernel_set.hpp"

using namespace kserde;
using kserde::test::on_every_kernel_set;

namespace {

std::vector<float> inputs(std::size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  // Special values at a few fixed places (std::max skips a NaN second argument).
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), -0.0f, 0.0f};
  for (std::size_t i = 0; i < count; i += 7) v[i] = specials[(i / 7) % 5];
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Windows of size `window` every `stride` positions starting at -pad, clipped to [0, in).
std::vector<ops::WindowRange> windows(std::int64_t in, std::int64_t window, std::int64_t stride,
                                      std::int64_t pad) {
  std::vector<ops::WindowRange> out;
  for (std::int64_t start = -pad; start < in; start += stride) {
    out.push_back({std::max<std::int64_t>(start, 0), std::min(start + window, in)});
  }
  return out;
}

// Keras's max pooling (std::max over the window, row-major) or average pooling (sum in row-major
// order times 1/count), one element at a time.
std::vector<float> pool_reference(const std::vector<float>& image, std::int64_t w, std::int64_t c,
                                  const std::vector<ops::WindowRange>& ry,
                                  const std::vector<ops::WindowRange>& rx, bool max) {
  std::vector<float> out;
  for (const auto& y : ry) {
    for (const auto& x : rx) {
      for (std::int64_t ch = 0; ch < c; ++ch) {
        float acc = max ? -std::numeric_limits<float>::infinity() : 0.0f;
        for (std::int64_t iy = y.begin; iy < y.end; ++iy) {
          for (std::int64_t ix = x.begin; ix < x.end; ++ix) {
            const float v = image[static_cast<std::size_t>((iy * w + ix) * c + ch)];
            acc = max ? std::max(acc, v) : acc + v;
          }
        }
        const std::int64_t count = (y.end - y.begin) * (x.end - x.begin);
        if (!max && count > 0) acc *= 1.0f / static_cast<float>(count);
        out.push_back(acc);
      }
    }
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(window_kernels)

BOOST_AUTO_TEST_CASE(pooling_equals_the_scalar_definition_bitwise_for_every_channel_count) {
  const std::int64_t h = 7, w = 9;
  on_every_kernel_set([&] {
    // 1..3 (tail only), 4, 8, 12 = 8 + 4, 16, 29 = 16 + 8 + 4 + 1, 37 = 2 x 16 + 4 + 1.
    for (std::int64_t c : {1, 3, 4, 8, 12, 16, 29, 37}) {
      const std::vector<float> image =
          inputs(static_cast<std::size_t>(h * w * c), static_cast<unsigned>(c));
      // 3x3 windows, stride 2, one padded position before (clipped windows at the edges).
      const auto ry = windows(h, 3, 2, 1);
      const auto rx = windows(w, 3, 2, 1);
      for (bool max : {true, false}) {
        BOOST_TEST_CONTEXT("channels " << c << (max ? " max" : " average")) {
          std::vector<float> got(ry.size() * rx.size() * static_cast<std::size_t>(c), 123.0f);
          ops::active_kernels().pool_2d(image.data(), got.data(), c, w * c, ry.data(),
                                        static_cast<std::int64_t>(ry.size()), rx.data(),
                                        static_cast<std::int64_t>(rx.size()), max);
          BOOST_TEST(same_bits(got, pool_reference(image, w, c, ry, rx, max)));
        }
      }
    }
  });
}

BOOST_AUTO_TEST_CASE(max_pooling_skips_nan_as_std_max_does_and_average_propagates_it) {
  // One 2x2 window over one channel. std::max(acc, v) keeps acc unless acc < v, which is false
  // for a NaN v: the NaN is skipped. The average adds it.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> image{1.0f, nan, 3.0f, 2.0f};
  const ops::WindowRange all{0, 2};
  on_every_kernel_set([&] {
    float out = 0;
    ops::active_kernels().pool_2d(image.data(), &out, 1, 2, &all, 1, &all, 1, true);
    BOOST_TEST(out == 3.0f);
    ops::active_kernels().pool_2d(image.data(), &out, 1, 2, &all, 1, &all, 1, false);
    BOOST_TEST(std::isnan(out));
  });
}

BOOST_AUTO_TEST_CASE(add_bias_adds_the_bias_to_every_row_bitwise) {
  on_every_kernel_set([&] {
    // Channel counts dividing the 64-float span (1, 8, 32) and not (3, 65, 100); row counts that
    // leave a partial span at the end.
    for (std::int64_t f : {1, 3, 8, 32, 65, 100}) {
      for (std::int64_t rows : {1, 5, 33}) {
        BOOST_TEST_CONTEXT("f " << f << " rows " << rows) {
          const auto n = static_cast<std::size_t>(rows * f);
          std::vector<float> got = inputs(n, 3);
          const std::vector<float> bias = inputs(static_cast<std::size_t>(f), 4);
          std::vector<float> want = got;
          for (std::size_t i = 0; i < n; ++i) want[i] += bias[i % static_cast<std::size_t>(f)];
          ops::active_kernels().add_bias(got.data(), rows, f, bias.data());
          BOOST_TEST(same_bits(got, want));
        }
      }
    }
  });
}

BOOST_AUTO_TEST_CASE(relu_keeps_positives_and_zeroes_the_rest_including_nan) {
  on_every_kernel_set([&] {
    for (std::size_t n : {1u, 3u, 4u, 15u, 16u, 17u, 100u}) {
      std::vector<float> got = inputs(n, 5);
      std::vector<float> want = got;
      for (float& x : want) x = x > 0 ? x : 0.0f;  // NaN, -0 and negatives become +0
      ops::active_kernels().relu(got.data(), static_cast<std::int64_t>(n));
      BOOST_TEST(same_bits(got, want), "n " << n);
    }
  });
}

BOOST_AUTO_TEST_SUITE_END()
