#include "layers/convolutional/conv_kernels.hpp"

#include <algorithm>
#include <cstring>
#include <span>
#include <vector>

#include "ops/gemm.hpp"
#include "ops/kernel_set.hpp"
#include "ops/thread_pool.hpp"

namespace kserde::conv {

namespace {

using spatial::Dims;

// col2im works in row chunks so the column buffer stays around this many floats (1 MiB: scratch
// stays small next to the activations, and each GEMM still gets hundreds of rows).
constexpr std::int64_t kColumnBudget = std::int64_t{1} << 18;
// convolve(): floats per im2col chunk (512 KiB: the chunk is still in L2 when the GEMM reads it,
// measured faster than 1-2 MiB chunks on the benchmark's convolutions).
constexpr std::int64_t kGemmBudget = std::int64_t{1} << 17;
// The direct (im2col-free) path: at most this many filters and taps x channels.
constexpr std::int64_t kDirectMaxFilters = 32;
constexpr std::int64_t kDirectMaxDepth = 64;

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
// The table is per-thread storage reused from call to call (steady state allocates nothing); it
// stays valid until the calling thread's next tap_offsets.
const std::vector<std::int64_t>& tap_offsets(const Geometry& g) {
  thread_local std::vector<std::int64_t> offs;
  const std::size_t r = g.kernel.size();
  offs.clear();
  offs.reserve(static_cast<std::size_t>(spatial::product(g.kernel)) * r);
  Dims kk(r, 0);
  do {
    for (std::size_t d = 0; d < r; ++d) offs.push_back(kk[d] * g.dilation[d]);
  } while (spatial::next_index(kk, g.kernel));
  return offs;
}

// Window taps adjacent in memory (taps whose offsets follow each other): one block copy where the
// window lies inside the input.
struct Run {
  std::int64_t pos, taps;
};

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

// Copies count floats into an im2col row. Short runs (a few channels: one 3-tap run of a 1-channel
// image is 3 floats) move a whole block of 4, 8 or kBlock floats instead, one vector load and
// store: the extra floats land where the row's next run (or the next row) is written right after,
// and the buffer has kBlock floats of slack; the source must have kBlock readable floats (src_end).
constexpr std::int64_t kBlock = 16;

void copy_floats(float* dst, const float* src, std::int64_t count, const float* src_end) {
  // The narrowest move that covers count (wide unaligned stores split across cache lines).
  if (count <= 4 && src_end - src >= 4) {
    std::memcpy(dst, src, 4 * sizeof(float));
  } else if (count <= 8 && src_end - src >= 8) {
    std::memcpy(dst, src, 8 * sizeof(float));
  } else if (count <= kBlock && src_end - src >= kBlock) {
    std::memcpy(dst, src, kBlock * sizeof(float));
  } else {
    std::memcpy(dst, src, static_cast<std::size_t>(count) * sizeof(float));
  }
}

Shape out_shape(std::int64_t n, const Dims& out, std::int64_t channels) {
  return spatial::make_shape(n, out, channels, false);
}

void apply_epilogue(const Epilogue& e, float* rows, std::int64_t count, std::int64_t f) {
  if (e.bias != nullptr) ops::active_kernels().add_bias(rows, count, f, e.bias);
  if (e.activation != nullptr)
    e.activation(std::span<float>(rows, static_cast<std::size_t>(count * f)), f);
}

}  // namespace

Tensor convolve(const Tensor& x, const Tensor& kernel, std::int64_t groups, const Geometry& g,
                const Epilogue& epilogue) {
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

  // Every output row is written by a GEMM below.
  Tensor y = Tensor::uninitialized(out_shape(n, g.out, f), DType::Float32);
  const std::int64_t total = n * p_out;
  if (total == 0 || f == 0) return y;

  const std::vector<std::int64_t>& offs = tap_offsets(g);
  const Dims in_strides = position_strides(g.in);
  const float* xd = x.f32();
  const float* x_end = xd + x.num_elements();
  const float* wd = kernel.f32();
  float* yd = y.f32_mut();

  // Rows go to the inference pool in parts; each part builds its im2col rows in chunks of about
  // kGemmBudget floats (a multiple of kRowGrain rows; a short tail joins the chunk before it), so
  // every GEMM holds at least kRowGrain rows: the result is bitwise the same for any thread count.
  const std::int64_t grain = ops::kRowGrain;
  const std::int64_t chunk =
      std::max<std::int64_t>(kGemmBudget / std::max<std::int64_t>(k, 1) / grain, 1) * grain;
  const double work = static_cast<double>(total) * static_cast<double>(k) * static_cast<double>(f);
  // Every window inside the input: no padding before, and the last window ends inside too ('same'
  // padding can put all of its padding after).
  auto inside_input = [&](std::size_t d) {
    return g.pad[d] == 0 &&
           (g.out[d] - 1) * g.stride[d] + (g.kernel[d] - 1) * g.dilation[d] < g.in[d];
  };
  if (r == 2 && groups == 1 && f <= kDirectMaxFilters && k <= kDirectMaxDepth && inside_input(0) &&
      inside_input(1)) {
    // Few filters over few channels, no padding (e.g. a first 'valid' Conv2D on a grayscale
    // image): each output image row accumulates its taps straight from the input rows, with no
    // im2col copy and no per-position bookkeeping. Every output element is one multiply-add chain
    // over the k taps in order (the same for any thread count).
    // Reused from call to call (steady state allocates nothing); a reference, since the workers
    // below must see this thread's table, not their own.
    thread_local std::vector<std::int64_t> tap_offset_table;
    std::vector<std::int64_t>& tap_offset = tap_offset_table;
    tap_offset.resize(static_cast<std::size_t>(k));
    for (std::int64_t t = 0; t < taps; ++t) {
      const std::int64_t ky = offs[static_cast<std::size_t>(t) * 2];
      const std::int64_t kx = offs[static_cast<std::size_t>(t) * 2 + 1];
      for (std::int64_t ch = 0; ch < c; ++ch) {
        tap_offset[static_cast<std::size_t>(t * c + ch)] = (ky * g.in[1] + kx) * c + ch;
      }
    }
    const std::int64_t out_h = g.out[0], out_w = g.out[1];
    const std::int64_t step = g.stride[1] * c;
    const ops::NarrowOperand weights(wd, k, f);
    ops::parallel_for(n * out_h, 1, work, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t row = r0; row < r1; ++row) {
        const std::int64_t b = row / out_h, oy = row % out_h;
        const float* base = xd + (b * g.in[0] + oy * g.stride[0]) * g.in[1] * c;
        float* out = yd + row * out_w * f;
        ops::narrow_gather(base, step, out_w, tap_offset.data(), weights, out);
        // While the row is still in L1.
        apply_epilogue(epilogue, out, out_w, f);
      }
    });
    return y;
  }
  if (taps == 1 && groups == 1 && p_in == p_out &&
      std::all_of(g.stride.begin(), g.stride.end(), [](std::int64_t v) { return v == 1; }) &&
      std::all_of(g.pad.begin(), g.pad.end(), [](std::int64_t v) { return v == 0; })) {
    // A 1x1 convolution is a plain product: x is its own im2col matrix.
    ops::gemm(total, f, c, xd, c, wd, f, yd, f);
    apply_epilogue(epilogue, yd, total, f);
    return y;
  }

  // Input-position offset of every tap from the window's first position, grouped into runs of
  // taps adjacent in memory: where the window lies inside the input, a run is one block copy.
  // Per-thread tables reused from call to call (steady-state predictions allocate nothing), used
  // through references: the workers below must see this thread's tables, not their own.
  thread_local std::vector<std::int64_t> tap_pos_table;
  thread_local std::vector<Run> run_table;
  std::vector<std::int64_t>& tap_pos = tap_pos_table;
  tap_pos.assign(static_cast<std::size_t>(taps), 0);
  for (std::int64_t t = 0; t < taps; ++t) {
    for (std::size_t d = 0; d < r; ++d) {
      tap_pos[static_cast<std::size_t>(t)] +=
          offs[static_cast<std::size_t>(t) * r + d] * in_strides[d];
    }
  }
  std::vector<Run>& runs = run_table;
  runs.clear();
  for (const std::int64_t pos : tap_pos) {
    if (groups == 1 && !runs.empty() && pos == runs.back().pos + runs.back().taps) {
      ++runs.back().taps;
    } else {
      runs.push_back({pos, 1});
    }
  }
  Dims extent(r);  // last tap's offset per dimension
  for (std::size_t d = 0; d < r; ++d) extent[d] = (g.kernel[d] - 1) * g.dilation[d];

  ops::parallel_rows(total, work, [&](std::int64_t begin, std::int64_t end) {
    thread_local std::vector<float> buffer;
    const std::int64_t cap = std::min(end - begin, chunk + grain - 1);
    if (buffer.size() < static_cast<std::size_t>(cap * k + kBlock)) {
      buffer.resize(static_cast<std::size_t>(cap * k + kBlock));
    }
    float* cols = buffer.data();
    Dims o(r), base(r);
    for (std::int64_t row0 = begin; row0 < end;) {
      std::int64_t row1 = std::min(row0 + chunk, end);
      if (end - row1 < grain) row1 = end;
      const std::int64_t rows = row1 - row0;
      for (std::int64_t grp = 0; grp < groups; ++grp) {
        std::int64_t b = row0 / p_out;
        unravel(row0 % p_out, g.out, o);
        // A window inside the input: its runs of adjacent taps, each one block copy.
        auto fill_inside = [&](float* dst, const float* window) {
          for (const Run& run : runs) {
            copy_floats(dst, window + run.pos * c, run.taps * cg, x_end);
            dst += run.taps * cg;
          }
        };
        // A window over the border: tap by tap, zeros for padding.
        auto fill_border = [&](float* dst) {
          for (std::int64_t t = 0; t < taps; ++t, dst += cg) {
            const std::int64_t pos = source_position(
                base, offs.data() + t * static_cast<std::int64_t>(r), g.in, in_strides);
            if (pos < 0) {
              std::fill(dst, dst + cg, 0.0f);
            } else {
              copy_floats(dst, xd + ((b * p_in + pos) * c + grp * cg), cg, x_end);
            }
          }
        };
        if (r == 2) {
          // 2D (Conv2D): rows come in runs of one image row, whose vertical extent is checked once.
          for (std::int64_t i = 0; i < rows;) {
            const std::int64_t span = std::min(rows - i, g.out[1] - o[1]);
            base[0] = o[0] * g.stride[0] - g.pad[0];
            const bool rows_inside = base[0] >= 0 && base[0] + extent[0] < g.in[0];
            const float* image_row =
                rows_inside ? xd + (b * g.in[0] + base[0]) * g.in[1] * c + grp * cg : nullptr;
            for (std::int64_t s = 0; s < span; ++s) {
              base[1] = (o[1] + s) * g.stride[1] - g.pad[1];
              float* dst = cols + (i + s) * k;
              if (rows_inside && base[1] >= 0 && base[1] + extent[1] < g.in[1]) {
                fill_inside(dst, image_row + base[1] * c);
              } else {
                fill_border(dst);
              }
            }
            i += span;
            o[1] += span;
            if (o[1] == g.out[1]) {
              o[1] = 0;
              if (++o[0] == g.out[0]) {
                o[0] = 0;
                ++b;
              }
            }
          }
        } else {
          for (std::int64_t i = 0; i < rows; ++i) {
            bool inside = true;
            std::int64_t base_pos = 0;
            for (std::size_t d = 0; d < r; ++d) {
              base[d] = o[d] * g.stride[d] - g.pad[d];
              inside = inside && base[d] >= 0 && base[d] + extent[d] < g.in[d];
              base_pos += base[d] * in_strides[d];
            }
            float* dst = cols + i * k;
            if (inside) {
              fill_inside(dst, xd + (b * p_in + base_pos) * c + grp * cg);
            } else {
              fill_border(dst);
            }
            // Next output position (row-major odometer over the output dims, then the batch).
            std::size_t d = r;
            while (d > 0 && ++o[d - 1] == g.out[d - 1]) o[--d] = 0;
            if (d == 0) ++b;
          }
        }
        ops::gemm_serial(rows, fg, k, cols, k, wd + grp * fg, f, yd + row0 * f + grp * fg, f);
      }
      apply_epilogue(epilogue, yd + row0 * f, rows, f);
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

  Tensor y = Tensor::recycled_zeros(out_shape(n, g.out, c * dm), DType::Float32);
  const std::vector<std::int64_t>& offs = tap_offsets(g);
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

  Tensor y = Tensor::recycled_zeros(out_shape(n, g.out, f), DType::Float32);
  const std::int64_t total = n * p_in;
  if (total == 0 || k == 0) return y;

  const std::vector<std::int64_t>& offs = tap_offsets(g);
  const Dims out_strides = position_strides(g.out);
  // The kernel as (input channel, (tap, filter)): its transpose, once.
  // Scratch from the tensor buffer cache: steady-state calls allocate nothing.
  std::vector<float, CachedAllocator<float>> wt(static_cast<std::size_t>(c * k));
  const float* wd = kernel.f32();
  for (std::int64_t q = 0; q < k; ++q) {
    for (std::int64_t ch = 0; ch < c; ++ch)
      wt[static_cast<std::size_t>(ch * k + q)] = wd[q * c + ch];
  }
  const float* xd = x.f32();
  float* yd = y.f32_mut();

  // Every input row contributes x_row @ kernel^T (one filter vector per tap); col2im scatters
  // those vectors to their output positions.
  const std::int64_t chunk = rows_per_chunk(total, k);
  std::vector<float, CachedAllocator<float>> cols(static_cast<std::size_t>(chunk * k));
  Dims i_idx(r), base(r);
  for (std::int64_t row0 = 0; row0 < total; row0 += chunk) {
    const std::int64_t rows = std::min(chunk, total - row0);
    ops::gemm(rows, k, c, xd + row0 * c, c, wt.data(), k, cols.data(), k);
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
