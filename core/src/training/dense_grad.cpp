// keras.layers.Dense's backward pass: z = x @ kernel + bias, y = activation(z);
// d kernel = x^T @ dz, d bias = column sums of dz, dx = dz @ kernel^T.
#include "kserde/error.hpp"
#include "ops/gemm.hpp"
#include "training/backprop.hpp"

namespace kserde::training {

namespace {

class DenseBackprop final : public LayerBackprop {
 public:
  DenseBackprop(Layer& layer, std::string activation)
      : layer_(layer), activation_(std::move(activation)) {}

  TensorList forward(const TensorList& in, TrainContext&) override {
    const Tensor& kernel = layer_.variables()[0].value;
    x_ = in.at(0).to(DType::Float32);
    in_dim_ = kernel.dim(0);
    units_ = kernel.dim(1);
    if (x_.rank() < 2 || x_.shape().back() != in_dim_) {
      throw ShapeError(layer_.describe() + ": input of shape " + shape_to_string(x_.shape()) +
                       " does not match the kernel " + shape_to_string(kernel.shape()));
    }
    rows_ = rows_of(x_);
    Shape out_shape = x_.shape();
    out_shape.back() = units_;
    z_ = Tensor(out_shape, DType::Float32);
    if (rows_ > 0) {
      ops::gemm(rows_, units_, in_dim_, x_.f32(), in_dim_, kernel.f32(), units_, z_.f32_mut(),
                units_);
    }
    if (layer_.variables().size() > 1) {
      const float* b = layer_.variables()[1].value.f32();
      float* z = z_.f32_mut();
      for (std::int64_t r = 0; r < rows_; ++r) {
        for (std::int64_t j = 0; j < units_; ++j) z[r * units_ + j] += b[j];
      }
    }
    y_ = z_.clone();
    activation_forward(activation_, y_);
    return {y_};
  }

  TensorList backward(const TensorList& d, GradMap& grads) override {
    const Variable& kernel = layer_.variables()[0];
    const Tensor dz = activation_backward(activation_, z_, y_, d.at(0));
    Tensor dw({in_dim_, units_}, DType::Float32);
    Tensor dx(x_.shape(), DType::Float32);
    if (rows_ > 0) {
      const Tensor xt = transpose2d(x_.f32(), rows_, in_dim_);
      ops::gemm(in_dim_, units_, rows_, xt.f32(), rows_, dz.f32(), units_, dw.f32_mut(), units_);
      const Tensor wt = transpose2d(kernel.value.f32(), in_dim_, units_);
      ops::gemm(rows_, in_dim_, units_, dz.f32(), units_, wt.f32(), in_dim_, dx.f32_mut(), in_dim_);
    }
    accumulate(grads, kernel, dw);
    if (layer_.variables().size() > 1) {
      Tensor db({units_}, DType::Float32);
      float* pb = db.f32_mut();
      const float* pz = dz.f32();
      for (std::int64_t r = 0; r < rows_; ++r) {
        for (std::int64_t j = 0; j < units_; ++j) pb[j] += pz[r * units_ + j];
      }
      accumulate(grads, layer_.variables()[1], db);
    }
    return {dx};
  }

 private:
  Layer& layer_;
  std::string activation_;
  Tensor x_, z_, y_;
  std::int64_t in_dim_ = 0, units_ = 0, rows_ = 0;
};

}  // namespace

std::unique_ptr<LayerBackprop> make_dense_backprop(Layer& layer) {
  if (layer.class_name() != "Dense") return nullptr;
  const std::string act = activation_name(layer);
  if (!activation_has_backprop(act)) {
    throw UnsupportedError(layer.describe() + ": activation '" + act +
                           "' has no backward pass in kserde, so it cannot train this model");
  }
  if (layer.variables().empty() || layer.variables().size() > 2 ||
      layer.variables()[0].value.rank() != 2 ||
      layer.variables()[0].value.dtype() != DType::Float32) {
    throw UnsupportedError(layer.describe() +
                           ": only float32 Dense layers with a kernel and an optional bias "
                           "(no LoRA or quantization) can be trained by kserde");
  }
  return std::make_unique<DenseBackprop>(layer, act);
}

}  // namespace kserde::training
