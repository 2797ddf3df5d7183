// keras.layers.GroupedQueryAttention: attention whose num_query_heads query heads share
// num_key_value_heads key/value heads (query head h uses key/value head h / (num_query_heads /
// num_key_value_heads), Keras's ops.repeat on the heads axis).
//   Q = query @ Wq + bq (b, T, Hq, head_dim); K, V = key/value @ Wk|Wv + b (b, S, Hkv, head_dim)
//   O = softmax(Q K^T / sqrt(head_dim), masked) V   [use_gate: O *= sigmoid(query @ Wg + bg)]
//   output = O @ Wo + bo over (Hq, head_dim) -> query's last dimension
// Inputs are rank 3: (batch, T, dim) query, (batch, S, dim) value and optional key. No variables
// of its own; its sub-layers are private attributes in Keras, so they are saved as _dropout_layer,
// [_gate_dense], _key_dense, _output_dense, _query_dense, _softmax and _value_dense. Masks,
// use_causal_mask, sliding_window, return_attention_scores and the dtype policies work as in
// MultiHeadAttention (layers/attention/scaled_attention.hpp); the output carries the query mask.
#include <cstring>

#include "layers/attention/attention_util.hpp"
#include "layers/attention/scaled_attention.hpp"

namespace kserde {

namespace {

using detail::EinsumProjection;
using detail::WeightlessChild;

const Tensor* kwarg(const CallContext& ctx, const char* name) {
  auto it = ctx.kwargs.find(name);
  return it == ctx.kwargs.end() ? nullptr : &it->second;
}

// (b, s, h, d) -> (b, s, h * repeats, d), each head repeated `repeats` times in place.
Tensor repeat_heads(const Tensor& t, std::int64_t repeats) {
  if (repeats == 1) return t;
  Shape s = t.shape();
  const std::int64_t heads = s[2];
  s[2] = heads * repeats;
  Tensor out = Tensor::uninitialized(s, t.dtype());  // every head row is written below
  const std::size_t row = static_cast<std::size_t>(s[3]) * dtype_size(t.dtype());
  const std::byte* in = t.bytes().data();
  std::byte* o = out.mutable_bytes().data();
  const std::int64_t positions = s[0] * s[1];
  for (std::int64_t p = 0; p < positions; ++p) {
    for (std::int64_t h = 0; h < heads; ++h) {
      const std::byte* src = in + static_cast<std::size_t>(p * heads + h) * row;
      for (std::int64_t r = 0; r < repeats; ++r) {
        std::memcpy(o + static_cast<std::size_t>((p * heads + h) * repeats + r) * row, src, row);
      }
    }
  }
  return out;
}

class GroupedQueryAttention final : public Layer {
 public:
  GroupedQueryAttention(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("use_bias", "true");
    config_default("use_gate", "false");
    config_default("sliding_window", "null");
    config_default("dropout", "0.0");
    config_default("kernel_initializer", detail::kGlorotUniform);
    config_default("bias_initializer", detail::kZeros);
    config_default("kernel_regularizer", "null");
    config_default("bias_regularizer", "null");
    config_default("activity_regularizer", "null");
    config_default("kernel_constraint", "null");
    config_default("bias_constraint", "null");
    config_default("seed", "null");
    const JsonValue& c = config();
    const std::string& w = describe();
    head_dim_ = positive(c, "head_dim");
    query_heads_ = positive(c, "num_query_heads");
    kv_heads_ = positive(c, "num_key_value_heads");
    if (query_heads_ % kv_heads_ != 0) {
      cfg::fail(w, "num_query_heads (" + std::to_string(query_heads_) +
                       ") must be divisible by num_key_value_heads (" + std::to_string(kv_heads_) +
                       ")");
    }
    dropout_ = cfg::get_float(c, "dropout", w, 0.0);
    if (!(dropout_ >= 0.0 && dropout_ <= 1.0)) cfg::fail(w, "dropout must lie in [0, 1]");
    use_bias_ = cfg::get_bool(c, "use_bias", w, true);
    use_gate_ = cfg::get_bool(c, "use_gate", w, false);
    if (cfg::has_non_null(c, "sliding_window")) {
      sliding_window_ = cfg::get_int(c, "sliding_window", w);
      if (sliding_window_ <= 0) cfg::fail(w, "sliding_window must be None or a positive integer");
    }
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    const std::string& w = describe();
    if (inputs.empty()) throw ShapeError(w + " expects query and value tensors");
    const bool f64 = compute_dtype() == DType::Float64;
    auto operand = [f64](const Tensor& t) {
      return f64 ? t.to(DType::Float64) : ops::as_float32(t);
    };
    const Tensor query = operand(inputs[0]);
    Tensor value;
    if (inputs.size() > 1) {
      value = operand(inputs[1]);
    } else if (const Tensor* v = kwarg(ctx, "value")) {
      value = operand(*v);
    } else {
      throw ShapeError(w + " expects a value tensor");
    }
    const Tensor* key_kw = kwarg(ctx, "key");
    const bool key_given = inputs.size() > 2 || key_kw != nullptr;
    const Tensor key =
        inputs.size() > 2 ? operand(inputs[2]) : (key_kw != nullptr ? operand(*key_kw) : value);
    if (!built()) {
      std::vector<Shape> s{detail::symbolic(query.shape()), detail::symbolic(value.shape())};
      if (key_given) s.push_back(detail::symbolic(key.shape()));
      build(s);
    }
    for (const Tensor* t : std::initializer_list<const Tensor*>{&query, &value, &key}) {
      if (t->rank() != 3) {
        throw ShapeError(w + ": query, value and key must have rank 3 (batch, length, dim), got " +
                         shape_to_string(t->shape()));
      }
    }
    if (key.dim(1) != value.dim(1) || key.dim(0) != value.dim(0)) {
      throw ShapeError(w + ": key " + shape_to_string(key.shape()) + " and value " +
                       shape_to_string(value.shape()) + " must agree except on the last axis");
    }
    const bool causal = detail::kwarg_flag(ctx, "use_causal_mask");
    const bool return_scores = detail::kwarg_flag(ctx, "return_attention_scores");
    const std::optional<Tensor> query_mask =
        ctx.input_masks.empty() ? std::nullopt : ctx.input_masks[0];
    const std::optional<detail::BoolArray> mask = detail::combined_attention_mask(
        ctx, query.dim(1), value.dim(1), causal, sliding_window_, w);

    const Tensor q = query_dense_->project(query);
    const std::int64_t repeats = query_heads_ / kv_heads_;
    const Tensor k = repeat_heads(key_dense_->project(key), repeats);
    const Tensor v = repeat_heads(value_dense_->project(value), repeats);
    const bool fused = !(dropout_ > 0.0 || return_scores);
    const DType compute = compute_dtype();
    const DType half =
        compute == DType::Float16 || compute == DType::BFloat16 ? compute : DType::Float32;
    Tensor scores;
    const detail::AttentionGeometry geometry{kAttentionAxes, head_dim_, head_dim_, w};
    Tensor o = detail::scaled_attention(q, k, v, mask, fused, scores, half, geometry);
    if (use_gate_) {
      const Tensor g = gate_dense_->project(query);
      if (f64) {
        multiply(o.mutable_values<double>(), g.values<double>());
      } else {
        multiply(o.mutable_values<float>(), g.values<float>());
        if (half != DType::Float32) ops::round_to(o, half);
      }
    }
    TensorList out{output_dense_->project(o)};
    ctx.output_masks = {query_mask};
    if (return_scores) {
      out.push_back(scores);
      ctx.output_masks.push_back(std::nullopt);
    }
    return out;
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    if (in.empty()) throw ShapeError(describe() + " expects query and value shapes");
    return {in[0]};
  }

  // With return_attention_scores=True: (output, scores (batch, num_query_heads, T, S)).
  std::vector<Shape> compute_output_shape_for_call(
      const std::vector<Shape>& in,
      const std::map<std::string, Tensor>& constant_kwargs) const override {
    std::vector<Shape> out = compute_output_shape(in);
    if (detail::constant_flag(constant_kwargs, "return_attention_scores") && in.size() >= 2 &&
        in[0].size() >= 2) {
      const Shape& kv = in.size() > 2 ? in[2] : in[1];
      out.push_back({in[0][0], query_heads_, in[0][1], kv.size() >= 2 ? kv[1] : -1});
    }
    return out;
  }

  bool supports_masking() const override { return true; }

  std::vector<TrackedChild> tracked_children() const override {
    if (!query_dense_) return {};
    std::vector<TrackedChild> c{{"_dropout_layer", {dropout_layer_.get()}, false}};
    if (gate_dense_) c.push_back({"_gate_dense", {gate_dense_.get()}, false});
    c.push_back({"_key_dense", {key_dense_.get()}, false});
    c.push_back({"_output_dense", {output_dense_.get()}, false});
    c.push_back({"_query_dense", {query_dense_.get()}, false});
    c.push_back({"_softmax", {softmax_.get()}, false});
    c.push_back({"_value_dense", {value_dense_.get()}, false});
    return c;
  }

  void build_from_config(const JsonValue& build_config) override {
    const JsonValue* sd = cfg::find(build_config, "shapes_dict");
    if (sd == nullptr || !sd->IsObject()) {
      Layer::build_from_config(build_config);
      return;
    }
    std::vector<Shape> shapes;
    for (const char* key : {"query_shape", "value_shape", "key_shape"}) {
      const JsonValue* s = cfg::find(*sd, key);
      if (s == nullptr || s->IsNull()) {
        if (shapes.size() < 2) cfg::fail(describe(), std::string("build_config lacks ") + key);
        continue;
      }
      shapes.push_back(cfg::to_shape(*s, describe()));
    }
    build(shapes);
  }

  std::shared_ptr<JsonDocument> to_object_dict() const override {
    auto doc = Layer::to_object_dict();
    if (built() && !cfg::has_non_null(object_dict(), "build_config")) {
      auto& a = doc->GetAllocator();
      const auto& shapes = build_input_shapes();
      JsonValue sd(rapidjson::kObjectType);
      const char* names[] = {"query_shape", "value_shape", "key_shape"};
      for (std::size_t i = 0; i < shapes.size() && i < 3; ++i) {
        sd.AddMember(JsonValue(rapidjson::StringRef(names[i])), cfg::from_shape(shapes[i], a), a);
      }
      JsonValue bc(rapidjson::kObjectType);
      bc.AddMember("shapes_dict", sd, a);
      cfg::set(*doc, "build_config", std::move(bc), a);
    }
    return doc;
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    const std::string& w = describe();
    if (in.size() < 2 || in.size() > 3)
      throw ShapeError(w + " needs query, value and optional key shapes");
    const Shape& qs = in[0];
    const Shape& vs = in[1];
    const Shape& ks = in.size() > 2 ? in[2] : in[1];
    for (const Shape* s : {&qs, &vs, &ks}) {
      if (s->size() != 3 || s->back() < 0) {
        throw ShapeError(w +
                         ": query, value and key need rank 3 with a known last dimension, got " +
                         shape_to_string(*s));
      }
    }
    if (qs.back() != vs.back()) {
      throw ShapeError(w +
                       ": the last dimension of `query_shape` and `value_shape` must be "
                       "equal, but are " +
                       std::to_string(qs.back()) + ", " + std::to_string(vs.back()));
    }
    if (vs[1] != ks[1]) {
      throw ShapeError(w +
                       ": All dimensions of `value` and `key`, except the last one, must be "
                       "equal. Received: value_shape=" +
                       shape_to_string(vs) + " and key_shape=" + shape_to_string(ks));
    }
    const JsonValue& dt = *cfg::find(config(), "dtype");
    auto make = [&](const char* name, const Shape& in_shape, const Shape& bound, const Shape& out,
                    bool sigmoid) {
      auto p = std::make_shared<EinsumProjection>(name, dt, 2, bound, out, use_bias_, sigmoid);
      p->build({in_shape});
      return p;
    };
    query_dense_ = make("query", qs, {qs.back()}, {query_heads_, head_dim_}, false);
    key_dense_ = make("key", ks, {ks.back()}, {kv_heads_, head_dim_}, false);
    if (use_gate_) gate_dense_ = make("gate", qs, {qs.back()}, {query_heads_, head_dim_}, true);
    value_dense_ = make("value", vs, {vs.back()}, {kv_heads_, head_dim_}, false);
    output_dense_ = make("attention_output", {-1, -1, query_heads_, head_dim_},
                         {query_heads_, head_dim_}, {qs.back()}, false);
    softmax_ = std::make_shared<WeightlessChild>("Softmax", "softmax", dt);
    dropout_layer_ = std::make_shared<WeightlessChild>("Dropout", "dropout", dt);
  }

 private:
  std::int64_t positive(const JsonValue& c, const char* key) const {
    const std::int64_t v = cfg::get_int(c, key, describe());
    if (v <= 0) {
      cfg::fail(describe(),
                std::string(key) + " must be a positive integer, got " + std::to_string(v));
    }
    return v;
  }

  template <class Out, class In>
  static void multiply(Out o, In g) {
    for (std::size_t i = 0; i < o.size(); ++i) o[i] *= g[i];
  }

  // Attention runs over the length axis of the projected (batch, length, heads, head_dim).
  inline static const std::vector<std::int64_t> kAttentionAxes{1};

  std::int64_t head_dim_ = 0;
  std::int64_t query_heads_ = 0;
  std::int64_t kv_heads_ = 0;
  double dropout_ = 0.0;
  bool use_bias_ = true;
  bool use_gate_ = false;
  std::int64_t sliding_window_ = 0;
  std::shared_ptr<EinsumProjection> query_dense_, key_dense_, value_dense_, output_dense_,
      gate_dense_;
  std::shared_ptr<WeightlessChild> softmax_, dropout_layer_;
};

}  // namespace

KSERDE_REGISTER_LAYER(GroupedQueryAttention);

}  // namespace kserde
