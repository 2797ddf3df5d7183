#include "training/backprop.hpp"

#include <algorithm>

#include "kserde/error.hpp"

namespace kserde::training {

void accumulate(GradMap& grads, const Variable& v, Tensor g) {
  auto it = grads.find(&v);
  if (it == grads.end()) {
    grads.emplace(&v, std::move(g));
    return;
  }
  Tensor sum = it->second.clone();
  float* s = sum.f32_mut();
  const float* p = g.f32();
  for (std::int64_t i = 0; i < sum.num_elements(); ++i) s[i] += p[i];
  it->second = sum;
}

std::int64_t rows_of(const Tensor& t) {
  if (t.rank() == 0) return 1;
  const std::int64_t last = t.shape().back();
  return last == 0 ? 0 : t.num_elements() / last;
}

Tensor transpose2d(const float* a, std::int64_t rows, std::int64_t cols) {
  Tensor t = Tensor::uninitialized({cols, rows}, DType::Float32);
  float* o = t.f32_mut();
  // In 32 x 32 tiles, so both the reads and the strided writes stay in cache.
  constexpr std::int64_t kTile = 32;
  for (std::int64_t r0 = 0; r0 < rows; r0 += kTile) {
    const std::int64_t r1 = std::min(rows, r0 + kTile);
    for (std::int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const std::int64_t c1 = std::min(cols, c0 + kTile);
      for (std::int64_t r = r0; r < r1; ++r) {
        for (std::int64_t c = c0; c < c1; ++c) o[c * rows + r] = a[r * cols + c];
      }
    }
  }
  return t;
}

std::unique_ptr<LayerBackprop> make_backprop(Layer& layer, TrainContext& ctx) {
  if (auto b = make_model_backprop(layer, ctx)) return b;
  if (auto b = make_dense_backprop(layer)) return b;
  if (auto b = make_activation_backprop(layer)) return b;
  if (auto b = make_reshaping_backprop(layer, ctx)) return b;
  if (auto b = make_conv_backprop(layer)) return b;
  if (auto b = make_normalization_backprop(layer)) return b;
  throw UnsupportedError(layer.describe() + ": kserde has no backward pass for " +
                         layer.class_name() + ", so it cannot train this model");
}

}  // namespace kserde::training
