#include "models/layer_call.hpp"

#include "kserde/model.hpp"

namespace kserde::detail {

Tensor cast_floating(const Tensor& t, DType dtype) {
  if (!is_floating(t.dtype()) || t.dtype() == dtype) return t;
  return t.to(dtype);
}

TensorList call_layer(Layer& layer, const TensorList& args, CallContext& ctx,
                      MaskList& output_masks) {
  // An explicit mask=... of a single-input call is that input's mask (Keras: previous_mask).
  if (auto it = ctx.kwargs.find("mask"); it != ctx.kwargs.end() && args.size() == 1) {
    ctx.input_masks.resize(1);
    ctx.input_masks[0] = it->second;
  }
  const bool op = layer.is_operation();
  // Models cast nothing themselves (Keras's Functional does not convert inputs); their layers do.
  const bool model = dynamic_cast<const Model*>(&layer) != nullptr;
  const DType compute = layer.compute_dtype();
  TensorList outputs;
  if (!op && !model && layer.autocast()) {
    bool cast = false;
    for (const Tensor& a : args) cast = cast || (is_floating(a.dtype()) && a.dtype() != compute);
    if (cast) {
      TensorList converted;
      converted.reserve(args.size());
      for (const Tensor& a : args) converted.push_back(cast_floating(a, compute));
      outputs = layer.call(converted, ctx);
    } else {
      outputs = layer.call(args, ctx);
    }
  } else {
    outputs = layer.call(args, ctx);
  }
  if (!op && !model && compute != DType::Float32) {
    for (Tensor& t : outputs) t = cast_floating(t, compute);
  }
  output_masks.clear();
  if (op) return outputs;  // operations set no masks
  if (!ctx.output_masks.empty()) {
    output_masks = ctx.output_masks;
  } else if (layer.supports_masking() && !ctx.input_masks.empty() && ctx.input_masks[0]) {
    output_masks.push_back(ctx.input_masks[0]);
  }
  if (output_masks.size() > outputs.size()) output_masks.resize(outputs.size());
  return outputs;
}

}  // namespace kserde::detail
