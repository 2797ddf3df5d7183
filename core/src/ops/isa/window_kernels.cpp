// Pooling windows, bias and relu for one instruction set. Each element goes through the same
// operations in the same order as the scalar loop, whatever the block width: a max is the
// compare-and-select std::max does, a sum adds the window's positions in row-major order.
#include "ops/isa/window_kernels.hpp"

#include <cstring>

#include "ops/isa/simd.hpp"

namespace kserde::ops::KSERDE_KERNEL_NS {

namespace {

// L channels as one vector; the compiler splits a vector wider than the set's registers.
template <int L>
struct Block {
  typedef float V __attribute__((vector_size(L * sizeof(float))));
};

// Max or sum of one window over channels [ch, ch + L) into dst.
template <bool Max, int L>
void pool_block(const float* xd, float* dst, std::int64_t ch, std::int64_t c,
                std::int64_t row_stride, WindowRange ry, WindowRange rx) {
  using V = typename Block<L>::V;
  // Every lane set by one broadcast (a lane-by-lane fill leaves GCC unsure the vector is set).
  V acc = V{} + (Max ? -__builtin_inff() : 0.0f);
  for (std::int64_t iy = ry.begin; iy < ry.end; ++iy) {
    const float* row = xd + iy * row_stride + ch;
    for (std::int64_t ix = rx.begin; ix < rx.end; ++ix) {
      V v;
      std::memcpy(&v, row + ix * c, sizeof v);
      if constexpr (Max) {
        acc = acc < v ? v : acc;  // std::max(acc, v) per lane (a NaN in v is skipped alike)
      } else {
        acc += v;
      }
    }
  }
  std::memcpy(dst + ch, &acc, sizeof acc);
}

// Max or sum-then-average of one window into dst[0, c): blocks of 16, 8 and 4 channels, then one
// channel at a time.
template <bool Max>
void pool_window(const float* xd, float* dst, std::int64_t c, std::int64_t row_stride,
                 WindowRange ry, WindowRange rx) {
  std::int64_t ch = 0;
  for (; ch + 16 <= c; ch += 16) pool_block<Max, 16>(xd, dst, ch, c, row_stride, ry, rx);
  if (ch + 8 <= c) {
    pool_block<Max, 8>(xd, dst, ch, c, row_stride, ry, rx);
    ch += 8;
  }
  if (ch + 4 <= c) {
    pool_block<Max, 4>(xd, dst, ch, c, row_stride, ry, rx);
    ch += 4;
  }
  for (; ch < c; ++ch) {
    float acc = Max ? -__builtin_inff() : 0.0f;
    for (std::int64_t iy = ry.begin; iy < ry.end; ++iy) {
      for (std::int64_t ix = rx.begin; ix < rx.end; ++ix) {
        const float v = xd[iy * row_stride + ix * c + ch];
        if constexpr (Max) {
          acc = acc < v ? v : acc;
        } else {
          acc += v;
        }
      }
    }
    dst[ch] = acc;
  }
  if constexpr (!Max) {
    const std::int64_t count = (ry.end - ry.begin) * (rx.end - rx.begin);
    if (count > 0) {
      const float inv = 1.0f / static_cast<float>(count);
      for (std::int64_t j = 0; j < c; ++j) dst[j] *= inv;
    }
  }
}

template <bool Max>
void pool_image(const float* image, float* out, std::int64_t c, std::int64_t row_stride,
                const WindowRange* ry, std::int64_t ny, const WindowRange* rx, std::int64_t nx) {
  for (std::int64_t y = 0; y < ny; ++y) {
    for (std::int64_t x = 0; x < nx; ++x) {
      pool_window<Max>(image, out, c, row_stride, ry[y], rx[x]);
      out += c;
    }
  }
}

// Bias repeated over this many floats: rows of few channels get the bias added as one flat array.
constexpr std::int64_t kBiasSpan = 64;

}  // namespace

void pool_2d(const float* image, float* out, std::int64_t c, std::int64_t row_stride,
             const WindowRange* ry, std::int64_t ny, const WindowRange* rx, std::int64_t nx,
             bool max) {
  if (max) {
    pool_image<true>(image, out, c, row_stride, ry, ny, rx, nx);
  } else {
    pool_image<false>(image, out, c, row_stride, ry, ny, rx, nx);
  }
}

void add_bias(float* rows, std::int64_t count, std::int64_t f, const float* bias) {
  if (f <= 0 || count <= 0) return;
  if (f < kBiasSpan && kBiasSpan % f == 0 && count * f >= kBiasSpan) {
    float pattern[kBiasSpan];
    for (std::int64_t j = 0; j < kBiasSpan; j += f) simd::copy(bias, bias + f, pattern + j);
    const std::int64_t total = count * f;
    std::int64_t i = 0;
    for (; i + kBiasSpan <= total; i += kBiasSpan) {
      for (std::int64_t j = 0; j < kBiasSpan; ++j) rows[i + j] += pattern[j];
    }
    for (; i < total; ++i) rows[i] += pattern[i % kBiasSpan];
    return;
  }
  for (std::int64_t i = 0; i < count; ++i) {
    float* row = rows + i * f;
    for (std::int64_t j = 0; j < f; ++j) row[j] += bias[j];
  }
}

void relu(float* d, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) d[i] = d[i] > 0 ? d[i] : 0.0f;
}

}  // namespace kserde::ops::KSERDE_KERNEL_NS
