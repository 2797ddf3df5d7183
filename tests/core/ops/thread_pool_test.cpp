// ops::parallel_for / parallel_rows: every index handed out exactly once across many back-to-back
// calls (the hand-over between spinning workers), parts dealt to the same thread every call,
// exceptions reaching the caller, nested calls running inline, and the split rules.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ops/thread_pool.hpp"

using namespace kserde;

namespace {

// Work estimate large enough for every thread to get a part.
constexpr double kPlentyOfWork = 1e12;

struct ThreadsGuard {
  ~ThreadsGuard() { ops::set_num_threads(0); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(thread_pool)

BOOST_AUTO_TEST_CASE(back_to_back_calls_cover_every_index_exactly_once) {
  ThreadsGuard guard;
  for (std::size_t threads : {1u, 2u, 3u, 8u}) {
    ops::set_num_threads(threads);
    constexpr std::int64_t kCount = 97;
    std::vector<std::atomic<int>> hits(kCount);
    int calls_with_gaps = 0;
    for (int call = 0; call < 3000; ++call) {
      ops::parallel_for(kCount, 1, kPlentyOfWork, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)].fetch_add(1);
      });
      bool once = true;
      for (auto& h : hits) once = once && h.exchange(0) == 1;
      calls_with_gaps += !once;
    }
    BOOST_TEST(calls_with_gaps == 0, threads << " threads");
  }
}

BOOST_AUTO_TEST_CASE(parallel_rows_parts_start_on_the_row_grain) {
  ThreadsGuard guard;
  ops::set_num_threads(3);
  const std::int64_t rows = 10 * ops::kRowGrain + 5;
  std::atomic<int> misaligned{0}, covered{0};
  ops::parallel_rows(rows, kPlentyOfWork, [&](std::int64_t b, std::int64_t e) {
    misaligned += b % ops::kRowGrain != 0 || (e != rows && e % ops::kRowGrain != 0);
    covered += static_cast<int>(e - b);
  });
  BOOST_TEST(misaligned.load() == 0);
  BOOST_TEST(covered.load() == rows);
}

BOOST_AUTO_TEST_CASE(an_exception_in_a_part_reaches_the_caller_and_the_pool_keeps_working) {
  ThreadsGuard guard;
  ops::set_num_threads(4);
  BOOST_CHECK_THROW(ops::parallel_for(64, 1, kPlentyOfWork,
                                      [](std::int64_t b, std::int64_t) {
                                        if (b > 0) throw std::runtime_error("part failed");
                                      }),
                    std::runtime_error);
  std::atomic<std::int64_t> sum{0};
  ops::parallel_for(64, 1, kPlentyOfWork, [&](std::int64_t b, std::int64_t e) { sum += e - b; });
  BOOST_TEST(sum.load() == 64);
}

BOOST_AUTO_TEST_CASE(a_call_from_inside_a_part_runs_inline) {
  ThreadsGuard guard;
  ops::set_num_threads(2);
  std::atomic<std::int64_t> inner{0};
  ops::parallel_for(8, 1, kPlentyOfWork, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      ops::parallel_for(10, 1, kPlentyOfWork,
                        [&](std::int64_t ib, std::int64_t ie) { inner += ie - ib; });
    }
  });
  BOOST_TEST(inner.load() == 80);
}

BOOST_AUTO_TEST_CASE(each_thread_runs_the_same_parts_every_call_even_when_a_worker_is_late) {
  // Per-thread scratch reaches its size in the first call only if a thread always gets the same
  // rows: a worker that is late must still run its own part, not find it taken by the caller.
  // Here the worker is late every call: the pause before each call lets it fall asleep, and
  // waking it takes longer than the caller's trivial part.
  ThreadsGuard guard;
  ops::set_num_threads(2);
  const auto caller = std::this_thread::get_id();
  int calls_with_a_part_on_the_wrong_thread = 0;
  for (int call = 0; call < 40; ++call) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::atomic<int> parts{0}, wrong{0};
    ops::parallel_for(2, 1, kPlentyOfWork, [&](std::int64_t b, std::int64_t e) {
      wrong += (b == 0) != (std::this_thread::get_id() == caller);
      parts += static_cast<int>(e - b);
    });
    BOOST_TEST(parts.load() == 2);
    calls_with_a_part_on_the_wrong_thread += wrong.load() != 0;
  }
  BOOST_TEST(calls_with_a_part_on_the_wrong_thread == 0);
}

BOOST_AUTO_TEST_CASE(small_work_runs_as_one_part_on_the_caller) {
  ThreadsGuard guard;
  ops::set_num_threads(4);
  int parts = 0;  // not atomic: one part only, on this thread
  ops::parallel_for(1000, 1, ops::kMinWorkPerThread * 1.5,
                    [&](std::int64_t, std::int64_t) { ++parts; });
  BOOST_TEST(parts == 1);
}

BOOST_AUTO_TEST_SUITE_END()
