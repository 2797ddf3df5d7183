// The tensor buffer cache (core/src/tensor/tensor.cpp): released blocks serve later requests, a
// zeroed request is cleared, trimming returns everything, and what the cache holds plus what is in
// use never exceeds the most that was in use at once, for small (< 64 KiB) blocks as for mappings.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kserde/tensor.hpp"

using namespace kserde;

namespace {

Tensor floats(std::int64_t count) {
  return Tensor::uninitialized({count}, DType::Float32);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(buffer_cache)

BOOST_AUTO_TEST_CASE(a_released_large_buffer_is_reused_for_the_next_one_of_its_size) {
  // A recycled buffer still holds what was written to it; a fresh mapping would read as zeros.
  const void* first = nullptr;
  {
    Tensor t = Tensor::uninitialized({3, 1024, 1024}, DType::Float32);  // 12 MiB: a mapping
    BOOST_TEST(t.nbytes() == std::size_t{12} << 20);
    auto v = t.mutable_values<float>();
    std::fill(v.begin(), v.end(), 2.5f);
    first = t.f32();
  }
  const Tensor again = Tensor::uninitialized({1024, 3 * 1024}, DType::Float32);
  BOOST_TEST(static_cast<const void*>(again.f32()) == first);
  BOOST_TEST(again.f32()[12345] == 2.5f);
}

BOOST_AUTO_TEST_CASE(a_small_released_buffer_is_reused_too_and_zeros_are_cleared) {
  const void* first = nullptr;
  {
    Tensor t = Tensor::uninitialized({1000}, DType::Float32);  // a 4 KiB class block
    std::fill(t.mutable_values<float>().begin(), t.mutable_values<float>().end(), 7.0f);
    first = t.f32();
  }
  const Tensor zeros = Tensor::recycled_zeros({900}, DType::Float32);  // same class
  BOOST_TEST(static_cast<const void*>(zeros.f32()) == first);
  const auto v = zeros.values<float>();
  BOOST_TEST(std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; }));
}

BOOST_AUTO_TEST_CASE(release_cached_buffers_returns_what_was_kept) {
  release_cached_buffers();
  { const Tensor t = Tensor::uninitialized({3, 1024, 1024}, DType::Float32); }  // 12 MiB
  { const Tensor t = Tensor::uninitialized({1000}, DType::Float32); }           // 4 KiB
  BOOST_TEST(release_cached_buffers() >= (std::size_t{12} << 20) + 4000);
  BOOST_TEST(release_cached_buffers() == 0u);
  // Afterwards a request is served again (from fresh memory).
  const Tensor t = Tensor::uninitialized({3, 1024, 1024}, DType::Float32);
  BOOST_TEST(t.nbytes() == std::size_t{12} << 20);
}

BOOST_AUTO_TEST_CASE(a_smaller_tensor_reuses_a_larger_released_small_block) {
  release_cached_buffers();
  const void* first = nullptr;
  {
    const Tensor t = floats(4000);  // 16 KiB class
    first = t.f32();
  }
  const Tensor smaller = floats(250);  // 1 KiB class: nothing cached there, the 16 KiB block is
  BOOST_TEST(static_cast<const void*>(smaller.f32()) == first);
}

// The cache may keep 16 KiB of small blocks over the mark (BufferCache::kSmallSlack); the
// tensors' control blocks and the vector's storage are a few KiB more.
constexpr std::size_t kSlack = std::size_t{20} << 10;

BOOST_AUTO_TEST_CASE(small_blocks_in_use_plus_cached_never_exceed_the_peak) {
  // Eight tensors at a time, each round of a larger class than the last (1 KiB .. 32 KiB): the
  // most in use at once is the last round's 256 KiB. Keeping every released block per class would
  // hold the sum of all rounds, 504 KiB.
  release_cached_buffers();
  const std::size_t base = tensor_memory_stats().in_use;
  std::size_t round_bytes = 0;
  for (std::int64_t count = 256; count <= 8192; count *= 2) {
    {
      std::vector<Tensor> round;
      for (int i = 0; i < 8; ++i) round.push_back(floats(count));
    }
    round_bytes = 8 * static_cast<std::size_t>(count) * sizeof(float);
    const TensorMemoryStats s = tensor_memory_stats();
    BOOST_TEST(s.in_use == base);
    // The largest round so far is the last one; its tensors' control blocks are small change.
    BOOST_TEST(s.cached <= round_bytes + kSlack, count << " floats: cached " << s.cached);
  }
  BOOST_TEST(round_bytes == std::size_t{256} << 10);
}

BOOST_AUTO_TEST_SUITE_END()
