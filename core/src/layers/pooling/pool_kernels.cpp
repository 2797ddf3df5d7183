#include "layers/pooling/pool_kernels.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "ops/thread_pool.hpp"

namespace kserde::pool {

namespace {

using spatial::Dims;
using Range = std::pair<std::int64_t, std::int64_t>;  // [begin, end) of input positions

// Channel blocks of L floats as one vector (the compiler splits a vector wider than the target's).
template <int L>
struct Block {
  typedef float V __attribute__((vector_size(L * sizeof(float))));
};

// Max or sum of one window over channels [ch, ch + L) into dst, as one vector per block: the
// same operations per element, in the same order, as the scalar loop for the remaining channels.
template <Mode M, int L>
void pool_block(const float* xd, float* dst, std::int64_t ch, std::int64_t c,
                std::int64_t row_stride, Range ry, Range rx) {
  using V = typename Block<L>::V;
  // Every lane set by one broadcast (a lane-by-lane fill leaves GCC unsure the vector is set).
  V acc = V{} + (M == Mode::Max ? -std::numeric_limits<float>::infinity() : 0.0f);
  for (std::int64_t iy = ry.first; iy < ry.second; ++iy) {
    for (std::int64_t ix = rx.first; ix < rx.second; ++ix) {
      V v;
      std::memcpy(&v, xd + iy * row_stride + ix * c + ch, sizeof v);
      if constexpr (M == Mode::Max) {
        acc = acc < v ? v : acc;  // std::max(acc, v) per lane (a NaN in v is skipped alike)
      } else {
        acc += v;
      }
    }
  }
  std::memcpy(dst + ch, &acc, sizeof acc);
}

// Max or sum-then-average of one window into dst[0, c).
template <Mode M>
void pool_window(const float* xd, float* dst, std::int64_t c, std::int64_t row_stride, Range ry,
                 Range rx) {
  std::int64_t ch = 0;
  for (; ch + 16 <= c; ch += 16) pool_block<M, 16>(xd, dst, ch, c, row_stride, ry, rx);
  if (ch + 8 <= c) {
    pool_block<M, 8>(xd, dst, ch, c, row_stride, ry, rx);
    ch += 8;
  }
  const float init = M == Mode::Max ? -std::numeric_limits<float>::infinity() : 0.0f;
  for (std::int64_t j = ch; j < c; ++j) dst[j] = init;
  for (std::int64_t iy = ry.first; ch < c && iy < ry.second; ++iy) {
    for (std::int64_t ix = rx.first; ix < rx.second; ++ix) {
      const float* src = xd + iy * row_stride + ix * c;
      for (std::int64_t j = ch; j < c; ++j) {
        if constexpr (M == Mode::Max) {
          dst[j] = std::max(dst[j], src[j]);
        } else {
          dst[j] += src[j];
        }
      }
    }
  }
  if constexpr (M == Mode::Average) {
    const std::int64_t count = (ry.second - ry.first) * (rx.second - rx.first);
    if (count > 0) {
      const float inv = 1.0f / static_cast<float>(count);
      for (std::int64_t j = 0; j < c; ++j) dst[j] *= inv;
    }
  }
}

// The 2D case (MaxPooling2D, AveragePooling2D) without the N-d index bookkeeping: one image at a
// time, output positions in order. Same operations per element as the general loop below.
// An input element read into a window costs about as much as a few multiply-adds of a GEMM (the
// pool's work unit): a load, a compare or add, and its share of the window bookkeeping.
constexpr double kWorkPerElement = 4;

template <Mode M>
void pool_2d_mode(const float* xd, float* yd, std::int64_t n, std::int64_t in_w, std::int64_t c,
                  std::int64_t in_pos, const std::vector<Range>& ry, const std::vector<Range>& rx) {
  const std::int64_t row_stride = in_w * c;
  const auto out_pos = static_cast<std::int64_t>(ry.size() * rx.size());
  double window = 0;  // input elements read per image, the work estimate
  for (const Range& y_range : ry) window += static_cast<double>(y_range.second - y_range.first);
  double across = 0;
  for (const Range& x_range : rx) across += static_cast<double>(x_range.second - x_range.first);
  // Images are independent: split them across the inference pool.
  ops::parallel_for(
      n, 1, kWorkPerElement * static_cast<double>(n) * window * across * static_cast<double>(c),
      [&](std::int64_t b0, std::int64_t b1) {
        for (std::int64_t b = b0; b < b1; ++b) {
          const float* image = xd + b * in_pos * c;
          float* dst = yd + b * out_pos * c;
          for (const Range& y_range : ry) {
            for (const Range& x_range : rx) {
              pool_window<M>(image, dst, c, row_stride, y_range, x_range);
              dst += c;
            }
          }
        }
      });
}

void pool_2d(const float* xd, float* yd, std::int64_t n, std::int64_t in_h, std::int64_t in_w,
             std::int64_t c, const std::vector<Range>& ry, const std::vector<Range>& rx,
             Mode mode) {
  if (mode == Mode::Max) {
    pool_2d_mode<Mode::Max>(xd, yd, n, in_w, c, in_h * in_w, ry, rx);
  } else {
    pool_2d_mode<Mode::Average>(xd, yd, n, in_w, c, in_h * in_w, ry, rx);
  }
}

// Pools, for every output position, the box of input positions given per dimension by
// ranges[d][o_d] (already clipped to the input). Both pooling flavours reduce to this.
Tensor box_pool(const Tensor& x, const std::vector<std::vector<Range>>& ranges, Mode mode) {
  const std::size_t r = ranges.size();
  const std::int64_t n = x.dim(0);
  const std::int64_t c = x.dim(r + 1);
  Dims in(r), out(r), in_strides(r, 1);
  for (std::size_t d = 0; d < r; ++d) {
    in[d] = x.dim(d + 1);
    out[d] = static_cast<std::int64_t>(ranges[d].size());
  }
  for (std::size_t d = r; d-- > 1;) in_strides[d - 1] = in_strides[d] * in[d];
  const std::int64_t p_in = spatial::product(in);
  const std::int64_t p_out = spatial::product(out);

  // Every output element is written below (windows start from their initial value).
  Tensor y = Tensor::uninitialized(spatial::make_shape(n, out, c, false), DType::Float32);
  if (n == 0 || p_out == 0 || c == 0) return y;
  const float* xd = x.f32();
  float* yd = y.f32_mut();
  if (r == 2) {
    pool_2d(xd, yd, n, in[0], in[1], c, ranges[0], ranges[1], mode);
    return y;
  }
  Dims o(r, 0), lo(r), len(r), w(r);
  std::int64_t p = 0;
  do {
    std::int64_t count = 1;
    for (std::size_t d = 0; d < r; ++d) {
      lo[d] = ranges[d][static_cast<std::size_t>(o[d])].first;
      len[d] = ranges[d][static_cast<std::size_t>(o[d])].second - lo[d];
      count *= len[d];
    }
    for (std::int64_t b = 0; b < n; ++b) {
      float* dst = yd + (b * p_out + p) * c;
      std::fill(dst, dst + c, mode == Mode::Max ? -std::numeric_limits<float>::infinity() : 0.0f);
      if (count <= 0) continue;
      std::fill(w.begin(), w.end(), 0);
      do {
        std::int64_t pos = 0;
        for (std::size_t d = 0; d < r; ++d) pos += (lo[d] + w[d]) * in_strides[d];
        const float* src = xd + (b * p_in + pos) * c;
        if (mode == Mode::Max) {
          for (std::int64_t ch = 0; ch < c; ++ch) dst[ch] = std::max(dst[ch], src[ch]);
        } else {
          for (std::int64_t ch = 0; ch < c; ++ch) dst[ch] += src[ch];
        }
      } while (spatial::next_index(w, len));
      if (mode == Mode::Average) {
        const float inv = 1.0f / static_cast<float>(count);
        for (std::int64_t ch = 0; ch < c; ++ch) dst[ch] *= inv;
      }
    }
    ++p;
  } while (spatial::next_index(o, out));
  return y;
}

// The window ranges of a call, in per-thread storage reused from call to call (steady-state
// predictions allocate nothing).
std::vector<std::vector<Range>>& range_scratch(std::size_t rank) {
  thread_local std::vector<std::vector<Range>> ranges;
  ranges.resize(rank);
  for (auto& r : ranges) r.clear();
  return ranges;
}

}  // namespace

Tensor window_pool(const Tensor& x, const Dims& out, const Dims& window, const Dims& stride,
                   const Dims& pad, Mode mode) {
  auto& ranges = range_scratch(out.size());
  for (std::size_t d = 0; d < out.size(); ++d) {
    const std::int64_t in = x.dim(d + 1);
    for (std::int64_t o = 0; o < out[d]; ++o) {
      const std::int64_t start = o * stride[d] - pad[d];
      ranges[d].emplace_back(std::max<std::int64_t>(start, 0),
                             std::min<std::int64_t>(start + window[d], in));
    }
  }
  return box_pool(x, ranges, mode);
}

Tensor adaptive_pool(const Tensor& x, const Dims& out, Mode mode) {
  auto& ranges = range_scratch(out.size());
  for (std::size_t d = 0; d < out.size(); ++d) {
    const std::int64_t in = x.dim(d + 1);
    for (std::int64_t i = 0; i < out[d]; ++i) {
      const std::int64_t begin = (i * in) / out[d];                   // floor
      const std::int64_t end = ((i + 1) * in + out[d] - 1) / out[d];  // ceil
      ranges[d].emplace_back(begin, end);
    }
  }
  return box_pool(x, ranges, mode);
}

}  // namespace kserde::pool
