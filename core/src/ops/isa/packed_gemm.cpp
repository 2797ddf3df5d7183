#include "ops/isa/packed_gemm.hpp"

#include <cstring>

#include "ops/isa/simd.hpp"
#include "ops/kernel_set.hpp"

namespace kserde::ops::KSERDE_KERNEL_NS {

namespace {

// Register tile: kRows rows x kVecs vectors of c stay in registers while a kDepth-long strip of
// a (kRows values per step, broadcast) meets a strip of b (kVecs vectors per step). Sized to the
// vector register file: 24 of AVX-512's 32 registers hold the tile, 12 of AVX2's 16.
using simd::kLanes;
using simd::load;
using simd::multiply_add;
using simd::store;
using simd::Vec;
constexpr std::int64_t kRows = kLanes == 16 ? 12 : 6;
constexpr std::int64_t kVecs = 2;
constexpr std::int64_t kCols = kLanes * kVecs;

// Cache blocks: a kDepth x kCols strip of packed b (24-48 KiB) stays in L1 while the kernel runs
// down a block of kBlockRows rows of packed a, which stays in L2 (~400 KiB); a kDepth x
// kBlockCols block of packed b is swept once per block of rows.
constexpr std::int64_t kDepth = simd::kSumBlock;  // one sum block per pass
constexpr std::int64_t kBlockRows = kRows * 20;
constexpr std::int64_t kBlockCols = 1024;
constexpr std::int64_t kPackAColumns = 512;
constexpr std::int64_t kConflictStride = 1024;

// Rows of b ahead to prefetch while a strip is packed: consecutive rows of a strip are a whole
// row of b apart, a stride the hardware prefetchers do not follow.
constexpr std::int64_t kPrefetchRows = 12;

// Where a tile's strip of b comes from: the packed strip (kCols floats per step), or, for the
// first tile of a strip, b itself (row stride ldb), which the tile then also copies into the
// packed strip. Packing while computing lets the loads from memory overlap the multiply-adds (a
// product with few rows and many weights is otherwise bound by a separate packing pass). Better
// still, the other tiles of a strip share copying the next strip, a row every few steps, so that
// its loads hide behind a whole strip's arithmetic.
enum class StripMode { Packed, Pack, PackedCopyNext };

// Blocks of at most this many rows copy the next strip meanwhile; with more, b is a small part of
// the traffic and the copying does not pay.
constexpr std::int64_t kCopyRows = 8 * kRows;

struct Strip {
  float* packed;
  const float* source = nullptr;  // Pack: the strip in b
  std::int64_t ldb = 0;
  // PackedCopyNext: rows [0, next_rows) of next_source (row stride ldb) into next_packed, one
  // every next_every steps.
  const float* next_source = nullptr;
  float* next_packed = nullptr;
  std::int64_t next_rows = 0;
  std::int64_t next_every = 1;
  std::int64_t next_rows_to_end = 0;  // rows from next_source to the end of its strip
};

// Copies one step of a strip (kCols floats at src, a row of b) into the packed strip at dst,
// keeping the values in `row`, and prefetches the step kPrefetchRows further down when it is one
// of the `steps_left` still to copy (so that no address past b is formed).
inline void copy_strip_row(const float* src, std::int64_t ldb, std::int64_t steps_left, float* dst,
                           Vec (&row)[kVecs]) {
  if (steps_left > kPrefetchRows) {
    const float* ahead = src + kPrefetchRows * ldb;
    __builtin_prefetch(ahead);
    __builtin_prefetch(ahead + kCols - 1);
  }
#pragma GCC unroll 4
  for (std::int64_t v = 0; v < kVecs; ++v) {
    load(row[v], src + v * kLanes);
    store(dst + v * kLanes, row[v]);
  }
}

// c[R, kCols] (row stride ldc) = a @ b over one sum block of `depth` steps, added to c when
// `accumulate`; a is read at ap[r * lda + p] (in place) or ap[p * kRows + r] (packed). Each element
// is a multiply-add chain from zero in step order (simd::kSumBlock).
template <std::int64_t R, bool PackedA, StripMode Mode>
void tile(std::int64_t depth, const float* ap, std::int64_t lda, const Strip& strip, float* c,
          std::int64_t ldc, bool accumulate) {
  static_assert(R <= kRows);
  Vec acc[R][kVecs];
#pragma GCC unroll 16
  for (std::int64_t r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (std::int64_t v = 0; v < kVecs; ++v) acc[r][v] = Vec{};
  }
  float* bp = strip.packed;
  [[maybe_unused]] std::int64_t countdown = 1, copied = 0;
  for (std::int64_t p = 0; p < depth; ++p) {
    if constexpr (Mode == StripMode::PackedCopyNext) {
      if (--countdown == 0 && copied < strip.next_rows) {
        countdown = strip.next_every;
        Vec row[kVecs];
        copy_strip_row(strip.next_source + copied * strip.ldb, strip.ldb,
                       strip.next_rows_to_end - copied, strip.next_packed + copied * kCols, row);
        ++copied;
      }
    }
    Vec bv[kVecs];
    if constexpr (Mode == StripMode::Pack) {
      copy_strip_row(strip.source + p * strip.ldb, strip.ldb, depth - p, bp + p * kCols, bv);
    } else {
#pragma GCC unroll 4
      for (std::int64_t v = 0; v < kVecs; ++v) load(bv[v], bp + p * kCols + v * kLanes);
    }
#pragma GCC unroll 16
    for (std::int64_t r = 0; r < R; ++r) {
      const float s = PackedA ? ap[p * kRows + r] : ap[r * lda + p];
#pragma GCC unroll 4
      for (std::int64_t v = 0; v < kVecs; ++v) multiply_add(acc[r][v], s, bv[v]);
    }
  }
#pragma GCC unroll 16
  for (std::int64_t r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (std::int64_t v = 0; v < kVecs; ++v) {
      if (accumulate) {
        Vec sum;
        load(sum, c + r * ldc + v * kLanes);
        acc[r][v] = sum + acc[r][v];
      }
      store(c + r * ldc + v * kLanes, acc[r][v]);
    }
  }
}

// Tile heights for the last rows of a product, so that they cost what they hold (64 rows are
// 5 x 12 + 4, not 6 x 12).
constexpr std::int64_t kShortRows = kRows / 3;

template <std::int64_t R, bool PackedA>
void short_tile(std::int64_t depth, const float* ap, std::int64_t lda, const Strip& strip, float* c,
                std::int64_t ldc, std::int64_t rows, std::int64_t cols, bool accumulate) {
  if (rows == R && cols == kCols) {
    tile<R, PackedA, StripMode::Packed>(depth, ap, lda, strip, c, ldc, accumulate);
    return;
  }
  // Through a scratch tile, computed by exactly the same chains as in place.
  alignas(64) float scratch[R * kCols] = {};
  if (accumulate) {
    for (std::int64_t r = 0; r < rows; ++r) {
      std::memcpy(scratch + r * kCols, c + r * ldc, static_cast<std::size_t>(cols) * sizeof(float));
    }
  }
  tile<R, PackedA, StripMode::Packed>(depth, ap, lda, strip, scratch, kCols, accumulate);
  for (std::int64_t r = 0; r < rows; ++r) {
    std::memcpy(c + r * ldc, scratch + r * kCols, static_cast<std::size_t>(cols) * sizeof(float));
  }
}

// A partial tile (rows < kRows or cols < kCols), at the smallest tile height that holds its rows.
template <bool PackedA>
void edge_tile(std::int64_t depth, const float* ap, std::int64_t lda, const Strip& strip, float* c,
               std::int64_t ldc, std::int64_t rows, std::int64_t cols, bool accumulate) {
  if (rows <= kShortRows) {
    short_tile<kShortRows, PackedA>(depth, ap, lda, strip, c, ldc, rows, cols, accumulate);
  } else if (rows <= 2 * kShortRows) {
    short_tile<2 * kShortRows, PackedA>(depth, ap, lda, strip, c, ldc, rows, cols, accumulate);
  } else {
    short_tile<kRows, PackedA>(depth, ap, lda, strip, c, ldc, rows, cols, accumulate);
  }
}

// One tile of the block loop: a partial one goes through edge_tile.
template <bool PackedA>
void run_tile(StripMode mode, bool whole, std::int64_t depth, const float* ap, std::int64_t lda,
              const Strip& strip, float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols,
              bool accumulate) {
  if (mode == StripMode::Pack) {
    tile<kRows, PackedA, StripMode::Pack>(depth, ap, lda, strip, c, ldc, accumulate);
  } else if (mode == StripMode::PackedCopyNext) {
    tile<kRows, PackedA, StripMode::PackedCopyNext>(depth, ap, lda, strip, c, ldc, accumulate);
  } else if (whole) {
    tile<kRows, PackedA, StripMode::Packed>(depth, ap, lda, strip, c, ldc, accumulate);
  } else {
    edge_tile<PackedA>(depth, ap, lda, strip, c, ldc, rows, cols, accumulate);
  }
}

// Rows [i0, i0 + rows) x steps [p0, p0 + depth) of a, as panels of kRows rows: panel q holds, for
// each step, its kRows values (zero past the last row).
void pack_a(const float* a, std::int64_t lda, std::int64_t i0, std::int64_t rows, std::int64_t p0,
            std::int64_t depth, float* out) {
  for (std::int64_t q = 0; q < rows; q += kRows) {
    float* panel = out + q * depth;
    if (rows - q >= kRows) {
      const float* src[kRows];
      for (std::int64_t r = 0; r < kRows; ++r) src[r] = a + (i0 + q + r) * lda + p0;
      for (std::int64_t p = 0; p < depth; ++p) {
#pragma GCC unroll 16
        for (std::int64_t r = 0; r < kRows; ++r) panel[p * kRows + r] = src[r][p];
      }
      continue;
    }
    const std::int64_t valid = rows - q;
    for (std::int64_t p = 0; p < depth; ++p) {
      for (std::int64_t r = 0; r < kRows; ++r) {
        panel[p * kRows + r] = r < valid ? a[(i0 + q + r) * lda + p0 + p] : 0.0f;
      }
    }
  }
}

// Steps [p0, p0 + depth) x columns [j0, j0 + cols) of b (cols <= kCols) as one packed strip: for
// each step, kCols values (zero past the last column).
void pack_b(const float* b, std::int64_t ldb, std::int64_t p0, std::int64_t depth, std::int64_t j0,
            std::int64_t cols, float* out) {
  for (std::int64_t p = 0; p < depth; ++p) {
    const float* src = b + (p0 + p) * ldb + j0;
    float* dst = out + p * kCols;
    std::memcpy(dst, src, static_cast<std::size_t>(cols) * sizeof(float));
    simd::fill_zero(dst + cols, dst + kCols);
  }
}

std::int64_t round_up(std::int64_t x, std::int64_t to) {
  return (x + to - 1) / to * to;
}

}  // namespace

void packed_gemm(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                 const float* b, std::int64_t ldb, float* c, std::int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (std::int64_t r = 0; r < m; ++r) simd::fill_zero(c + r * ldc, c + r * ldc + n);
    return;
  }
  // Per-thread packing buffers, grown to the largest block seen and then reused.
  const std::int64_t depth_max = simd::min(k, kDepth);
  const std::int64_t block_cols = simd::min(round_up(n, kCols), kBlockCols);
  const std::int64_t block_rows = simd::min(round_up(m, kRows), kBlockRows);
  float* const packed_a = thread_scratch(ScratchSlot::A, block_rows * depth_max);
  float* const packed_b = thread_scratch(ScratchSlot::B, block_cols * depth_max);

  for (std::int64_t j0 = 0; j0 < n; j0 += kBlockCols) {
    const std::int64_t cols = simd::min(kBlockCols, n - j0);
    // a is packed when the copy is cheap next to the block's work, or when its rows are a
    // multiple of 4 KiB apart (the kernel's row streams would all fall in one L1 set).
    // Otherwise the kernel reads a's rows in place and only a last partial panel is packed.
    const bool pack_all_a = cols >= kPackAColumns || lda % kConflictStride == 0;
    for (std::int64_t p0 = 0; p0 < k; p0 += kDepth) {
      const std::int64_t depth = simd::min(kDepth, k - p0);
      const bool accumulate = p0 > 0;
      for (std::int64_t i0 = 0; i0 < m; i0 += kBlockRows) {
        const std::int64_t rows = simd::min(kBlockRows, m - i0);
        const std::int64_t full_rows = pack_all_a ? 0 : rows / kRows * kRows;
        if (full_rows < rows) {
          pack_a(a, lda, i0 + full_rows, rows - full_rows, p0, depth, packed_a);
        }
        bool ready = false;  // the strip was copied by the previous strip's tiles
        for (std::int64_t jq = 0; jq < cols; jq += kCols) {
          const std::int64_t tile_cols = simd::min(kCols, cols - jq);
          Strip strip{packed_b + jq * depth};
          // The block's strips of b are packed during its first block of rows: by the previous
          // strip's tiles, else by its first tile when that is a whole one, else beforehand.
          bool pack_in_tile = false;
          if (i0 == 0 && !ready) {
            if (tile_cols == kCols && rows >= kRows) {
              strip.source = b + p0 * ldb + j0 + jq;
              pack_in_tile = true;
            } else {
              pack_b(b, ldb, p0, depth, j0 + jq, tile_cols, strip.packed);
            }
          }
          strip.ldb = ldb;
          // The whole tiles that do not pack this strip share copying the next one (when whole).
          const std::int64_t copiers = rows / kRows - (pack_in_tile ? 1 : 0);
          const bool copy_next =
              i0 == 0 && rows <= kCopyRows && jq + 2 * kCols <= cols && copiers > 0;
          ready = copy_next;
          for (std::int64_t iq = 0; iq < rows; iq += kRows) {
            float* ct = c + (i0 + iq) * ldc + j0 + jq;
            const std::int64_t tile_rows = simd::min(kRows, rows - iq);
            const bool whole = tile_rows == kRows && tile_cols == kCols;
            StripMode mode = StripMode::Packed;
            if (pack_in_tile && iq == 0) {
              mode = StripMode::Pack;
            } else if (copy_next && whole) {
              const std::int64_t share = iq / kRows - (pack_in_tile ? 1 : 0);
              const std::int64_t first = share * depth / copiers;
              const std::int64_t last = (share + 1) * depth / copiers;
              strip.next_source = b + (p0 + first) * ldb + j0 + jq + kCols;
              strip.next_packed = strip.packed + depth * kCols + first * kCols;
              strip.next_rows = last - first;
              strip.next_rows_to_end = depth - first;
              strip.next_every = simd::max(1, depth / simd::max(strip.next_rows, 1));
              mode = StripMode::PackedCopyNext;
            }
            if (iq < full_rows) {
              run_tile<false>(mode, whole, depth, a + (i0 + iq) * lda + p0, lda, strip, ct, ldc,
                              tile_rows, tile_cols, accumulate);
            } else {
              run_tile<true>(mode, whole, depth, packed_a + (iq - full_rows) * depth, kRows, strip,
                             ct, ldc, tile_rows, tile_cols, accumulate);
            }
          }
        }
      }
    }
  }
}

}  // namespace kserde::ops::KSERDE_KERNEL_NS
