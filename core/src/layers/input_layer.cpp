// keras.layers.InputLayer: the model's entry point; no variables, identity at call time.
#include "layers/input_layer.hpp"

#include "layers/common.hpp"

namespace kserde {

InputLayer::InputLayer(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
  const JsonValue& c = config();
  // Keras 2 files say batch_input_shape; early Keras 3 said input_shape (without the batch).
  if (const JsonValue* bs = cfg::find(c, "batch_shape"); bs != nullptr && !bs->IsNull()) {
    batch_shape_ = cfg::to_shape(*bs, describe());
  } else if (const JsonValue* bis = cfg::find(c, "batch_input_shape");
             bis != nullptr && !bis->IsNull()) {
    batch_shape_ = cfg::to_shape(*bis, describe());
  } else if (const JsonValue* is = cfg::find(c, "input_shape"); is != nullptr && !is->IsNull()) {
    batch_shape_ = cfg::to_shape(*is, describe());
    batch_shape_.insert(batch_shape_.begin(), -1);
  } else if (const JsonValue* s = cfg::find(c, "shape"); s != nullptr && !s->IsNull()) {
    batch_shape_ = cfg::to_shape(*s, describe());
    batch_shape_.insert(batch_shape_.begin(), -1);
  } else {
    cfg::fail(describe(), "InputLayer config has no batch_shape");
  }
  const std::string dt = cfg::get_string(c, "dtype", describe(), "float32");
  auto parsed = dtype_from_name(dt);
  if (!parsed) cfg::fail(describe(), "unsupported input dtype '" + dt + "'");
  dtype_ = *parsed;
  if (cfg::get_bool(c, "sparse", describe(), false) ||
      cfg::get_bool(c, "ragged", describe(), false)) {
    throw UnsupportedError(describe() + ": sparse and ragged inputs are not supported");
  }
  build({batch_shape_});
}

TensorList InputLayer::call(const TensorList& inputs, CallContext&) {
  expect_inputs(inputs, 1);
  return inputs;
}

std::vector<Shape> InputLayer::compute_output_shape(const std::vector<Shape>&) const {
  return {batch_shape_};
}

KSERDE_REGISTER_LAYER(InputLayer);

}  // namespace kserde
