#include "ops/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kserde::ops {

namespace {

thread_local bool t_in_pool = false;

std::size_t default_threads() {
  if (const char* env = std::getenv("KSERDE_NUM_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v > 0) return static_cast<std::size_t>(std::min(v, 1024L));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

class Pool {
 public:
  explicit Pool(std::size_t threads) : threads_(threads) {
    for (std::size_t i = 1; i < threads; ++i) workers_.emplace_back([this, i] { loop(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_.store(true, std::memory_order_release);
    }
    cv_work_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  std::size_t threads() const { return threads_; }

  // False when the pool is busy (another caller) or this is a worker: run inline then.
  bool run(std::int64_t total, std::int64_t parts, std::int64_t grain, detail::RangeFn fn,
           void* ctx) {
    if (t_in_pool || workers_.empty()) return false;
    std::unique_lock<std::mutex> call(call_m_, std::try_to_lock);
    if (!call.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = fn;
      ctx_ = ctx;
      total_ = total;
      parts_ = parts;
      grain_ = grain;
      pending_.store(workers_.size(), std::memory_order_relaxed);
      error_ = nullptr;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_work_.notify_all();  // no system call when every worker is still spinning
    t_in_pool = true;
    work(0);
    t_in_pool = false;
    spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; });
    std::unique_lock<std::mutex> lk(m_);
    cv_done_.wait(lk, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  // Waking a sleeping thread costs tens of microseconds on a virtual machine, as much as a whole
  // layer's share of work at small batch. So before sleeping, workers watch for the next call and
  // the caller for their completion for up to kSpin: back-to-back layers then hand over without
  // a system call, while an idle pool still sleeps.
  static constexpr std::chrono::microseconds kSpin{200};

  template <class Ready>
  static bool spin_until(Ready ready) {
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (;;) {
      for (int i = 0; i < 64; ++i) {
        if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      if (std::chrono::steady_clock::now() >= deadline) return ready();
    }
  }

  // Parts are dealt out by thread, not taken by whoever comes first: thread t (the caller is 0)
  // runs parts t, t + threads, ... So every call of a given shape gives each thread the same
  // rows, and a thread's scratch (grown once, per thread) reaches its size in the first call,
  // however late a worker is scheduled: steady-state calls allocate nothing on a busy machine
  // too. The price: the caller waits for a descheduled worker instead of doing that part itself.
  void work(std::size_t self) {
    const std::int64_t units = total_ / grain_;
    const auto stride = static_cast<std::int64_t>(threads_);
    for (auto p = static_cast<std::int64_t>(self); p < parts_; p += stride) {
      const std::int64_t b = units * p / parts_ * grain_;
      const std::int64_t e = p + 1 == parts_ ? total_ : units * (p + 1) / parts_ * grain_;
      try {
        fn_(ctx_, b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(m_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  void loop(std::size_t self) {
    t_in_pool = true;
    std::uint64_t seen = 0;
    auto called = [&] {
      return stop_.load(std::memory_order_acquire) ||
             generation_.load(std::memory_order_acquire) != seen;
    };
    for (;;) {
      if (!spin_until(called)) {
        std::unique_lock<std::mutex> lk(m_);
        cv_work_.wait(lk, called);
      }
      if (stop_.load(std::memory_order_acquire)) return;
      {
        // The call's fields were written under m_ before generation_ moved.
        std::lock_guard<std::mutex> lk(m_);
        seen = generation_.load(std::memory_order_relaxed);
      }
      work(self);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // Under m_, so that a caller between its check and its wait cannot miss this.
        std::lock_guard<std::mutex> lk(m_);
        cv_done_.notify_one();
      }
    }
  }

  std::size_t threads_;
  std::vector<std::thread> workers_;
  std::mutex call_m_;
  std::mutex m_;
  std::condition_variable cv_work_, cv_done_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> pending_{0};
  detail::RangeFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::int64_t total_ = 0, parts_ = 0, grain_ = 1;
  std::exception_ptr error_;
};

std::mutex g_pool_m;
std::shared_ptr<Pool> g_pool;

std::shared_ptr<Pool> pool() {
  std::lock_guard<std::mutex> lk(g_pool_m);
  if (!g_pool) g_pool = std::make_shared<Pool>(default_threads());
  return g_pool;
}

}  // namespace

std::size_t num_threads() {
  return pool()->threads();
}

void set_num_threads(std::size_t n) {
  const std::size_t want = n == 0 ? default_threads() : std::min<std::size_t>(n, 1024);
  std::shared_ptr<Pool> old;
  {
    std::lock_guard<std::mutex> lk(g_pool_m);
    if (g_pool && g_pool->threads() == want) return;
    old = std::move(g_pool);
    g_pool = std::make_shared<Pool>(want);
  }
  // `old` joins its workers here (after any caller still holding it has finished).
}

namespace detail {

void run_parallel(std::int64_t total, std::int64_t parts, std::int64_t grain, RangeFn fn,
                  void* ctx) {
  const std::shared_ptr<Pool> p = pool();
  if (!p->run(total, parts, grain, fn, ctx)) fn(ctx, 0, total);
}

}  // namespace detail

}  // namespace kserde::ops
