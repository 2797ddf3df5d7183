// Shared pieces of the Keras image preprocessing layers (keras.layers.Resizing, CenterCrop,
// RandomCrop, the Random* augmentation layers): the image layout of an input (rank 3 = one image,
// rank 4 = a batch, as BaseImagePreprocessingLayer reads it), window copies (crop and pad) and
// Keras's NumPy-backend image.resize.
#pragma once

#include <cstdint>
#include <string>

#include "kserde/tensor.hpp"

namespace kserde::detail {

// An image tensor seen as [outer, height, width, inner]: channels_last (..., H, W, C) has
// inner = C; channels_first (..., C, H, W) has inner = 1 and the channels in outer.
struct ImageLayout {
  std::size_t h_axis = 0;
  std::int64_t outer = 1;
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t inner = 1;
};

// Axis of the height for an image tensor of `rank` (3 or 4); ShapeError naming `who` otherwise.
std::size_t image_height_axis(std::size_t rank, bool channels_first, const std::string& who);
ImageLayout image_layout(const Shape& shape, bool channels_first, const std::string& who);
// `shape` (an image tensor's) with its height and width set to `height` and `width`.
Shape resized_image_shape(Shape shape, bool channels_first, std::int64_t height, std::int64_t width,
                          const std::string& who);
// "channels_last" -> false, "channels_first" -> true; ConfigError naming `who` otherwise.
bool parse_data_format(const std::string& value, const std::string& who);

// out[o, i, j, k] = x[o, i + top, j + left, k] where that lies inside x, else `fill`; the output
// has `height` x `width` spatial size. Float32 in and out.
Tensor image_window(const Tensor& x, const ImageLayout& l, std::int64_t top, std::int64_t left,
                    std::int64_t height, std::int64_t width, float fill);

// keras.ops.image.resize on the NumPy backend for a float32 image tensor: `method` is "nearest",
// "bilinear", "bicubic", "lanczos3" or "lanczos5"; an axis whose size does not change is left
// as it is. Half-pixel centres; with `antialias` a downscaling kernel is widened by the scale.
Tensor image_resize(const Tensor& x, const ImageLayout& l, std::int64_t height, std::int64_t width,
                    const std::string& method, bool antialias);

// Keras's center crop to the target aspect ratio (smart_resize, crop_to_aspect_ratio): the
// (top, left, height, width) window of an h x w image.
struct CropBox {
  std::int64_t top;
  std::int64_t left;
  std::int64_t height;
  std::int64_t width;
};
CropBox aspect_ratio_crop(std::int64_t h, std::int64_t w, std::int64_t target_h,
                          std::int64_t target_w);

// A resized float32 result in `dtype`, as Keras's Resizing returns it: for an integer dtype the
// values are rounded half to even and clipped to the minimum and maximum of `range` (the image
// that was resized, NumPy backend), or to the dtype's own range when `range` is null.
Tensor restore_image_dtype(const Tensor& resized, DType dtype, const Tensor* range);

}  // namespace kserde::detail
