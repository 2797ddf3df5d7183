// keras.layers.Embedding: y[..., :] = embeddings[id] for integer ids of any shape. Ids may be
// any integer dtype, or floats holding integers (truncated toward zero, as Keras's cast to int32).
// An id outside [0, input_dim) is a ShapeError naming the layer. With mask_zero, the output
// mask is ids != 0. Variable: embeddings (input_dim, output_dim).
#include <cstring>

#include "layers/common.hpp"

namespace kserde {

namespace {

class Embedding final : public Layer {
 public:
  Embedding(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    const JsonValue& c = config();
    input_dim_ = cfg::get_int(c, "input_dim", describe());
    output_dim_ = cfg::get_int(c, "output_dim", describe());
    if (input_dim_ <= 0)
      cfg::fail(describe(),
                "input_dim must be a positive integer, got " + std::to_string(input_dim_));
    if (output_dim_ <= 0)
      cfg::fail(describe(),
                "output_dim must be a positive integer, got " + std::to_string(output_dim_));
    config_default(
        "embeddings_initializer",
        R"({"module": "keras.initializers", "class_name": "RandomUniform", "config": {"seed": null, "minval": -0.05, "maxval": 0.05}, "registered_name": null})");
    config_default("embeddings_regularizer", "null");
    config_default("activity_regularizer", "null");
    config_default("embeddings_constraint", "null");
    config_default("mask_zero", "false");
    config_default("quantization_config", "null");
    mask_zero_ = cfg::get_bool(c, "mask_zero", describe(), false);
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    if (!built()) throw ShapeError(describe() + " must be built before it is called");
    const Tensor ids = inputs[0].to(DType::Int64);
    const auto idv = ids.values<std::int64_t>();
    Shape out_shape = ids.shape();
    out_shape.push_back(output_dim_);
    // A float64 table is gathered as is (Keras's take keeps its dtype); others as float32.
    const Tensor& stored = variables().at(0).value;
    const bool f64 = stored.dtype() == DType::Float64;
    const Tensor& table = f64 ? stored : weight(0);
    Tensor out = Tensor::recycled_zeros(out_shape, table.dtype());
    const auto row_bytes = static_cast<std::size_t>(output_dim_) * dtype_size(table.dtype());
    const std::byte* t = table.bytes().data();
    std::byte* o = out.mutable_bytes().data();
    for (std::size_t i = 0; i < idv.size(); ++i) {
      const std::int64_t id = idv[i];
      if (id < 0 || id >= input_dim_) {
        throw ShapeError(describe() + ": index " + std::to_string(id) +
                         " is out of range for input_dim " + std::to_string(input_dim_));
      }
      std::memcpy(o + i * row_bytes, t + static_cast<std::size_t>(id) * row_bytes, row_bytes);
    }
    ctx.output_masks.clear();
    if (mask_zero_) {
      Tensor mask = Tensor::recycled_zeros(ids.shape(), DType::Bool);
      auto m = mask.mutable_values<bool>();
      for (std::size_t i = 0; i < idv.size(); ++i) m[i] = idv[i] != 0;
      ctx.output_masks.emplace_back(mask);
    }
    return {out};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    Shape s = in.at(0);
    s.push_back(output_dim_);
    return {s};
  }

 protected:
  // The table does not depend on the input shape; Keras builds it for any (or no) shape.
  void build_impl(const std::vector<Shape>&) override {
    add_weight("embeddings", {input_dim_, output_dim_}, true);
  }

 private:
  std::int64_t input_dim_ = 0;
  std::int64_t output_dim_ = 0;
  bool mask_zero_ = false;
};

}  // namespace

KSERDE_REGISTER_LAYER(Embedding);

}  // namespace kserde
