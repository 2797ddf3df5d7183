// Timing shared by kserde_bench and kserde_torch_bench, so that kserde and its LibTorch reference
// are measured the same way. Header-only and free of kserde: the LibTorch bench does not link it.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

inline double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median of `runs` timings of fn (after one untimed warm-up when warm).
inline double time_median(int runs, const std::function<void()>& fn, bool warm = true) {
  if (warm) fn();
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(since(t0));
  }
  return median(t);
}

// One warm-up call, then the median per-call time, repeating until ~0.5 s have passed (at least
// 3 calls, at most 200).
inline double time_adaptive(const std::function<void()>& fn) {
  fn();
  std::vector<double> t;
  const auto start = Clock::now();
  while (t.size() < 3 || (since(start) < 0.5 && t.size() < 200)) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(since(t0));
  }
  return median(t);
}

}  // namespace bench
