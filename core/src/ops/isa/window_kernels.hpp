// Internal: the pooling-window and element-wise kernels of one instruction set (see
// ops/kernel_set.hpp for their contracts and isa/simd.hpp for the rules of this folder).
#pragma once

#include <cstdint>

#include "ops/kernel_set.hpp"

namespace kserde::ops::KSERDE_KERNEL_NS {

void pool_2d(const float* image, float* out, std::int64_t c, std::int64_t row_stride,
             const WindowRange* ry, std::int64_t ny, const WindowRange* rx, std::int64_t nx,
             bool max);
void add_bias(float* rows, std::int64_t count, std::int64_t f, const float* bias);
void relu(float* d, std::int64_t count);

}  // namespace kserde::ops::KSERDE_KERNEL_NS
