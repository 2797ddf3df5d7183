// Internal: N-d pooling kernels on channels_last float32 tensors (N, spatial..., C).
#pragma once

#include "layers/convolutional/spatial.hpp"

namespace kserde::pool {

enum class Mode { Max, Average };

// Sliding-window pooling as Keras's ops.max_pool / ops.average_pool (XLA reduce_window): the
// window of output o along each dimension starts at o * stride - pad. Padded positions never
// take part: max ignores them, average divides by the number of real elements in the window.
Tensor window_pool(const Tensor& x, const spatial::Dims& out, const spatial::Dims& window,
                   const spatial::Dims& stride, const spatial::Dims& pad, Mode mode);

// Adaptive pooling (Keras's ops.adaptive_*_pool): output i along a dimension of input length L
// and output length O pools input elements [floor(i * L / O), ceil((i + 1) * L / O)).
Tensor adaptive_pool(const Tensor& x, const spatial::Dims& out, Mode mode);

}  // namespace kserde::pool
