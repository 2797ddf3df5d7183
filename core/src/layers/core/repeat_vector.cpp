// keras.layers.RepeatVector: (batch, features) -> (batch, n, features), repeating each row n
// times. No variables.
#include <cstring>

#include "layers/common.hpp"

namespace kserde {

namespace {

class RepeatVector final : public Layer {
 public:
  RepeatVector(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    n_ = cfg::get_int(config(), "n", describe());
    if (n_ <= 0) cfg::fail(describe(), "n must be a positive integer, got " + std::to_string(n_));
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    const Tensor& x = inputs[0];
    check_rank(x.shape());
    const std::int64_t b = x.dim(0);
    const std::int64_t f = x.dim(1);
    Tensor out = Tensor::recycled_zeros({b, n_, f}, x.dtype());
    const std::size_t row = static_cast<std::size_t>(f) * dtype_size(x.dtype());
    const std::byte* src = x.bytes().data();
    std::byte* dst = out.mutable_bytes().data();
    for (std::int64_t i = 0; i < b; ++i) {
      for (std::int64_t r = 0; r < n_; ++r) {
        if (row > 0) {
          std::memcpy(dst + static_cast<std::size_t>(i * n_ + r) * row,
                      src + static_cast<std::size_t>(i) * row, row);
        }
      }
    }
    ctx.output_masks.clear();
    return {out};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    check_rank(in.at(0));
    return {{in[0][0], n_, in[0][1]}};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    check_rank(in[0]);
  }

 private:
  void check_rank(const Shape& s) const {
    if (s.size() != 2) {
      throw ShapeError(describe() + " expects an input of rank 2, got " + shape_to_string(s));
    }
  }

  std::int64_t n_ = 1;
};

}  // namespace

KSERDE_REGISTER_LAYER(RepeatVector);

}  // namespace kserde
