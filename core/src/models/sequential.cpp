// keras.Sequential (spec §3.7): config "layers" lists the InputLayer first (not part of
// model.layers), then each layer's object dict; "build_input_shape" when built.
#include <set>

#include "json/config_access.hpp"
#include "kserde/deserializer.hpp"
#include "kserde/error.hpp"
#include "kserde/model.hpp"
#include "kserde/object_registry.hpp"
#include "layers/input_layer.hpp"
#include "models/layer_call.hpp"
#include "models/build_check.hpp"

namespace kserde {

namespace {

std::shared_ptr<JsonDocument> empty_sequential_dict(const std::string& name) {
  auto doc = std::make_shared<JsonDocument>();
  const std::string text =
      R"({"module": "keras", "class_name": "Sequential", "config": {"name": ")" + name +
      R"(", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "layers": []}, "registered_name": null})";
  doc->Parse(text.c_str());
  if (doc->HasParseError()) throw ConfigError("invalid model name '" + name + "'");
  return doc;
}

}  // namespace

Sequential::Sequential(std::string name) : Model(empty_sequential_dict(name)) {}

Sequential::Sequential(std::shared_ptr<JsonDocument> d, Deserializer& ctx) : Model(std::move(d)) {
  const JsonValue& c = config();
  const JsonValue* list = cfg::find(c, "layers");
  if (list == nullptr || !list->IsArray() || !cfg::find(c, "name")) {
    throw ConfigError(ctx.source() +
                      ": A Sequential model configuration must be a dictionary "
                      "containing the 'name' and 'layers' keys");
  }
  // Keras makes names unique when layers are added in code; a file whose list repeats a name
  // (or an instance) was not written by Keras, and its weights paths would collide.
  std::set<std::string> seen;
  for (const auto& entry : list->GetArray()) {
    std::shared_ptr<Layer> layer = ctx.layer(entry);
    if (!seen.insert(layer->name()).second) {
      throw ConfigError(ctx.source() + ": model '" + name() + "': the name \"" + layer->name() +
                        "\" is used 2 times in the model. All layer names should be unique.");
    }
    add(std::move(layer));
  }
  if (!built()) {
    if (const JsonValue* bis = cfg::find(c, "build_input_shape");
        bis != nullptr && bis->IsArray()) {
      build({cfg::to_shape(*bis, describe())});
    }
  }
}

void Sequential::add(std::shared_ptr<Layer> layer) {
  if (!layer) throw ConfigError(describe() + ": cannot add a null layer");
  if (auto* in = dynamic_cast<InputLayer*>(layer.get())) {
    if (input_layer_ || !layers_.empty()) {
      throw ConfigError(describe() + ": an InputLayer may only be the first layer");
    }
    input_layer_ = layer;
    build({in->batch_shape()});
    signature_changed();
    return;
  }
  std::set<std::string> names;
  for (const auto& l : layers_) names.insert(l->name());
  if (input_layer_) names.insert(input_layer_->name());
  if (names.count(layer->name())) {
    const std::string base = layer->name();
    for (int i = 1;; ++i) {
      const std::string candidate = base + "_" + std::to_string(i);
      if (!names.count(candidate)) {
        layer->rename(candidate);
        break;
      }
    }
  }
  layers_.push_back(layer);
  signature_changed();
  if (!built()) return;
  // Already built: extend the build to the new layer.
  Shape s = build_input_shapes().at(0);
  for (const auto& l : layers_) {
    if (!l->built()) {
      l->build({s});
    } else {
      models::check_build_matches(*l, {s}, describe());
    }
    auto out = l->compute_output_shape({s});
    if (out.empty()) return;  // unknown (pass-through layer)
    s = out[0];
  }
}

std::vector<std::shared_ptr<Layer>> Sequential::layers() const {
  return layers_;
}

void Sequential::build_impl(const std::vector<Shape>& input_shapes) {
  if (input_shapes.size() != 1) {
    throw ShapeError(describe() + ": a Sequential model takes one input");
  }
  signature_changed();
  Shape s = input_shapes[0];
  for (const auto& l : layers_) {
    if (!l->built()) {
      l->build({s});
    } else {
      models::check_build_matches(*l, {s}, describe());
    }
    auto out = l->compute_output_shape({s});
    if (out.empty()) return;
    s = out[0];
  }
}

std::vector<Shape> Sequential::input_shapes() const {
  if (input_layer_) return {static_cast<const InputLayer&>(*input_layer_).batch_shape()};
  if (built()) return build_input_shapes();
  throw ConfigError(describe() + " has no input shape yet; add an Input or build it");
}

std::vector<DType> Sequential::input_dtypes() const {
  if (input_layer_) return {static_cast<const InputLayer&>(*input_layer_).dtype()};
  return {DType::Float32};
}

std::vector<std::string> Sequential::input_names() const {
  return {input_layer_ ? input_layer_->name() : name() + "_input"};
}

std::vector<Shape> Sequential::compute_output_shape(const std::vector<Shape>& in) const {
  std::vector<Shape> s = in;
  for (const auto& l : layers_) {
    s = l->compute_output_shape(s);
    if (s.empty()) return {};
  }
  return s;
}

std::vector<Shape> Sequential::output_shapes() const {
  return compute_output_shape(input_shapes());
}

std::vector<std::string> Sequential::output_names() const {
  return {layers_.empty() ? name() : layers_.back()->name()};
}

std::vector<TrackedChild> Sequential::tracked_children() const {
  TrackedChild c{"layers", {}, true};
  for (const auto& l : layers_) c.layers.push_back(l.get());
  return {c};
}

TensorList Sequential::forward(const TensorList& inputs, CallContext& outer) {
  expect_inputs(inputs, 1);
  TensorList x = inputs;
  // Masks flow from layer to layer as in Keras (Embedding(mask_zero), Masking, ...).
  MaskList masks;
  if (!outer.input_masks.empty() && outer.input_masks[0]) masks.push_back(outer.input_masks[0]);
  for (const auto& l : layers_) {
    CallContext ctx;
    if (!masks.empty() && masks[0]) ctx.input_masks.push_back(masks[0]);
    MaskList next;
    x = detail::call_layer(*l, x, ctx, next);
    masks = std::move(next);
  }
  outer.output_masks.assign(x.size(), std::nullopt);
  if (!masks.empty() && !outer.output_masks.empty()) outer.output_masks[0] = masks[0];
  return x;
}

std::shared_ptr<JsonDocument> Sequential::to_object_dict() const {
  auto doc = Layer::to_object_dict();
  auto& a = doc->GetAllocator();
  JsonValue& c = (*doc)["config"];
  JsonValue list(rapidjson::kArrayType);
  auto append = [&](const Layer& l) {
    auto d = l.to_object_dict();
    JsonValue v;
    v.CopyFrom(*d, a);
    list.PushBack(v, a);
  };
  if (input_layer_) append(*input_layer_);
  for (const auto& l : layers_) append(*l);
  cfg::set(c, "layers", std::move(list), a);
  if (built()) {
    cfg::set(c, "build_input_shape", cfg::from_shape(build_input_shapes().at(0), a), a);
    JsonValue bc(rapidjson::kObjectType);
    bc.AddMember("input_shape", cfg::from_shape(build_input_shapes().at(0), a), a);
    cfg::set(*doc, "build_config", std::move(bc), a);
  }
  JsonValue cc(rapidjson::kObjectType);
  if (compile_config() != nullptr) cc.CopyFrom(*compile_config(), a);
  cfg::set(*doc, "compile_config", std::move(cc), a);
  return doc;
}

static const BuiltinLayerRegistration kRegisterSequential(
    "Sequential", [](std::shared_ptr<JsonDocument> d, Deserializer& c) {
      return std::shared_ptr<Layer>(std::make_shared<Sequential>(std::move(d), c));
    });

}  // namespace kserde
