#include "layers/convolutional/conv_kernels.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/eigen.hpp"
#include "ops/thread_pool.hpp"

namespace kserde::conv {

namespace {

using spatial::Dims;

// im2col/col2im work in row chunks so the column buffer stays around this many floats.
constexpr std::int64_t kColumnBudget = std::int64_t{1} << 22;
// convolve(): floats per im2col chunk (cache-sized; also the unit of work given to a thread).
constexpr std::int64_t kGemmBudget = std::int64_t{1} << 17;

std::int64_t rows_per_chunk(std::int64_t total_rows, std::int64_t cols) {
  return std::clamp<std::int64_t>(kColumnBudget / std::max<std::int64_t>(cols, 1), 1,
                                  std::max<std::int64_t>(total_rows, 1));
}

// Row-major element strides of the spatial dims (in positions, not floats).
Dims position_strides(const Dims& dims) {
  Dims s(dims.size(), 1);
  for (std::size_t d = dims.size(); d-- > 1;) s[d - 1] = s[d] * dims[d];
  return s;
}

// For every kernel tap (row-major over the window): its offset kk_d * dilation_d per dimension.
Dims tap_offsets(const Geometry& g) {
  const std::size_t r = g.kernel.size();
  Dims offs;
  offs.reserve(static_cast<std::size_t>(spatial::product(g.kernel)) * r);
  Dims kk(r, 0);
  do {
    for (std::size_t d = 0; d < r; ++d) offs.push_back(kk[d] * g.dilation[d]);
  } while (spatial::next_index(kk, g.kernel));
  return offs;
}

// Multi-index of a linear position over `dims`.
void unravel(std::int64_t pos, const Dims& dims, Dims& idx) {
  for (std::size_t d = dims.size(); d-- > 0;) {
    idx[d] = pos % dims[d];
    pos /= dims[d];
  }
}

// Input position of output `o` and tap `t` (-1 when it falls into padding).
std::int64_t source_position(const Dims& base, const std::int64_t* tap, const Dims& in,
                             const Dims& in_strides) {
  std::int64_t pos = 0;
  for (std::size_t d = 0; d < in.size(); ++d) {
    const std::int64_t c = base[d] + tap[d];
    if (c < 0 || c >= in[d]) return -1;
    pos += c * in_strides[d];
  }
  return pos;
}

Shape out_shape(std::int64_t n, const Dims& out, std::int64_t channels) {
  return spatial::make_shape(n, out, channels, false);
}

}  // namespace

Tensor convolve(const Tensor& x, const Tensor& kernel, std::int64_t groups, const Geometry& g) {
  const std::size_t r = g.in.size();
  const std::int64_t n = x.dim(0);
  const std::int64_t c = x.dim(r + 1);
  const std::int64_t cg = c / groups;
  const std::int64_t f = kernel.dim(r + 1);
  const std::int64_t fg = f / groups;
  const std::int64_t p_in = spatial::product(g.in);
  const std::int64_t p_out = spatial::product(g.out);
  const std::int64_t taps = spatial::product(g.kernel);
  const std::int64_t k = taps * cg;  // columns of one group's im2col matrix

  Tensor y(out_shape(n, g.out, f), DType::Float32);
  const std::int64_t total = n * p_out;
  if (total == 0 || f == 0) return y;

  const Dims offs = tap_offsets(g);
  const Dims in_strides = position_strides(g.in);
  const float* xd = x.f32();
  auto w = ops::as_matrix(kernel, k, f);
  auto out = ops::as_matrix(y, total, f);

  // Rows go to the inference pool in parts; each part builds its im2col rows in chunks of about
  // kGemmBudget floats (a multiple of kRowGrain rows; a short tail joins the chunk before it), so
  // every GEMM starts on a multiple of kRowGrain and holds at least kRowGrain rows: the result is
  // bitwise the same for any thread count.
  const std::int64_t g48 = ops::kRowGrain;
  const std::int64_t chunk =
      std::max<std::int64_t>(kGemmBudget / std::max<std::int64_t>(k, 1) / g48, 1) * g48;
  const double work = static_cast<double>(total) * static_cast<double>(k) * static_cast<double>(f);
  ops::parallel_rows(total, work, [&](std::int64_t begin, std::int64_t end) {
    thread_local std::vector<float> buffer;
    const std::int64_t cap = std::min(end - begin, chunk + g48 - 1);
    if (buffer.size() < static_cast<std::size_t>(cap * k)) buffer.resize(static_cast<std::size_t>(cap * k));
    ops::MatrixMap cols(buffer.data(), cap, k);
    Dims o(r), base(r);
    for (std::int64_t row0 = begin; row0 < end;) {
      std::int64_t row1 = std::min(row0 + chunk, end);
      if (end - row1 < g48) row1 = end;
      const std::int64_t rows = row1 - row0;
      for (std::int64_t grp = 0; grp < groups; ++grp) {
        for (std::int64_t i = 0; i < rows; ++i) {
          const std::int64_t row = row0 + i;
          const std::int64_t b = row / p_out;
          unravel(row % p_out, g.out, o);
          for (std::size_t d = 0; d < r; ++d) base[d] = o[d] * g.stride[d] - g.pad[d];
          float* dst = cols.data() + i * k;
          for (std::int64_t t = 0; t < taps; ++t, dst += cg) {
            const std::int64_t pos = source_position(
                base, offs.data() + t * static_cast<std::int64_t>(r), g.in, in_strides);
            if (pos < 0) {
              std::fill(dst, dst + cg, 0.0f);
            } else {
              std::memcpy(dst, xd + ((b * p_in + pos) * c + grp * cg),
                          static_cast<std::size_t>(cg) * sizeof(float));
            }
          }
        }
        out.block(row0, grp * fg, rows, fg).noalias() =
            cols.topRows(rows) * w.middleCols(grp * fg, fg);
      }
      row0 = row1;
    }
  });
  return y;
}

Tensor depthwise(const Tensor& x, const Tensor& kernel, const Geometry& g) {
  const std::size_t r = g.in.size();
  const std::int64_t n = x.dim(0);
  const std::int64_t c = x.dim(r + 1);
  const std::int64_t dm = kernel.dim(r + 1);
  const std::int64_t p_in = spatial::product(g.in);
  const std::int64_t p_out = spatial::product(g.out);
  const std::int64_t taps = spatial::product(g.kernel);

  Tensor y(out_shape(n, g.out, c * dm), DType::Float32);
  const Dims offs = tap_offsets(g);
  const Dims in_strides = position_strides(g.in);
  const float* xd = x.f32();
  const float* wd = kernel.f32();
  float* yd = y.f32_mut();
  Dims o(r), base(r);
  for (std::int64_t b = 0; b < n; ++b) {
    for (std::int64_t p = 0; p < p_out; ++p) {
      unravel(p, g.out, o);
      for (std::size_t d = 0; d < r; ++d) base[d] = o[d] * g.stride[d] - g.pad[d];
      float* dst = yd + (b * p_out + p) * c * dm;
      for (std::int64_t t = 0; t < taps; ++t) {
        const std::int64_t pos =
            source_position(base, offs.data() + t * static_cast<std::int64_t>(r), g.in, in_strides);
        if (pos < 0) continue;
        const float* src = xd + (b * p_in + pos) * c;
        const float* wt = wd + t * c * dm;  // kernel[tap] is (C, dm), laid out like the output row
        for (std::int64_t ch = 0; ch < c; ++ch) {
          const float v = src[ch];
          for (std::int64_t m = 0; m < dm; ++m) dst[ch * dm + m] += v * wt[ch * dm + m];
        }
      }
    }
  }
  return y;
}

Tensor transpose(const Tensor& x, const Tensor& kernel, const Geometry& g) {
  const std::size_t r = g.in.size();
  const std::int64_t n = x.dim(0);
  const std::int64_t c = x.dim(r + 1);
  const std::int64_t f = kernel.dim(r);
  const std::int64_t p_in = spatial::product(g.in);
  const std::int64_t p_out = spatial::product(g.out);
  const std::int64_t taps = spatial::product(g.kernel);
  const std::int64_t k = taps * f;

  Tensor y(out_shape(n, g.out, f), DType::Float32);
  const std::int64_t total = n * p_in;
  if (total == 0 || k == 0) return y;

  const Dims offs = tap_offsets(g);
  const Dims out_strides = position_strides(g.out);
  auto xin = ops::as_matrix(x, total, c);
  auto w = ops::as_matrix(kernel, k, c);  // row (tap, filter), column input channel
  float* yd = y.f32_mut();

  // Every input row contributes x_row @ kernel^T (one filter vector per tap); col2im scatters
  // those vectors to their output positions.
  const std::int64_t chunk = rows_per_chunk(total, k);
  ops::RowMatrix cols(chunk, k);
  Dims i_idx(r), base(r);
  for (std::int64_t row0 = 0; row0 < total; row0 += chunk) {
    const std::int64_t rows = std::min(chunk, total - row0);
    cols.topRows(rows).noalias() = xin.middleRows(row0, rows) * w.transpose();
    for (std::int64_t i = 0; i < rows; ++i) {
      const std::int64_t row = row0 + i;
      const std::int64_t b = row / p_in;
      unravel(row % p_in, g.in, i_idx);
      for (std::size_t d = 0; d < r; ++d) base[d] = i_idx[d] * g.stride[d] - g.pad[d];
      const float* src = cols.data() + i * k;
      for (std::int64_t t = 0; t < taps; ++t) {
        const std::int64_t pos = source_position(
            base, offs.data() + t * static_cast<std::int64_t>(r), g.out, out_strides);
        if (pos < 0) continue;
        float* dst = yd + (b * p_out + pos) * f;
        const float* v = src + t * f;
        for (std::int64_t j = 0; j < f; ++j) dst[j] += v[j];
      }
    }
  }
  return y;
}

}  // namespace kserde::conv
