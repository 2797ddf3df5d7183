#include "layers/pooling/pool_kernels.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "ops/kernel_set.hpp"
#include "ops/thread_pool.hpp"

namespace kserde::pool {

namespace {

using spatial::Dims;
using Range = ops::WindowRange;

// The 2D case (MaxPooling2D, AveragePooling2D) without the N-d index bookkeeping: one image at a
// time through the kernel set's pool_2d (ops/isa/window_kernels.cpp). Same operations per element
// as the general loop below.
// An input element read into a window costs about as much as a few multiply-adds of a GEMM (the
// pool's work unit): a load, a compare or add, and its share of the window bookkeeping.
constexpr double kWorkPerElement = 4;

void pool_2d(const float* xd, float* yd, std::int64_t n, std::int64_t in_h, std::int64_t in_w,
             std::int64_t c, const std::vector<Range>& ry, const std::vector<Range>& rx,
             Mode mode) {
  const std::int64_t row_stride = in_w * c;
  const std::int64_t in_pos = in_h * in_w;
  const auto out_pos = static_cast<std::int64_t>(ry.size() * rx.size());
  double window = 0;  // input elements read per image, the work estimate
  for (const Range& y_range : ry) window += static_cast<double>(y_range.end - y_range.begin);
  double across = 0;
  for (const Range& x_range : rx) across += static_cast<double>(x_range.end - x_range.begin);
  const ops::KernelSet& kernels = ops::active_kernels();
  const auto ny = static_cast<std::int64_t>(ry.size());
  const auto nx = static_cast<std::int64_t>(rx.size());
  // Images are independent: split them across the inference pool.
  ops::parallel_for(
      n, 1, kWorkPerElement * static_cast<double>(n) * window * across * static_cast<double>(c),
      [&](std::int64_t b0, std::int64_t b1) {
        for (std::int64_t b = b0; b < b1; ++b) {
          kernels.pool_2d(xd + b * in_pos * c, yd + b * out_pos * c, c, row_stride, ry.data(), ny,
                          rx.data(), nx, mode == Mode::Max);
        }
      });
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
      lo[d] = ranges[d][static_cast<std::size_t>(o[d])].begin;
      len[d] = ranges[d][static_cast<std::size_t>(o[d])].end - lo[d];
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
      ranges[d].push_back(
          {std::max<std::int64_t>(start, 0), std::min<std::int64_t>(start + window[d], in)});
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
      ranges[d].push_back({begin, end});
    }
  }
  return box_pool(x, ranges, mode);
}

}  // namespace kserde::pool
