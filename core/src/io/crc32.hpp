// Internal: CRC-32 as zip uses it (ISO-HDLC, reflected polynomial 0xEDB88320, the value zlib's
// crc32() returns), at memory speed.
//
// The bulk of a buffer is folded with carry-less multiplication (PCLMULQDQ, or VPCLMULQDQ on
// AVX-512 machines), chosen once at run time from the CPU; machines without either use zlib.
// Large buffers are split across the inference thread pool and the parts joined with
// crc32_combine, so the result is the same for any thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace kserde::io {

// The CRC-32 of `data` continuing from `crc` (0 to start), like zlib's crc32(crc, data, size).
std::uint32_t crc32(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;

// The CRC of A followed by B from crc(A), crc(B) and B's length (zlib's crc32_combine).
std::uint32_t crc32_combine(std::uint32_t crc_a, std::uint32_t crc_b,
                            std::uint64_t length_b) noexcept;

// crc32(data), threaded over the pool for buffers of several MiB.
std::uint32_t crc32_parallel(std::span<const std::byte> data);

// The CRC-32 of `length` bytes of the open file `fd` from `offset`, read with pread in small
// buffers (threaded like crc32_parallel). Reading through the descriptor instead of a mapping of
// the file leaves the mapping's pages untouched: a mapped load stays lazy and a copying load's
// peak memory stays the copy. nullopt when a read fails or the file is shorter.
std::optional<std::uint32_t> crc32_of_file(int fd, std::uint64_t offset, std::uint64_t length);

// Which kernel crc32() uses on this machine: "vpclmulqdq", "pclmulqdq" or "zlib".
const char* crc32_kernel() noexcept;

namespace detail {
// Each kernel, for tests and benchmarks. A kernel the CPU lacks falls back to zlib.
std::uint32_t crc32_zlib(std::span<const std::byte> data, std::uint32_t crc) noexcept;
std::uint32_t crc32_pclmul(std::span<const std::byte> data, std::uint32_t crc) noexcept;
std::uint32_t crc32_vpclmul(std::span<const std::byte> data, std::uint32_t crc) noexcept;
bool cpu_has_pclmul() noexcept;
bool cpu_has_vpclmul() noexcept;
}  // namespace detail

}  // namespace kserde::io
