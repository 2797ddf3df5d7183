// Image layouts, window copies and Keras's NumPy-backend image.resize (keras/src/backend/numpy/
// image.py: _resize_nearest, _compute_weight_mat, _scale_and_translate), shared by the image
// preprocessing layers.
#include "layers/preprocessing/image_util.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "layers/common.hpp"

namespace kserde::detail {

std::size_t image_height_axis(std::size_t rank, bool channels_first, const std::string& who) {
  if (rank != 3 && rank != 4) {
    throw ShapeError(who +
                     " expects an image tensor of rank 3 (one image) or 4 (a batch of images), "
                     "got rank " +
                     std::to_string(rank));
  }
  return rank - (channels_first ? 2 : 3);
}

Shape resized_image_shape(Shape shape, bool channels_first, std::int64_t height, std::int64_t width,
                          const std::string& who) {
  const std::size_t h = image_height_axis(shape.size(), channels_first, who);
  shape[h] = height;
  shape[h + 1] = width;
  return shape;
}

ImageLayout image_layout(const Shape& shape, bool channels_first, const std::string& who) {
  ImageLayout l;
  l.h_axis = image_height_axis(shape.size(), channels_first, who);
  for (std::size_t d = 0; d < l.h_axis; ++d) l.outer *= shape[d];
  l.height = shape[l.h_axis];
  l.width = shape[l.h_axis + 1];
  for (std::size_t d = l.h_axis + 2; d < shape.size(); ++d) l.inner *= shape[d];
  return l;
}

bool parse_data_format(const std::string& value, const std::string& who) {
  if (value != "channels_last" && value != "channels_first") {
    throw ConfigError(who + ": data_format must be 'channels_last' or 'channels_first', got '" +
                      value + "'");
  }
  return value == "channels_first";
}

namespace {

Shape with_hw(const Tensor& x, const ImageLayout& l, std::int64_t h, std::int64_t w) {
  Shape s = x.shape();
  s[l.h_axis] = h;
  s[l.h_axis + 1] = w;
  return s;
}

double triangle(double x) {
  return std::max(0.0, 1.0 - std::fabs(x));
}
double keys_cubic(double x) {
  x = std::fabs(x);
  if (x >= 2.0) return 0.0;
  if (x >= 1.0) return ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0;
  return ((1.5 * x - 2.5) * x) * x + 1.0;
}
double lanczos(double radius, double x) {
  x = std::fabs(x);
  if (x > radius) return 0.0;
  if (x <= 1e-3) return 1.0;
  const double pi = std::numbers::pi;
  return radius * std::sin(pi * x) * std::sin(pi * x / radius) / (pi * pi * x * x);
}

double kernel(const std::string& method, double x) {
  if (method == "bilinear") return triangle(x);
  if (method == "bicubic") return keys_cubic(x);
  return lanczos(method == "lanczos3" ? 3.0 : 5.0, x);
}

// Weights w[in * n + out] of _compute_weight_mat with scale n / m and no translation.
void weight_matrix(std::int64_t m, std::int64_t n, const std::string& method, bool antialias,
                   FloatBuffer& out) {
  const double scale = static_cast<double>(n) / static_cast<double>(m);
  const double inv_scale = 1.0 / scale;
  const double kernel_scale = antialias ? std::max(inv_scale, 1.0) : 1.0;
  out.assign(static_cast<std::size_t>(m * n), 0.0f);
  for (std::int64_t j = 0; j < n; ++j) {
    const double sample = (static_cast<double>(j) + 0.5) * inv_scale - 0.5;
    if (!(sample >= -0.5 && sample <= static_cast<double>(m) - 0.5)) continue;
    double total = 0.0;
    for (std::int64_t i = 0; i < m; ++i) {
      total += kernel(method, std::fabs(sample - static_cast<double>(i)) / kernel_scale);
    }
    if (!(std::fabs(total) > 1000.0 * static_cast<double>(std::numeric_limits<float>::epsilon()))) {
      continue;
    }
    for (std::int64_t i = 0; i < m; ++i) {
      const double k = kernel(method, std::fabs(sample - static_cast<double>(i)) / kernel_scale);
      out[static_cast<std::size_t>(i * n + j)] = static_cast<float>(k / total);
    }
  }
}

// Resamples the height (axis 1 of the [outer, H, W, inner] view) or the width (axis 2).
Tensor resize_axis(const Tensor& x, const ImageLayout& l, bool height_axis, std::int64_t n,
                   const std::string& method, bool antialias) {
  const std::int64_t m = height_axis ? l.height : l.width;
  const std::int64_t h = height_axis ? n : l.height;
  const std::int64_t w = height_axis ? l.width : n;
  Tensor out = Tensor::recycled_zeros(with_hw(x, l, h, w), DType::Float32);
  // Rows of the view: [outer * (H before axis)] x m x [rest].
  const std::int64_t before = height_axis ? l.outer : l.outer * l.height;
  const std::int64_t after = height_axis ? l.width * l.inner : l.inner;
  const float* px = x.f32();
  float* po = out.f32_mut();
  if (method == "nearest") {
    for (std::int64_t j = 0; j < n; ++j) {
      // (j + 0.5) * m / n in float32, floored (NumPy backend).
      const float pos =
          (static_cast<float>(j) + 0.5f) * static_cast<float>(m) / static_cast<float>(n);
      const std::int64_t i =
          std::min<std::int64_t>(static_cast<std::int64_t>(std::floor(pos)), m - 1);
      for (std::int64_t b = 0; b < before; ++b) {
        std::copy_n(px + (b * m + i) * after, after, po + (b * n + j) * after);
      }
    }
    return out;
  }
  FloatBuffer wm;
  weight_matrix(m, n, method, antialias, wm);
  for (std::int64_t b = 0; b < before; ++b) {
    for (std::int64_t j = 0; j < n; ++j) {
      float* dst = po + (b * n + j) * after;
      for (std::int64_t i = 0; i < m; ++i) {
        const float wij = wm[static_cast<std::size_t>(i * n + j)];
        if (wij == 0.0f) continue;
        const float* src = px + (b * m + i) * after;
        for (std::int64_t k = 0; k < after; ++k) dst[k] += wij * src[k];
      }
    }
  }
  return out;
}

}  // namespace

Tensor image_window(const Tensor& x, const ImageLayout& l, std::int64_t top, std::int64_t left,
                    std::int64_t height, std::int64_t width, float fill) {
  Tensor out = Tensor::uninitialized(with_hw(x, l, height, width), DType::Float32);
  const float* px = x.f32();
  float* po = out.f32_mut();
  const std::int64_t c = l.inner;
  for (std::int64_t o = 0; o < l.outer; ++o) {
    for (std::int64_t i = 0; i < height; ++i) {
      const std::int64_t si = i + top;
      for (std::int64_t j = 0; j < width; ++j) {
        const std::int64_t sj = j + left;
        float* dst = po + ((o * height + i) * width + j) * c;
        if (si < 0 || si >= l.height || sj < 0 || sj >= l.width) {
          std::fill_n(dst, c, fill);
        } else {
          std::copy_n(px + ((o * l.height + si) * l.width + sj) * c, c, dst);
        }
      }
    }
  }
  return out;
}

Tensor image_resize(const Tensor& x, const ImageLayout& l, std::int64_t height, std::int64_t width,
                    const std::string& method, bool antialias) {
  Tensor y = x;
  ImageLayout cur = l;
  if (height != l.height) {
    y = resize_axis(y, cur, true, height, method, antialias);
    cur.height = height;
  }
  if (width != l.width) y = resize_axis(y, cur, false, width, method, antialias);
  return y;
}

CropBox aspect_ratio_crop(std::int64_t h, std::int64_t w, std::int64_t target_h,
                          std::int64_t target_w) {
  // int(float(a * b) / c) truncates toward zero, as Python's int() does.
  auto ratio = [](std::int64_t a, std::int64_t b, std::int64_t c) {
    return static_cast<std::int64_t>(static_cast<double>(a * b) / static_cast<double>(c));
  };
  CropBox box{};
  box.height = std::max<std::int64_t>(std::min(h, ratio(w, target_h, target_w)), 1);
  box.width = std::max<std::int64_t>(std::min(w, ratio(h, target_w, target_h)), 1);
  box.top = static_cast<std::int64_t>(static_cast<double>(h - box.height) / 2.0);
  box.left = static_cast<std::int64_t>(static_cast<double>(w - box.width) / 2.0);
  return box;
}

Tensor restore_image_dtype(const Tensor& resized, DType dtype, const Tensor* range) {
  if (is_floating(dtype)) return resized;
  double lo = 0.0;
  double hi = 0.0;
  if (range != nullptr) {
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    const Tensor src = ops::as_float32(*range);
    for (float v : src.values<float>()) {
      lo = std::min(lo, static_cast<double>(v));
      hi = std::max(hi, static_cast<double>(v));
    }
  } else {
    switch (dtype) {
      case DType::Int8:
        lo = -128.0;
        hi = 127.0;
        break;
      case DType::Int16:
        lo = -32768.0;
        hi = 32767.0;
        break;
      case DType::Int32:
        lo = -2147483648.0;
        hi = 2147483647.0;
        break;
      case DType::UInt8:
        hi = 255.0;
        break;
      case DType::UInt16:
        hi = 65535.0;
        break;
      case DType::UInt32:
        hi = 4294967295.0;
        break;
      case DType::Bool:
        hi = 1.0;
        break;
      default:
        lo = -9.2233720368547758e18;
        hi = dtype == DType::Int64 ? 9.2233720368547758e18 : 1.8446744073709552e19;
        break;
    }
    if (dtype == DType::UInt64) lo = 0.0;
  }
  Tensor r = resized.clone();
  for (float& v : r.mutable_values<float>()) {
    v = static_cast<float>(std::clamp(static_cast<double>(std::nearbyint(v)), lo, hi));
  }
  return r.to(dtype);
}

}  // namespace kserde::detail
