// keras.layers.Flatten: (batch, d1, d2, ...) -> (batch, d1*d2*...). channels_first transposes to
// channels_last order first, as Keras does.
#include <cstring>

#include "layers/common.hpp"

namespace kserde {

namespace {

class Flatten final : public Layer {
 public:
  Flatten(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("data_format", "\"channels_last\"");
    channels_first_ =
        cfg::get_string(config(), "data_format", describe(), "channels_last") == "channels_first";
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    const Tensor& x = inputs[0];
    if (x.rank() == 0) throw ShapeError(describe() + ": cannot flatten a scalar");
    const std::int64_t batch = x.dim(0);
    const std::int64_t rest = batch == 0 ? 0 : x.num_elements() / batch;
    if (channels_first_ && x.rank() > 2) {
      // (b, c, s...) -> (b, s..., c)
      const std::int64_t c = x.dim(1);
      const std::int64_t spatial = c == 0 ? 0 : rest / c;
      const std::size_t es = dtype_size(x.dtype());
      Tensor out = Tensor::recycled_zeros({batch, rest}, x.dtype());
      auto src = x.bytes();
      auto dst = out.mutable_bytes();
      for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t ch = 0; ch < c; ++ch) {
          for (std::int64_t s = 0; s < spatial; ++s) {
            std::memcpy(dst.data() + ((b * spatial + s) * c + ch) * es,
                        src.data() + ((b * c + ch) * spatial + s) * es, es);
          }
        }
      }
      return {out};
    }
    return {x.reshaped({batch, rest})};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    const Shape& s = in.at(0);
    std::int64_t n = 1;
    for (std::size_t i = 1; i < s.size(); ++i) n = (s[i] < 0 || n < 0) ? -1 : n * s[i];
    return {{s.empty() ? -1 : s[0], n}};
  }

 private:
  bool channels_first_ = false;
};

}  // namespace

KSERDE_REGISTER_LAYER(Flatten);

}  // namespace kserde
