// CRC-32 by carry-less multiplication ("folding", as in Intel's white paper "Fast CRC Computation
// for Generic Polynomials Using PCLMULQDQ Instruction").
//
// The message is kept as a few 128-bit registers whose value, as a polynomial, has the same
// remainder modulo P as everything read so far. Folding a register forward by D bits multiplies
// its two 64-bit halves by x^(D+32) and x^(D-32) mod P (bit-reflected, as zip's CRC is) and adds
// them to the data D bits further on. When fewer than 16 bytes are left, the last register is a
// 16-byte message with the same CRC as everything before it, so it and the tail go through zlib:
// no Barrett reduction to get wrong, and every kernel is checked against zlib by the tests.
#include "io/crc32.hpp"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KSERDE_CRC_X86 1
#endif

#include "ops/thread_pool.hpp"

namespace kserde::io {

namespace {

// x^n mod P for P = x^32 + 0x04C11DB7 (normal bit order), by shifting.
constexpr std::uint32_t xpow_mod(unsigned n) {
  std::uint64_t r = 1;
  for (unsigned i = 0; i < n; ++i) {
    r <<= 1;
    if (r & 0x100000000ULL) r ^= 0x104C11DB7ULL;
  }
  return static_cast<std::uint32_t>(r);
}
constexpr std::uint32_t reflect32(std::uint32_t v) {
  std::uint32_t r = 0;
  for (int i = 0; i < 32; ++i) {
    if ((v >> i) & 1u) r |= 1u << (31 - i);
  }
  return r;
}
// The multiplier for the low (earlier) and the high 64 bits of a register folded by `bits`.
constexpr std::uint64_t fold_lo(unsigned bits) {
  return static_cast<std::uint64_t>(reflect32(xpow_mod(bits + 32))) << 1;
}
constexpr std::uint64_t fold_hi(unsigned bits) {
  return static_cast<std::uint64_t>(reflect32(xpow_mod(bits - 32))) << 1;
}
// The constants published with the white paper (and used by Linux and zlib-ng) for 128 and 512.
static_assert(fold_lo(128) == 0x1751997d0ULL && fold_hi(128) == 0x0ccaa009eULL);
static_assert(fold_lo(512) == 0x154442bd4ULL && fold_hi(512) == 0x1c6e41596ULL);

constexpr std::uint64_t kLo128 = fold_lo(128), kHi128 = fold_hi(128);
constexpr std::uint64_t kLo512 = fold_lo(512), kHi512 = fold_hi(512);
constexpr std::uint64_t kLo2048 = fold_lo(2048), kHi2048 = fold_hi(2048);

std::uint32_t zlib_crc(const std::byte* p, std::size_t n, std::uint32_t crc) noexcept {
  return static_cast<std::uint32_t>(
      ::crc32_z(crc, reinterpret_cast<const Bytef*>(p), static_cast<z_size_t>(n)));
}

#ifdef KSERDE_CRC_X86

#define KSERDE_PCLMUL __attribute__((target("pclmul,sse4.1")))
#define KSERDE_VPCLMUL \
  __attribute__((target("pclmul,sse4.1,avx2,avx512f,avx512bw,avx512vl,vpclmulqdq")))

KSERDE_PCLMUL inline __m128i fold128(__m128i x, __m128i k, __m128i next) {
  return _mm_xor_si128(
      _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

KSERDE_PCLMUL inline __m128i load128(const std::byte* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// Folds 64-byte blocks into x[0..3] while they last, then everything into one register and
// 16-byte blocks into it; the register and the last < 16 bytes go to zlib.
KSERDE_PCLMUL std::uint32_t finish(__m128i x[4], const std::byte* p, std::size_t n) {
  const __m128i k512 =
      _mm_set_epi64x(static_cast<long long>(kHi512), static_cast<long long>(kLo512));
  for (; n >= 64; p += 64, n -= 64) {
    x[0] = fold128(x[0], k512, load128(p));
    x[1] = fold128(x[1], k512, load128(p + 16));
    x[2] = fold128(x[2], k512, load128(p + 32));
    x[3] = fold128(x[3], k512, load128(p + 48));
  }
  const __m128i k128 =
      _mm_set_epi64x(static_cast<long long>(kHi128), static_cast<long long>(kLo128));
  __m128i r = fold128(x[0], k128, x[1]);
  r = fold128(r, k128, x[2]);
  r = fold128(r, k128, x[3]);
  for (; n >= 16; p += 16, n -= 16) r = fold128(r, k128, load128(p));
  alignas(16) std::byte rest[32];
  _mm_store_si128(reinterpret_cast<__m128i*>(rest), r);
  std::memcpy(rest + 16, p, n);
  // The register stands for everything before it with the initial value already applied: its
  // CRC starts from a zero register, i.e. zlib's crc argument ~0.
  return zlib_crc(rest, 16 + n, 0xFFFFFFFFu);
}

KSERDE_PCLMUL std::uint32_t pclmul_kernel(const std::byte* p, std::size_t n, std::uint32_t crc) {
  if (n < 64) return zlib_crc(p, n, crc);
  __m128i x[4] = {load128(p), load128(p + 16), load128(p + 32), load128(p + 48)};
  x[0] = _mm_xor_si128(x[0], _mm_cvtsi32_si128(static_cast<int>(~crc)));
  return finish(x, p + 64, n - 64);
}

KSERDE_VPCLMUL inline __m512i fold512(__m512i z, __m512i k, __m512i next) {
  // 0x96: three-way exclusive or.
  return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z, k, 0x00),
                                   _mm512_clmulepi64_epi128(z, k, 0x11), next, 0x96);
}

KSERDE_VPCLMUL inline __m512i load512(const std::byte* p) {
  return _mm512_loadu_si512(p);
}

// Four 512-bit registers fold 256 bytes per step; they then fold into one, whose four lanes
// continue as the 128-bit kernel's four registers.
KSERDE_VPCLMUL std::uint32_t vpclmul_kernel(const std::byte* p, std::size_t n, std::uint32_t crc) {
  if (n < 512) return pclmul_kernel(p, n, crc);
  __m512i z[4] = {load512(p), load512(p + 64), load512(p + 128), load512(p + 192)};
  z[0] =
      _mm512_xor_si512(z[0], _mm512_set_epi64(0, 0, 0, 0, 0, 0, 0, static_cast<long long>(~crc)));
  p += 256;
  n -= 256;
  // (Built with set rather than broadcast/extract intrinsics, on which GCC 12 warns falsely.)
  const auto lo2048 = static_cast<long long>(kLo2048), hi2048 = static_cast<long long>(kHi2048);
  const __m512i k2048 =
      _mm512_set_epi64(hi2048, lo2048, hi2048, lo2048, hi2048, lo2048, hi2048, lo2048);
  for (; n >= 256; p += 256, n -= 256) {
    z[0] = fold512(z[0], k2048, load512(p));
    z[1] = fold512(z[1], k2048, load512(p + 64));
    z[2] = fold512(z[2], k2048, load512(p + 128));
    z[3] = fold512(z[3], k2048, load512(p + 192));
  }
  const auto lo512 = static_cast<long long>(kLo512), hi512 = static_cast<long long>(kHi512);
  const __m512i k512 = _mm512_set_epi64(hi512, lo512, hi512, lo512, hi512, lo512, hi512, lo512);
  __m512i r = fold512(z[0], k512, z[1]);
  r = fold512(r, k512, z[2]);
  r = fold512(r, k512, z[3]);
  alignas(64) std::byte lanes[64];
  _mm512_store_si512(lanes, r);
  __m128i x[4] = {load128(lanes), load128(lanes + 16), load128(lanes + 32), load128(lanes + 48)};
  return finish(x, p, n);
}

#endif  // KSERDE_CRC_X86

using Kernel = std::uint32_t (*)(const std::byte*, std::size_t, std::uint32_t);

struct Chosen {
  Kernel fn;
  const char* name;
};

Chosen choose() noexcept {
#ifdef KSERDE_CRC_X86
  if (detail::cpu_has_vpclmul()) return {&vpclmul_kernel, "vpclmulqdq"};
  if (detail::cpu_has_pclmul()) return {&pclmul_kernel, "pclmulqdq"};
#endif
  return {&zlib_crc, "zlib"};
}

const Chosen& chosen() noexcept {
  static const Chosen c = choose();
  return c;
}

}  // namespace

namespace detail {

bool cpu_has_pclmul() noexcept {
#ifdef KSERDE_CRC_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#else
  return false;
#endif
}

bool cpu_has_vpclmul() noexcept {
#ifdef KSERDE_CRC_X86
  __builtin_cpu_init();
  return cpu_has_pclmul() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("vpclmulqdq");
#else
  return false;
#endif
}

std::uint32_t crc32_zlib(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  return zlib_crc(data.data(), data.size(), crc);
}

std::uint32_t crc32_pclmul(std::span<const std::byte> data, std::uint32_t crc) noexcept {
#ifdef KSERDE_CRC_X86
  if (cpu_has_pclmul()) return pclmul_kernel(data.data(), data.size(), crc);
#endif
  return crc32_zlib(data, crc);
}

std::uint32_t crc32_vpclmul(std::span<const std::byte> data, std::uint32_t crc) noexcept {
#ifdef KSERDE_CRC_X86
  if (cpu_has_vpclmul()) return vpclmul_kernel(data.data(), data.size(), crc);
#endif
  return crc32_zlib(data, crc);
}

}  // namespace detail

std::uint32_t crc32(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  return chosen().fn(data.data(), data.size(), crc);
}

std::uint32_t crc32_combine(std::uint32_t crc_a, std::uint32_t crc_b,
                            std::uint64_t length_b) noexcept {
  return static_cast<std::uint32_t>(::crc32_combine(crc_a, crc_b, static_cast<z_off_t>(length_b)));
}

const char* crc32_kernel() noexcept {
  return chosen().name;
}

namespace {

// Parts of 4 MiB: large enough that joining them costs nothing, small enough to balance.
constexpr std::size_t kPart = std::size_t{4} << 20;

// Calls part_crc(i) for every part on the pool and joins the results in order.
template <class PartCrc>
std::uint32_t joined(std::uint64_t length, PartCrc&& part_crc) {
  const auto parts = static_cast<std::size_t>((length + kPart - 1) / kPart);
  const auto threads = static_cast<std::size_t>(ops::num_threads());
  auto part_length = [&](std::size_t i) { return std::min<std::uint64_t>(kPart, length - i * kPart); };
  if (parts < 2 || threads < 2) {
    std::uint32_t crc = 0;
    for (std::size_t i = 0; i < parts; ++i) crc = crc32_combine(crc, part_crc(i), part_length(i));
    return crc;
  }
  std::vector<std::uint32_t> crcs(parts);
  auto run = [&](std::int64_t begin, std::int64_t end) {
    for (auto i = static_cast<std::size_t>(begin); i < static_cast<std::size_t>(end); ++i) {
      crcs[i] = part_crc(i);
    }
  };
  ops::detail::dispatch(static_cast<std::int64_t>(parts),
                        static_cast<std::int64_t>(std::min(parts, threads)), 1, run);
  std::uint32_t crc = crcs[0];
  for (std::size_t i = 1; i < parts; ++i) crc = crc32_combine(crc, crcs[i], part_length(i));
  return crc;
}

}  // namespace

std::optional<std::uint32_t> crc32_of_file(int fd, std::uint64_t offset, std::uint64_t length) {
  std::atomic<bool> failed{false};
  const std::uint32_t crc = joined(length, [&](std::size_t i) -> std::uint32_t {
    // 256 KiB: the buffer stays in cache between the read and the CRC.
    std::vector<std::byte> buf(std::size_t{256} << 10);
    const std::uint64_t begin = i * kPart, end = std::min<std::uint64_t>(length, begin + kPart);
    std::uint32_t c = 0;
    for (std::uint64_t at = begin; at < end && !failed.load(std::memory_order_relaxed);) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), end - at));
      const ssize_t got = ::pread(fd, buf.data(), want, static_cast<off_t>(offset + at));
      if (got <= 0) {
        if (got < 0 && errno == EINTR) continue;
        failed.store(true, std::memory_order_relaxed);
        break;
      }
      c = crc32(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(got)), c);
      at += static_cast<std::uint64_t>(got);
    }
    return c;
  });
  if (failed.load()) return std::nullopt;
  return crc;
}

std::uint32_t crc32_parallel(std::span<const std::byte> data) {
  return joined(data.size(), [&](std::size_t i) {
    return crc32(data.subspan(i * kPart, std::min(kPart, data.size() - i * kPart)));
  });
}

}  // namespace kserde::io
