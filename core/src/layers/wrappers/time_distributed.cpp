// keras.layers.TimeDistributed: applies the wrapped layer to every time step of (batch, steps, ...)
// independently: (b, t, ...) is viewed as (b*t, ...), the layer runs once, and the result is viewed
// as (b, t, ...) again. No variables of its own (the wrapped layer's are at <wrapper>/layer/vars).
// An input mask (batch, steps, ...) is passed to the wrapped layer the same way; TimeDistributed
// does not support masking in Keras 3, so its output carries no mask.
#include "layers/common.hpp"

namespace kserde {

namespace {

Shape merged_batch_time(const Shape& s) {
  Shape out{s[0] * s[1]};
  out.insert(out.end(), s.begin() + 2, s.end());
  return out;
}

class TimeDistributed final : public Layer {
 public:
  TimeDistributed(std::shared_ptr<JsonDocument> d, Deserializer& ctx) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    const JsonValue* inner = cfg::find(config(), "layer");
    if (inner == nullptr || !inner->IsObject())
      cfg::fail(describe(), "'layer' must be a layer object dict");
    layer_ = ctx.layer(*inner);
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    const Tensor& x = inputs[0];
    if (x.rank() < 3) {
      throw ShapeError(describe() +
                       ": expects inputs with at least 3 dimensions (batch, steps, ...), got " +
                       shape_to_string(x.shape()));
    }
    if (!built()) build({detail::symbolic(x.shape())});
    const std::int64_t batch = x.dim(0);
    const std::int64_t steps = x.dim(1);
    CallContext sub;
    sub.training = ctx.training;
    if (!ctx.input_masks.empty() && ctx.input_masks[0]) {
      const Tensor& m = *ctx.input_masks[0];
      if (m.rank() < 2 || m.dim(0) != batch || m.dim(1) != steps) {
        throw ShapeError(describe() + ": mask of shape " + shape_to_string(m.shape()) +
                         " does not match inputs " + shape_to_string(x.shape()));
      }
      sub.input_masks = {m.reshaped(merged_batch_time(m.shape()))};
    }
    TensorList y = layer_->call({x.reshaped(merged_batch_time(x.shape()))}, sub);
    if (y.size() != 1) {
      throw UnsupportedError(describe() +
                             ": the wrapped layer must return exactly one tensor, got " +
                             std::to_string(y.size()));
    }
    if (y[0].rank() < 1 || y[0].dim(0) != batch * steps) {
      throw ShapeError(describe() + ": the wrapped layer returned shape " +
                       shape_to_string(y[0].shape()) + " for " + std::to_string(batch * steps) +
                       " merged steps");
    }
    Shape s{batch, steps};
    s.insert(s.end(), y[0].shape().begin() + 1, y[0].shape().end());
    ctx.output_masks = {std::nullopt};
    return {y[0].reshaped(s)};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    const Shape child = child_shape(in);
    const Shape c = layer_->compute_output_shape({child}).at(0);
    Shape out{c.empty() ? -1 : c[0], in[0][1]};
    if (!c.empty()) out.insert(out.end(), c.begin() + 1, c.end());
    return {out};
  }

  std::vector<TrackedChild> tracked_children() const override {
    return {TrackedChild{"layer", {layer_.get()}, false}};
  }

  std::shared_ptr<JsonDocument> to_object_dict() const override {
    auto doc = Layer::to_object_dict();
    auto inner = layer_->to_object_dict();
    JsonValue v;
    v.CopyFrom(*inner, doc->GetAllocator());
    cfg::set((*doc)["config"], "layer", std::move(v), doc->GetAllocator());
    return doc;
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override { layer_->build({child_shape(in)}); }

 private:
  Shape child_shape(const std::vector<Shape>& in) const {
    if (in.size() != 1 || in[0].size() < 3) {
      throw ShapeError(describe() +
                       ": `TimeDistributed` Layer should be passed an input shape "
                       "with at least 3 dimensions, received: " +
                       (in.empty() ? std::string("nothing") : shape_to_string(in[0])));
    }
    Shape s{in[0][0]};
    s.insert(s.end(), in[0].begin() + 2, in[0].end());
    return s;
  }

  std::shared_ptr<Layer> layer_;
};

}  // namespace

KSERDE_REGISTER_LAYER(TimeDistributed);

}  // namespace kserde
