// Internal: the serial kernels of one instruction set (matrix products, pooling windows, bias and
// relu over rows), and the set in use.
//
// ops/isa/*.cpp are compiled once per instruction set this build supports (baseline x86-64,
// AVX2+FMA, AVX-512 on x86-64; one generic set elsewhere); each copy fills a KernelSet table.
// gemm.cpp, the pooling and convolution layers and the activations call the table chosen at run
// time, so one binary runs the widest kernels each CPU has. Every set sums each product element by
// simd::kSumBlock's rule (isa/simd.hpp): within one set, results do not depend on the batch or the
// thread count. The window and element-wise kernels compute each element with the same operations
// in the same order in every set, so their results are the same bit for bit whichever set runs.
#pragma once

#include <cstdint>

namespace kserde::ops {

// The input positions [begin, end) one pooling window covers along one dimension.
struct WindowRange {
  std::int64_t begin, end;
};

struct KernelSet {
  const char* name;    // "baseline", "avx2", "avx512"
  std::int64_t lanes;  // floats per vector register: column splits fall on multiples of it
  bool fused;          // a multiply-add rounds once (FMA) rather than twice
  // Columns [j0, j1) (j0 a multiple of lanes) of c = a @ b for m <= kSkinnyRows rows.
  void (*skinny)(std::int64_t m, std::int64_t j0, std::int64_t j1, std::int64_t k, const float* a,
                 std::int64_t lda, const float* b, std::int64_t ldb, float* c, std::int64_t ldc);
  // Rows [r0, r1) of c = a @ b for n <= kNarrowColumns columns and k <= kNarrowSteps steps.
  void (*narrow_rows)(std::int64_t r0, std::int64_t r1, std::int64_t n, std::int64_t k,
                      const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float* c,
                      std::int64_t ldc);
  // c = a @ b for any shape: the row kernel for one row, the packed kernel for more.
  void (*general)(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda,
                  const float* b, std::int64_t ldb, float* c, std::int64_t ldc);
  // Floats per row of b once padded for narrow_gather (n rounded up to whole vectors).
  std::int64_t (*padded_width)(std::int64_t n);
  // b (k x n, row stride ldb) into `padded` (k x padded_width(n)), rows zero-filled at the end.
  void (*pad_columns)(const float* b, std::int64_t ldb, std::int64_t n, std::int64_t k,
                      float* padded);
  // out[o * n, + n) = sum over p < k of base[o * step + offsets[p]] * b[p, :], b as pad_columns
  // left it.
  void (*narrow_gather)(const float* base, std::int64_t step, std::int64_t count,
                        const std::int64_t* offsets, std::int64_t k, const float* padded,
                        std::int64_t n, float* out);
  // Max (max = true, Keras's MaxPooling: std::max order, a NaN input skipped as std::max does) or
  // average pooling of one channels_last image into out: output (y, x) covers input rows ry[y]
  // and columns rx[x]; row_stride is the floats per input row, c the channels.
  void (*pool_2d)(const float* image, float* out, std::int64_t c, std::int64_t row_stride,
                  const WindowRange* ry, std::int64_t ny, const WindowRange* rx, std::int64_t nx,
                  bool max);
  // rows[i * f + j] += bias[j] for i < count, j < f.
  void (*add_bias)(float* rows, std::int64_t count, std::int64_t f, const float* bias);
  // d[i] = d[i] > 0 ? d[i] : 0 (Keras's relu with its default arguments; NaN becomes 0).
  void (*relu)(float* d, std::int64_t count);
};

// Shapes the narrow kernels take (a convolution with few filters over few channels).
inline constexpr std::int64_t kNarrowColumns = 32;
inline constexpr std::int64_t kNarrowSteps = 64;
// Rows the skinny kernel takes.
inline constexpr std::int64_t kSkinnyRows = 16;

// The kernels in use (see kserde/cpu.hpp for the choice).
const KernelSet& active_kernels();

// Per-thread scratch for the kernels, which may not use std containers (see isa/simd.hpp): at
// least `floats` floats, kept by the calling thread and reused by its next call with the same slot.
enum class ScratchSlot { A, B };
float* thread_scratch(ScratchSlot slot, std::int64_t floats);

}  // namespace kserde::ops
