// Internal: N-d (1D/2D/3D, any rank really) convolution kernels on channels_last float32 tensors.
// One implementation serves Conv1D..Conv3D, their transposes, depthwise and separable layers.
#pragma once

#include <cstdint>

#include "kserde/activations.hpp"
#include "layers/convolutional/spatial.hpp"

namespace kserde::conv {

// Per spatial dimension: input and output lengths, window, stride, dilation and `pad`, the
// number of padding elements before the input (convolution) or the number of leading output
// elements cropped away (transposed convolution).
struct Geometry {
  spatial::Dims in, out, kernel, stride, dilation, pad;
};

// Work applied to each block of output rows while it is still in cache: + bias[f], then the
// activation over whole rows (rows are complete channel vectors, so axis-wise activations such as
// softmax see the same groups as on the whole tensor).
struct Epilogue {
  const float* bias = nullptr;
  ActivationFn activation = nullptr;
};

// Cross-correlation as Keras's ops.conv (XLA conv_general_dilated with feature groups):
// x (N, in..., C), kernel (*k, C/groups, F) -> (N, out..., F). im2col + GEMM per group.
Tensor convolve(const Tensor& x, const Tensor& kernel, std::int64_t groups, const Geometry& g,
                const Epilogue& epilogue = {});

// Depthwise cross-correlation: x (N, in..., C), kernel (*k, C, dm) -> (N, out..., C*dm), output
// channel c*dm + m from input channel c and kernel[..., c, m].
Tensor depthwise(const Tensor& x, const Tensor& kernel, const Geometry& g);

// Transposed convolution as Keras's ops.conv_transpose: x (N, in..., C), kernel (*k, F, C) ->
// (N, out..., F) where input i and tap j land on output i*stride + j*dilation - pad.
Tensor transpose(const Tensor& x, const Tensor& kernel, const Geometry& g);

}  // namespace kserde::conv
