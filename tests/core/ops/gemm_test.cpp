// ops::gemm: every kernel (one row, few rows, few columns, the packed kernel) against a float64
// product, with the float32 error bound of a k-term sum; each element as one multiply-add chain in
// order; bitwise the same for every thread count.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernel_sets.hpp"
#include "kserde/cpu.hpp"
#include "kserde/error.hpp"
#include "kserde/initializers.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "ops/gemm.hpp"
#include "ops/kernel_set.hpp"
#include "ops/thread_pool.hpp"

using namespace kserde;
using kserde::test::on_every_kernel_set;

namespace {

struct Problem {
  std::int64_t m, n, k, lda, ldb, ldc;
};

std::vector<float> random_floats(std::size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = d(rng);
  return v;
}

// Random a (m x lda) and b (k x ldb) for p.
std::pair<std::vector<float>, std::vector<float>> operands(const Problem& p, unsigned seed) {
  return {
      random_floats(static_cast<std::size_t>(std::max<std::int64_t>(p.m * p.lda, 1)), seed),
      random_floats(static_cast<std::size_t>(std::max<std::int64_t>(p.k * p.ldb, 1)), seed + 1)};
}

std::vector<float> run(const Problem& p, const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> c(static_cast<std::size_t>(p.m * p.ldc), -7.0f);  // -7: untouched padding
  ops::gemm(p.m, p.n, p.k, a.data(), p.lda, b.data(), p.ldb, c.data(), p.ldc);
  return c;
}

// Shapes that reach each kernel: 1 row (sweeps of rows, a lane tail, fewer columns than a
// vector), 2..16 rows (streaming), few columns and a short k (narrow rows), everything else
// (packed), with and without row padding (leading dimensions). The packed ones cover partial
// register tiles in rows and columns, several blocks of rows (> 240), of columns (> 1024) and of
// k (> 384), a read in place and packed (wide blocks, and rows 4 KiB apart), and few rows over
// many columns (each strip of b copied while the one before it is in use).
std::vector<Problem> problems() {
  return {{1, 300, 70, 70, 300, 300},
          {2, 64, 33, 33, 64, 64},
          {5, 1000, 129, 129, 1000, 1000},
          {16, 80, 500, 500, 80, 80},
          {16, 17, 4000, 4000, 17, 17},
          {9, 300, 64, 70, 310, 305},
          {200, 8, 9, 9, 8, 8},
          {333, 30, 64, 64, 30, 40},
          {97, 70, 90, 90, 70, 70},
          {500, 130, 300, 310, 140, 150},
          {48, 1, 5, 5, 1, 1},
          {7, 5, 0, 1, 5, 5},
          {250, 1100, 400, 400, 1100, 1100},
          {61, 100, 1030, 1030, 100, 100},
          {40, 50, 100, 1024, 50, 50},
          {17, 600, 70, 70, 600, 620},
          {64, 1100, 800, 800, 1100, 1100},
          {1, 300, 1000, 1000, 310, 300}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gemm)

BOOST_AUTO_TEST_CASE(every_kernel_matches_a_float64_product_within_float32_rounding) {
  on_every_kernel_set([&] {
    const double u = std::ldexp(1.0, -24);
    for (const Problem& p : problems()) {
      BOOST_TEST_CONTEXT("m=" << p.m << " n=" << p.n << " k=" << p.k) {
        const auto [a, b] = operands(p, 1);
        const auto c = run(p, a, b);
        int bad = 0;
        for (std::int64_t i = 0; i < p.m; ++i) {
          for (std::int64_t j = 0; j < p.ldc; ++j) {
            const float got = c[static_cast<std::size_t>(i * p.ldc + j)];
            if (j >= p.n) {
              bad += got != -7.0f;  // the padding between rows is left alone
              continue;
            }
            double exact = 0, magnitude = 0;
            for (std::int64_t q = 0; q < p.k; ++q) {
              const double t = static_cast<double>(a[static_cast<std::size_t>(i * p.lda + q)]) *
                               static_cast<double>(b[static_cast<std::size_t>(q * p.ldb + j)]);
              exact += t;
              magnitude += std::abs(t);
            }
            // Any summation order of k float32 products: |error| <= (k + 1) u sum|a_i b_i|.
            const double bound = static_cast<double>(p.k + 1) * u * magnitude + 1e-30;
            bad += !(std::abs(static_cast<double>(got) - exact) <= bound);
          }
        }
        BOOST_TEST(bad == 0);
      }
    }
  });
}

BOOST_AUTO_TEST_CASE(every_element_is_summed_in_blocks_of_384_multiply_add_chains) {
  on_every_kernel_set([&] {
    // Every kernel computes c[i][j] over k in blocks of 384 steps from the first: within a block
    // (((a0 b0 + a1 b1) + a2 b2) + ...) from zero, each step one rounding (fused multiply-add) or,
    // in a build without FMA, two; then the block sums added in order. So a row's result does not
    // depend on how many rows come with it, nor on any other blocking. Reference: those sums,
    // evaluated here element by element.
    constexpr std::int64_t kBlock = 384;
    for (const Problem& p : problems()) {
      BOOST_TEST_CONTEXT("m=" << p.m << " n=" << p.n << " k=" << p.k) {
        const auto [a, b] = operands(p, 7);
        const auto c = run(p, a, b);
        int fused_mismatch = 0, unfused_mismatch = 0;
        for (std::int64_t i = 0; i < p.m; ++i) {
          for (std::int64_t j = 0; j < p.n; ++j) {
            float fused = 0.0f, unfused = 0.0f;
            for (std::int64_t q0 = 0; q0 < p.k; q0 += kBlock) {
              float fused_block = 0.0f, unfused_block = 0.0f;
              for (std::int64_t q = q0; q < std::min(p.k, q0 + kBlock); ++q) {
                const float x = a[static_cast<std::size_t>(i * p.lda + q)];
                const float y = b[static_cast<std::size_t>(q * p.ldb + j)];
                fused_block = std::fma(x, y, fused_block);
                volatile float product = x * y;  // rounded on its own: no contraction
                unfused_block = unfused_block + product;
              }
              fused = q0 == 0 ? fused_block : fused + fused_block;
              unfused = q0 == 0 ? unfused_block : unfused + unfused_block;
            }
            const float got = c[static_cast<std::size_t>(i * p.ldc + j)];
            fused_mismatch += got != fused;
            unfused_mismatch += got != unfused;
          }
        }
        // The set rounds each multiply-add once (FMA) or twice, and always the same way.
        if (ops::active_kernels().fused) {
          BOOST_TEST(fused_mismatch == 0, fused_mismatch << " elements differ from the fused sums");
        } else {
          BOOST_TEST(unfused_mismatch == 0,
                     unfused_mismatch << " elements differ from the unfused sums");
        }
      }
    }
  });
}

BOOST_AUTO_TEST_CASE(results_are_bitwise_identical_for_any_thread_count) {
  on_every_kernel_set([&] {
    for (const Problem& p : problems()) {
      BOOST_TEST_CONTEXT("m=" << p.m << " n=" << p.n << " k=" << p.k) {
        const auto [a, b] = operands(p, 3);
        ops::set_num_threads(1);
        const auto one = run(p, a, b);
        for (std::size_t threads : {2u, 3u, 8u}) {
          ops::set_num_threads(threads);
          BOOST_TEST((run(p, a, b) == one), threads << " threads");
        }
      }
    }
    ops::set_num_threads(0);
  });
}

BOOST_AUTO_TEST_CASE(batched_products_equal_one_product_per_item_bitwise) {
  on_every_kernel_set([&] {
    // Attention's per-head products: item i of a batched product, b stored transposed or not, is
    // exactly the single product of item i with b laid out as [k, n] here. Counts below and above
    // the thread count take the two ways of splitting the work.
    const std::int64_t m = 19, n = 37, k = 45;
    for (std::size_t threads : {1u, 3u}) {
      ops::set_num_threads(threads);
      for (std::int64_t count : {2, 7}) {
        for (bool transposed : {false, true}) {
          BOOST_TEST_CONTEXT(threads << " threads, " << count << " items"
                                     << (transposed ? ", b transposed" : "")) {
            const auto a = random_floats(static_cast<std::size_t>(count * m * k), 11);
            const auto b = random_floats(static_cast<std::size_t>(count * k * n), 12);
            std::vector<float> c(static_cast<std::size_t>(count * m * n));
            ops::batched_gemm(count, m, n, k, a.data(), b.data(), transposed, c.data());
            int differing_items = 0;
            for (std::int64_t i = 0; i < count; ++i) {
              std::vector<float> bi(static_cast<std::size_t>(k * n));
              for (std::int64_t p = 0; p < k; ++p) {
                for (std::int64_t j = 0; j < n; ++j) {
                  // Stored [n, k] when transposed, [k, n] otherwise.
                  bi[static_cast<std::size_t>(p * n + j)] =
                      b[static_cast<std::size_t>(i * k * n + (transposed ? j * k + p : p * n + j))];
                }
              }
              std::vector<float> ci(static_cast<std::size_t>(m * n));
              ops::gemm(m, n, k, a.data() + i * m * k, k, bi.data(), n, ci.data(), n);
              differing_items += !std::equal(ci.begin(), ci.end(),
                                             c.begin() + static_cast<std::ptrdiff_t>(i * m * n));
            }
            BOOST_TEST(differing_items == 0);
          }
        }
      }
    }
    ops::set_num_threads(0);
  });
}

BOOST_AUTO_TEST_CASE(convolutions_are_bitwise_identical_for_any_thread_count) {
  on_every_kernel_set([&] {
    // 3x3 'same' over 7 channels (im2col + GEMM), 3x3 over 1 channel (narrow rows) and 1x1 (a plain
    // product), at a batch whose rows do not divide evenly between threads.
    for (const char* config : {R"({"filters": 40, "kernel_size": 3, "padding": "same"})",
                               R"({"filters": 8, "kernel_size": 3, "strides": 2})",
                               R"({"filters": 24, "kernel_size": 1})"}) {
      BOOST_TEST_CONTEXT(config) {
        auto m = std::make_shared<Sequential>("conv");
        m->add(layers::Input({19, 23, 7}));
        m->add(layers::from_config("Conv2D", config));
        initialize_weights(*m, 9);
        Tensor x({5, 19, 23, 7}, DType::Float32);
        const auto values = random_floats(static_cast<std::size_t>(x.num_elements()), 5);
        std::copy(values.begin(), values.end(), x.mutable_values<float>().begin());
        ops::set_num_threads(1);
        const Tensor one = m->predict(x, 5);
        for (std::size_t threads : {2u, 3u}) {
          ops::set_num_threads(threads);
          BOOST_TEST(m->predict(x, 5).bitwise_equal(one), threads << " threads");
        }
      }
    }
    ops::set_num_threads(0);
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(kernel_sets)

BOOST_AUTO_TEST_CASE(every_x86_64_set_is_compiled_and_the_cpu_decides_which_run) {
  const std::vector<KernelIsa> sets = available_kernel_isas();
  BOOST_TEST_REQUIRE(!sets.empty());
  BOOST_TEST((sets.back() == KernelIsa::Baseline));  // every CPU runs the baseline set
#if defined(__x86_64__)
  // What this CPU reports, asked independently of kserde's own check.
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f");
  const auto has = [&](KernelIsa isa) {
    return std::find(sets.begin(), sets.end(), isa) != sets.end();
  };
  BOOST_TEST(has(KernelIsa::Avx2) == avx2);
  BOOST_TEST(has(KernelIsa::Avx512) == avx512);
  // Unforced, the widest runs.
  if (std::getenv("KSERDE_KERNEL_ISA") == nullptr) {
    BOOST_TEST((kernel_isa() == (avx512 ? KernelIsa::Avx512
                                 : avx2 ? KernelIsa::Avx2
                                        : KernelIsa::Baseline)));
  }
#endif
}

BOOST_AUTO_TEST_CASE(forcing_a_set_changes_the_kernels_and_their_lane_width) {
  for (KernelIsa isa : available_kernel_isas()) {
    set_kernel_isa(isa);
    BOOST_TEST((kernel_isa() == isa));
    const std::int64_t lanes = ops::active_kernels().lanes;
    BOOST_TEST(lanes == (isa == KernelIsa::Avx512 ? 16 : isa == KernelIsa::Avx2 ? 8 : 4));
    BOOST_TEST(ops::active_kernels().fused == (isa != KernelIsa::Baseline));
  }
  set_kernel_isa(std::nullopt);
}

BOOST_AUTO_TEST_CASE(a_set_the_cpu_cannot_run_is_refused_with_the_sets_it_can) {
  const std::vector<KernelIsa> sets = available_kernel_isas();
  for (KernelIsa isa : {KernelIsa::Baseline, KernelIsa::Avx2, KernelIsa::Avx512}) {
    if (std::find(sets.begin(), sets.end(), isa) != sets.end()) continue;
    BOOST_CHECK_EXCEPTION(set_kernel_isa(isa), UnsupportedError, [&](const UnsupportedError& e) {
      return std::string(e.what()).find(std::string(kernel_isa_name(isa))) != std::string::npos;
    });
  }
  BOOST_TEST((parse_kernel_isa("avx2") == KernelIsa::Avx2));
  BOOST_TEST((parse_kernel_isa("avx512") == KernelIsa::Avx512));
  BOOST_TEST((parse_kernel_isa("baseline") == KernelIsa::Baseline));
  BOOST_TEST(!parse_kernel_isa("sse9").has_value());
}

BOOST_AUTO_TEST_CASE(sets_agree_with_each_other_within_rounding_on_a_dense_model) {
  // The same Dense model on every set: a float64 reference bounds each; the sets differ from one
  // another at most by their different rounding.
  auto m = std::make_shared<Sequential>("dense");
  m->add(layers::Input({300}));
  m->add(layers::Dense(70));
  initialize_weights(*m, 4);
  Tensor x({13, 300}, DType::Float32);
  const auto values = random_floats(static_cast<std::size_t>(x.num_elements()), 8);
  std::copy(values.begin(), values.end(), x.mutable_values<float>().begin());
  std::vector<Tensor> outs;
  on_every_kernel_set([&] { outs.push_back(m->predict(x, 13)); });
  for (const Tensor& o : outs) {
    float worst = 0;
    for (std::int64_t i = 0; i < o.num_elements(); ++i) {
      worst = std::max(worst, std::abs(o.f32()[i] - outs.front().f32()[i]));
    }
    BOOST_TEST(worst <= 1e-5f);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(scratch_buffers)

BOOST_AUTO_TEST_CASE(recycled_buffers_never_leak_into_results) {
  // Conv2D and MaxPooling2D outputs come from recycled buffers: predicting a, b, then a again
  // must give a's result bitwise, whatever the buffers held before.
  auto m = std::make_shared<Sequential>("recycled");
  m->add(layers::Input({64, 64, 3}));
  m->add(layers::from_config(
      "Conv2D", R"({"filters": 64, "kernel_size": 3, "padding": "same", "activation": "relu"})"));
  m->add(layers::from_config("MaxPooling2D", R"({"pool_size": 2})"));
  m->add(layers::Flatten());
  m->add(layers::Dense(5));
  initialize_weights(*m, 3);
  Tensor a({8, 64, 64, 3}, DType::Float32), b({8, 64, 64, 3}, DType::Float32);
  const auto va = random_floats(static_cast<std::size_t>(a.num_elements()), 6);
  const auto vb = random_floats(static_cast<std::size_t>(b.num_elements()), 7);
  std::copy(va.begin(), va.end(), a.mutable_values<float>().begin());
  std::copy(vb.begin(), vb.end(), b.mutable_values<float>().begin());
  const Tensor first = m->predict(a, 8);
  const Tensor other = m->predict(b, 8);
  BOOST_TEST(!other.bitwise_equal(first));
  BOOST_TEST(m->predict(a, 8).bitwise_equal(first));
}

BOOST_AUTO_TEST_SUITE_END()
