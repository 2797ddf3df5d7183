// Internal: the inference thread pool. One process-wide pool of persistent workers, sized by
// set_num_threads() / LoadOptions::num_threads, else the KSERDE_NUM_THREADS environment variable,
// else the number of cores. Hot loops split their rows across it with parallel_rows().
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace kserde::ops {

// Threads used for inference (>= 1).
std::size_t num_threads();
// Resizes the pool (0 = KSERDE_NUM_THREADS or all cores). Not to be called while a prediction
// runs on another thread.
void set_num_threads(std::size_t n);

namespace detail {
using RangeFn = void (*)(void* ctx, std::int64_t begin, std::int64_t end);
// Calls fn over [0, total) in `parts` ranges whose bounds (but the last end) are multiples of
// `grain`.
void run_parallel(std::int64_t total, std::int64_t parts, std::int64_t grain, RangeFn fn,
                  void* ctx);

template <class Fn>
void dispatch(std::int64_t total, std::int64_t parts, std::int64_t grain, Fn& fn) {
  using F = std::remove_reference_t<Fn>;
  run_parallel(
      total, parts, grain,
      [](void* ctx, std::int64_t b, std::int64_t e) { (*static_cast<F*>(ctx))(b, e); },
      const_cast<void*>(static_cast<const void*>(&fn)));
}
}  // namespace detail

// Row granularity of every split: a multiple of the GEMM kernels' register tile height. Every
// kernel sums each output element by the same rule (simd::kSumBlock) whatever the number of rows,
// so a part of the rows gets exactly the results it would get within all of them: bitwise
// identical for any thread count.
inline constexpr std::int64_t kRowGrain = 12;

inline constexpr double kMinWorkPerThread = 1 << 18;

namespace detail {
// Parts for `units` indivisible units: no more than threads, units and work / kMinWorkPerThread.
inline std::int64_t part_count(std::int64_t units, double work) {
  std::int64_t parts = std::min(static_cast<std::int64_t>(num_threads()), units);
  if (work / kMinWorkPerThread < static_cast<double>(parts)) {
    parts = static_cast<std::int64_t>(work / kMinWorkPerThread);
  }
  return parts;
}
}  // namespace detail

// Calls fn(begin, end) over [0, rows) in parts: every part but the last starts and ends on a
// multiple of kRowGrain, every part holds at least kRowGrain rows, and no more parts than threads
// and than `work` (an estimate of the multiply-adds) / kMinWorkPerThread. Runs inline when there
// is one part (or when called from inside the pool or while the pool is busy). Blocks until done;
// allocates nothing.
template <class Fn>
void parallel_rows(std::int64_t rows, double work, Fn&& fn) {
  const std::int64_t parts = detail::part_count(rows / kRowGrain, work);
  if (parts <= 1) {
    if (rows > 0) fn(std::int64_t{0}, rows);
    return;
  }
  detail::dispatch(rows, parts, kRowGrain, fn);
}

// Calls fn(begin, end) over [0, count) in at most num_threads() parts of at least `min_items`
// items each, fewer when `work` (multiply-adds) is too small to share. Same rules otherwise as
// parallel_rows.
template <class Fn>
void parallel_for(std::int64_t count, std::int64_t min_items, double work, Fn&& fn) {
  const std::int64_t parts = detail::part_count(count / std::max<std::int64_t>(min_items, 1), work);
  if (parts <= 1) {
    if (count > 0) fn(std::int64_t{0}, count);
    return;
  }
  detail::dispatch(count, parts, 1, fn);
}

}  // namespace kserde::ops
