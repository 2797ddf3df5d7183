#include "kserde/layer.hpp"

#include <cctype>
#include <limits>
#include <regex>

#include "json/config_access.hpp"
#include "kserde/error.hpp"

namespace kserde {

namespace {

DType variable_dtype_for_policy(const std::string& policy, const std::string& where) {
  if (policy == "float32" || policy == "mixed_float16" || policy == "mixed_bfloat16") {
    return DType::Float32;  // mixed policies keep float32 variables
  }
  if (auto d = dtype_from_name(policy)) return *d;
  if (policy.rfind("int8_from_", 0) == 0 || policy.rfind("int4_from_", 0) == 0) {
    throw UnsupportedError(where + ": quantized dtype policy '" + policy +
                           "' is not supported yet");
  }
  throw ConfigError(where + ": unknown dtype policy '" + policy + "'");
}

// Keras's DTypePolicy.compute_dtype: the part after "mixed_" for mixed policies, the policy's own
// dtype for plain ones.
DType compute_dtype_for_policy(const std::string& policy, DType variable_dtype) {
  if (policy == "mixed_float16") return DType::Float16;
  if (policy == "mixed_bfloat16") return DType::BFloat16;
  return is_floating(variable_dtype) ? variable_dtype : DType::Float32;
}

}  // namespace

std::string dtype_policy_name(const JsonValue& config) {
  const JsonValue* d = cfg::find(config, "dtype");
  if (d == nullptr || d->IsNull()) return "float32";
  if (d->IsString()) return d->GetString();
  if (d->IsObject()) {
    const JsonValue* c = cfg::find(*d, "config");
    if (c != nullptr) {
      if (const JsonValue* n = cfg::find(*c, "name"); n != nullptr && n->IsString()) {
        return n->GetString();
      }
      // Quantized policies: {"mode": "int8", "source_name": "float32"}.
      if (const JsonValue* m = cfg::find(*c, "mode"); m != nullptr && m->IsString()) {
        const JsonValue* s = cfg::find(*c, "source_name");
        return std::string(m->GetString()) + "_from_" +
               (s != nullptr && s->IsString() ? s->GetString() : "float32");
      }
    }
  }
  return "float32";
}

std::string snake_case(std::string_view class_name) {
  std::string s;
  for (char c : class_name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') s.push_back(c);
  }
  // Same two substitutions Keras applies, in order.
  static const std::regex upper_run("(.)([A-Z][a-z]+)");
  static const std::regex lower_upper("([a-z])([A-Z])");
  s = std::regex_replace(s, upper_run, "$1_$2");
  s = std::regex_replace(s, lower_upper, "$1_$2");
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Layer::Layer(std::shared_ptr<JsonDocument> object_dict) : spec_(std::move(object_dict)) {
  if (!spec_ || !spec_->IsObject()) throw ConfigError("layer object dict must be a JSON object");
  const JsonValue* c = cfg::find(*spec_, "config");
  if (c == nullptr || !c->IsObject()) {
    throw ConfigError("object dict of class '" + class_name() + "' has no config dict");
  }
  name_ = cfg::get_string(*c, "name", class_name(), snake_case(class_name()));
  description_ = class_name() + " '" + name_ + "'";
  const std::string policy = dtype_policy_name(*c);
  variable_dtype_ = variable_dtype_for_policy(policy, describe());
  compute_dtype_ = compute_dtype_for_policy(policy, variable_dtype_);
  is_operation_ = module().rfind("keras.src.ops", 0) == 0;
}

Layer::~Layer() = default;

std::string Layer::class_name() const {
  const JsonValue* v = cfg::find(*spec_, "class_name");
  return v != nullptr && v->IsString() ? v->GetString() : "";
}

std::string Layer::module() const {
  const JsonValue* v = cfg::find(*spec_, "module");
  return v != nullptr && v->IsString() ? v->GetString() : "";
}

std::optional<std::string> Layer::registered_name() const {
  const JsonValue* v = cfg::find(*spec_, "registered_name");
  if (v == nullptr || !v->IsString()) return std::nullopt;
  return std::string(v->GetString());
}

void Layer::rename(const std::string& name) {
  name_ = name;
  description_ = class_name() + " '" + name_ + "'";
  cfg::set((*spec_)["config"], "name", cfg::str(name, spec_->GetAllocator()),
           spec_->GetAllocator());
}

bool Layer::trainable() const {
  return cfg::get_bool(config(), "trainable", describe(), true);
}

const JsonValue& Layer::config() const {
  return (*spec_)["config"];
}

std::shared_ptr<JsonDocument> Layer::to_object_dict() const {
  auto doc = std::make_shared<JsonDocument>();
  doc->CopyFrom(*spec_, doc->GetAllocator());
  auto& a = doc->GetAllocator();
  // build_config: keep what the file had; otherwise record the shapes this layer was built with.
  if (!loaded_ && built_ && !cfg::has_non_null(*doc, "build_config") &&
      class_name() != "InputLayer") {
    JsonValue bc(rapidjson::kObjectType);
    if (build_shapes_.size() == 1) {
      bc.AddMember("input_shape", cfg::from_shape(build_shapes_[0], a), a);
    } else {
      JsonValue list(rapidjson::kArrayType);
      for (const Shape& s : build_shapes_) list.PushBack(cfg::from_shape(s, a), a);
      bc.AddMember("input_shape", list, a);
    }
    cfg::set(*doc, "build_config", std::move(bc), a);
  }
  return doc;
}

void Layer::build(const std::vector<Shape>& input_shapes) {
  if (built_) return;
  build_impl(input_shapes);
  build_shapes_ = input_shapes;
  built_ = true;
}

void Layer::build_from_config(const JsonValue& build_config) {
  const JsonValue* shape = cfg::find(build_config, "input_shape");
  if (shape == nullptr || shape->IsNull()) return;
  if (!shape->IsArray()) cfg::fail(describe(), "build_config input_shape must be a list");
  const bool multi = !shape->Empty() && (*shape)[0].IsArray();
  std::vector<Shape> shapes;
  if (multi) {
    for (const auto& s : shape->GetArray()) shapes.push_back(cfg::to_shape(s, describe()));
  } else {
    shapes.push_back(cfg::to_shape(*shape, describe()));
  }
  build(shapes);
}

void Layer::build_impl(const std::vector<Shape>&) {}

Variable& Layer::add_weight(std::string name, Shape shape, bool trainable) {
  for (std::int64_t d : shape) {
    if (d < 0) {
      throw ShapeError(describe() + ": weight '" + name + "' would have an unknown dimension " +
                       shape_to_string(shape) + "; build the layer with known input dimensions");
    }
  }
  if (WeightBudget* budget = WeightBudget::current()) {
    const std::int64_t n = shape_num_elements(shape);  // ShapeError on int64 overflow
    const std::uint64_t elem = dtype_size(variable_dtype_);
    const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    const auto un = static_cast<std::uint64_t>(n);
    const std::uint64_t bytes = un > max / elem ? max : un * elem;
    budget->charge(bytes, shape, describe() + ": weight '" + name + "'");
  }
  variables_.push_back(Variable{
      std::move(name), Tensor::standalone_zeros(std::move(shape), variable_dtype_), trainable});
  return variables_.back();
}

namespace {
thread_local WeightBudget* t_weight_budget = nullptr;
}  // namespace

WeightBudget::WeightBudget(std::uint64_t max_bytes, std::uint32_t max_rank, std::string source)
    : max_bytes_(max_bytes),
      max_rank_(max_rank),
      source_(std::move(source)),
      previous_(t_weight_budget) {
  t_weight_budget = this;
}

WeightBudget::~WeightBudget() {
  t_weight_budget = previous_;
}

WeightBudget* WeightBudget::current() {
  return t_weight_budget;
}

void WeightBudget::charge(std::uint64_t bytes, const Shape& shape, const std::string& what) {
  if (shape.size() > max_rank_) {
    throw LimitError(source_ + ": " + what + " has rank " + std::to_string(shape.size()) +
                     ", over the limit of " + std::to_string(max_rank_) +
                     " (LoadOptions::max_tensor_rank)");
  }
  if (bytes > max_bytes_ || used_ > max_bytes_ - bytes) {
    throw LimitError(source_ + ": " + what + " of shape " + shape_to_string(shape) + " needs " +
                     std::to_string(bytes) + " bytes; with the " + std::to_string(used_) +
                     " bytes of variables already created this is over the limit of " +
                     std::to_string(max_bytes_) + " bytes (LoadOptions::max_weight_bytes)");
  }
  used_ += bytes;
}

void Layer::set_weights(const TensorList& values) {
  if (values.size() != variables_.size()) {
    throw ShapeError(describe() + " expected " + std::to_string(variables_.size()) +
                     " variables, but received " + std::to_string(values.size()));
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i].shape() != variables_[i].value.shape()) {
      throw ShapeError(describe() + ": variable " + std::to_string(i) + " ('" + variables_[i].name +
                       "') has shape " + shape_to_string(variables_[i].value.shape()) +
                       ", value has shape " + shape_to_string(values[i].shape()));
    }
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    variables_[i].value = values[i].to(variables_[i].value.dtype());
  }
}

std::int64_t Layer::count_params() const {
  std::int64_t n = 0;
  for (const Variable& v : variables_) n += v.value.num_elements();
  for (const TrackedChild& c : tracked_children()) {
    for (const Layer* l : c.layers) n += l->count_params();
  }
  return n;
}

std::int64_t Layer::count_trainable_params() const {
  if (!trainable()) return 0;
  std::int64_t n = 0;
  for (const Variable& v : variables_) {
    if (v.trainable) n += v.value.num_elements();
  }
  for (const TrackedChild& c : tracked_children()) {
    for (const Layer* l : c.layers) n += l->count_trainable_params();
  }
  return n;
}

Tensor Layer::operator()(const Tensor& x) {
  CallContext ctx;
  auto out = call({x}, ctx);
  if (out.empty()) throw Error(describe() + " returned no output");
  return out.front();
}

const Tensor& Layer::weight(std::size_t index) const {
  const Tensor& v = variables_.at(index).value;
  if (v.dtype() == DType::Float32) return v;
  // Converted once per stored value; a later assignment (new storage) converts again.
  std::lock_guard<std::mutex> lock(weight_cache_mutex_);
  if (weight_cache_.size() < variables_.size()) weight_cache_.resize(variables_.size());
  auto& [source, converted] = weight_cache_[index];
  const void* storage = v.bytes().data();
  if (source != storage || converted.shape() != v.shape()) {
    converted = v.to(DType::Float32);
    source = storage;
  }
  return converted;
}

std::vector<Shape> Layer::compute_output_shape_for_call(
    const std::vector<Shape>& in, const std::map<std::string, Tensor>&) const {
  return compute_output_shape(in);
}

std::vector<Shape> Layer::compute_output_shape(const std::vector<Shape>& input_shapes) const {
  if (input_shapes.empty()) return {};
  return {input_shapes.front()};
}

void Layer::config_default(std::string_view key, std::string_view json_text) {
  JsonValue& c = (*spec_)["config"];
  if (cfg::find(c, key) != nullptr) return;
  JsonDocument parsed;
  parsed.Parse<rapidjson::kParseNanAndInfFlag>(json_text.data(), json_text.size());
  if (parsed.HasParseError()) throw Error("internal: bad default for '" + std::string(key) + "'");
  JsonValue v;
  v.CopyFrom(parsed, spec_->GetAllocator());
  cfg::set(c, key, std::move(v), spec_->GetAllocator());
}

void Layer::expect_inputs(const TensorList& inputs, std::size_t count) const {
  if (inputs.size() != count) {
    throw ShapeError(describe() + " expects " + std::to_string(count) + " input tensor(s), got " +
                     std::to_string(inputs.size()));
  }
}

}  // namespace kserde
