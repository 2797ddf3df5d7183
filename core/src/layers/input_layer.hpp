// keras.layers.InputLayer (internal declaration; models need its batch shape and dtype).
#pragma once

#include "kserde/deserializer.hpp"
#include "kserde/layer.hpp"

namespace kserde {

class InputLayer final : public Layer {
 public:
  InputLayer(std::shared_ptr<JsonDocument> object_dict, Deserializer& ctx);
  TensorList call(const TensorList& inputs, CallContext& ctx) override;
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override;
  const Shape& batch_shape() const { return batch_shape_; }
  DType dtype() const { return dtype_; }

 private:
  Shape batch_shape_;
  DType dtype_ = DType::Float32;
};

}  // namespace kserde
