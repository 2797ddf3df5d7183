// keras.layers.Reshape: target_shape excludes the batch; one entry may be -1 (inferred).
#include "layers/common.hpp"

namespace kserde {

namespace {

class Reshape final : public Layer {
 public:
  Reshape(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    target_ = cfg::get_int_tuple(config(), "target_shape", describe(), 0);
    int unknown = 0;
    for (std::int64_t t : target_) {
      if (t == -1) {
        ++unknown;
      } else if (t < 0) {
        cfg::fail(describe(), "target_shape has a negative dimension");
      }
    }
    if (unknown > 1) cfg::fail(describe(), "target_shape may contain -1 only once");
  }

  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    const Tensor& x = inputs[0];
    Shape s = resolve(x.shape());
    return {x.reshaped(s)};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    const Shape& s = in.at(0);
    bool known = true;
    for (std::size_t i = 1; i < s.size(); ++i) known = known && s[i] >= 0;
    if (!known) {
      Shape out{s.empty() ? -1 : s[0]};
      out.insert(out.end(), target_.begin(), target_.end());
      return {out};
    }
    Shape concrete = s;
    if (!concrete.empty()) concrete[0] = 1;
    Shape out = resolve(concrete);
    out[0] = s.empty() ? -1 : s[0];
    return {out};
  }

 private:
  Shape resolve(const Shape& in) const {
    std::int64_t total = 1;
    for (std::size_t i = 1; i < in.size(); ++i) total *= in[i];
    std::int64_t known = 1;
    for (std::int64_t t : target_) known *= (t == -1 ? 1 : t);
    Shape out{in.empty() ? 1 : in[0]};
    for (std::int64_t t : target_) {
      if (t == -1) {
        if (known == 0 || total % known != 0) {
          throw ShapeError(describe() + ": cannot reshape " + shape_to_string(in) + " to " +
                           shape_to_string(target_));
        }
        out.push_back(total / known);
      } else {
        out.push_back(t);
      }
    }
    std::int64_t produced = 1;
    for (std::size_t i = 1; i < out.size(); ++i) produced *= out[i];
    if (produced != total) {
      throw ShapeError(describe() + ": total size of the new array must be unchanged, input " +
                       shape_to_string(in) + ", target_shape " + shape_to_string(target_));
    }
    return out;
  }

  Shape target_;
};

}  // namespace

KSERDE_REGISTER_LAYER(Reshape);

}  // namespace kserde
