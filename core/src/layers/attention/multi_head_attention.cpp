// keras.layers.MultiHeadAttention: scaled dot-product attention over `attention_axes` with
// num_heads heads.
//   Q = query @ Wq + bq (.., heads, key_dim); K = key @ Wk + bk; V = value @ Wv + bv (.., heads,
//   value_dim) scores = softmax_over_key_axes(Q K^T / sqrt(key_dim), masked); O = scores V
//   [use_gate: O *= sigmoid(query @ Wg + bg)];  output = O @ Wo + bo over (heads, value_dim)
// No variables of its own. Sub-layers (EinsumDense-like, saved in this order): key_dense,
// output_dense, query_dense, value_dense, then the weightless _dropout_layer, [_gate_dense],
// _softmax. q/k/v kernels (dim, heads, key_dim|value_dim), biases (heads, key_dim|value_dim);
// output kernel (heads, value_dim, *out), bias (*out,), out = output_shape or query's last dim.
//
// Masks (Keras semantics): query mask = the query input's mask; value_mask / key_mask from the
// keyword tensors or the value/key inputs' masks; attention_mask keyword; use_causal_mask and
// return_attention_scores as scalar keyword tensors. A fully masked row averages all keys on
// Keras's fused path (3-D inputs, dropout 0, no scores returned) and is zero otherwise, as in
// Keras. The output carries the query mask.
#include <cmath>
#include <numeric>

#include "layers/activation_dtype.hpp"
#include "layers/attention/attention_util.hpp"
#include "layers/attention/scaled_attention.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_f64.hpp"

namespace kserde {

namespace {

using detail::BoolArray;
using detail::EinsumProjection;
using detail::WeightlessChild;

const Tensor* kwarg(const CallContext& ctx, const char* name) {
  auto it = ctx.kwargs.find(name);
  return it == ctx.kwargs.end() ? nullptr : &it->second;
}

class MultiHeadAttention final : public Layer {
 public:
  MultiHeadAttention(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("value_dim", "null");
    config_default("dropout", "0.0");
    config_default("use_bias", "true");
    config_default("use_gate", "false");
    config_default("output_shape", "null");
    config_default("attention_axes", "null");
    config_default("sliding_window", "null");
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
    heads_ = cfg::get_int(c, "num_heads", w);
    if (heads_ <= 0)
      cfg::fail(w, "num_heads must be a positive integer, got " + std::to_string(heads_));
    key_dim_ = cfg::get_int(c, "key_dim", w);
    if (key_dim_ <= 0)
      cfg::fail(w, "key_dim must be a positive integer, got " + std::to_string(key_dim_));
    value_dim_ = cfg::has_non_null(c, "value_dim") ? cfg::get_int(c, "value_dim", w) : 0;
    if (value_dim_ < 0) cfg::fail(w, "value_dim must be a positive integer or None");
    if (value_dim_ == 0) value_dim_ = key_dim_;  // Keras treats 0/None as key_dim and saves that
    set_config("value_dim", JsonValue(value_dim_));
    dropout_ = cfg::get_float(c, "dropout", w, 0.0);
    if (!(dropout_ >= 0.0 && dropout_ <= 1.0)) cfg::fail(w, "dropout must lie in [0, 1]");
    use_bias_ = cfg::get_bool(c, "use_bias", w, true);
    use_gate_ = cfg::get_bool(c, "use_gate", w, false);
    if (cfg::has_non_null(c, "output_shape")) {
      const JsonValue& os = c["output_shape"];
      // An int means (int,); Keras treats 0 and () like None.
      if (os.IsArray()) {
        output_shape_ = cfg::get_int_tuple(c, "output_shape", w, 0);
      } else if (const std::int64_t n = cfg::get_int(c, "output_shape", w); n != 0) {
        output_shape_ = {n};
      }
      for (std::int64_t v : output_shape_) {
        if (v <= 0) cfg::fail(w, "output_shape entries must be positive");
      }
      if (!output_shape_.empty()) set_config("output_shape", shape_json(output_shape_));
    }
    if (cfg::has_non_null(c, "attention_axes")) {
      const JsonValue& aa = c["attention_axes"];
      attention_axes_ = aa.IsArray()
                            ? cfg::get_int_tuple(c, "attention_axes", w, 0)
                            : std::vector<std::int64_t>{cfg::get_int(c, "attention_axes", w)};
      has_axes_ = !attention_axes_.empty();
    }
    if (cfg::has_non_null(c, "sliding_window")) {
      sliding_window_ = cfg::get_int(c, "sliding_window", w);
      if (sliding_window_ <= 0) cfg::fail(w, "sliding_window must be None or a positive integer");
    }
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    const std::string& w = describe();
    if (inputs.empty()) throw ShapeError(w + " expects query and value tensors");
    // float64 policy: projections, scores, softmax and products in double, as NumPy computes
    // them; otherwise float32.
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
      if (t->rank() != rank_) {
        throw ShapeError(w + ": query, value and key must have rank " + std::to_string(rank_) +
                         " as built, got " + shape_to_string(t->shape()));
      }
    }
    const bool causal = detail::kwarg_flag(ctx, "use_causal_mask");
    const bool return_scores = detail::kwarg_flag(ctx, "return_attention_scores");

    // Combined boolean mask, broadcastable to the scores.
    const std::optional<Tensor> query_mask =
        ctx.input_masks.empty() ? std::nullopt : ctx.input_masks[0];
    const std::optional<BoolArray> mask = detail::combined_attention_mask(
        ctx, query.dim(1), value.dim(1), causal, sliding_window_, w);

    const Tensor q = query_dense_->project(query);
    const Tensor k = key_dense_->project(key);
    const Tensor v = value_dense_->project(value);
    const bool fused = !(dropout_ > 0.0 || return_scores || q.rank() != 4);
    Tensor scores;
    const DType compute = compute_dtype();
    const DType half =
        compute == DType::Float16 || compute == DType::BFloat16 ? compute : DType::Float32;
    const detail::AttentionGeometry geometry{attention_axes_, key_dim_, value_dim_, w};
    Tensor o = detail::scaled_attention(q, k, v, mask, fused, scores, half, geometry);
    if (use_gate_) {
      const Tensor g = gate_dense_->project(query);
      if (f64) {
        gate(o.mutable_values<double>(), g.values<double>());
      } else {
        gate(o.mutable_values<float>(), g.values<float>());
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
    // The output follows the query (value may come as a keyword argument, absent here).
    if (in.empty()) throw ShapeError(describe() + " expects query and value shapes");
    Shape s = in[0];
    if (!output_shape_.empty() && !s.empty()) {
      s.pop_back();
      s.insert(s.end(), output_shape_.begin(), output_shape_.end());
    }
    return {s};
  }

  // With return_attention_scores=True: (output, scores); Keras's symbolic scores shape is
  // (batch, num_heads, Tq, Tq).
  std::vector<Shape> compute_output_shape_for_call(
      const std::vector<Shape>& in,
      const std::map<std::string, Tensor>& constant_kwargs) const override {
    std::vector<Shape> out = compute_output_shape(in);
    if (detail::constant_flag(constant_kwargs, "return_attention_scores") && !in.empty() &&
        in[0].size() >= 2) {
      out.push_back({in[0][0], heads_, in[0][1], in[0][1]});
    }
    return out;
  }

  bool supports_masking() const override { return true; }

  std::vector<TrackedChild> tracked_children() const override {
    if (!query_dense_) return {};
    std::vector<TrackedChild> c{{"key_dense", {key_dense_.get()}, false},
                                {"output_dense", {output_dense_.get()}, false},
                                {"query_dense", {query_dense_.get()}, false},
                                {"value_dense", {value_dense_.get()}, false},
                                {"_dropout_layer", {dropout_layer_.get()}, false}};
    if (gate_dense_) c.push_back({"_gate_dense", {gate_dense_.get()}, false});
    c.push_back({"_softmax", {softmax_.get()}, false});
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
      if (s->size() < 3 || s->back() < 0) {
        throw ShapeError(w +
                         ": query, value and key need rank >= 3 with a known last dimension, got " +
                         shape_to_string(*s));
      }
    }
    if (qs.size() != vs.size() || ks.size() != vs.size() ||
        !std::equal(vs.begin() + 1, vs.end() - 1, ks.begin() + 1)) {
      throw ShapeError(w +
                       ": All dimensions of `value` and `key`, except the last one, must be "
                       "equal (and ranks must match the query). Received: value_shape=" +
                       shape_to_string(vs) + " and key_shape=" + shape_to_string(ks));
    }
    rank_ = qs.size();
    const std::size_t r = rank_ + 1;  // rank of the projected tensors
    if (!has_axes_) {
      attention_axes_.clear();
      for (std::size_t a = 1; a + 2 < r; ++a)
        attention_axes_.push_back(static_cast<std::int64_t>(a));
    } else {
      for (std::int64_t& a : attention_axes_) {
        if (a < 0) a += static_cast<std::int64_t>(r) - 1;
        if (a < 1 || a > static_cast<std::int64_t>(r) - 2) {
          cfg::fail(w, "attention_axes must name non-batch, non-feature axes of the inputs");
        }
      }
      std::vector<std::int64_t> sorted = attention_axes_;
      std::sort(sorted.begin(), sorted.end());
      if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
        cfg::fail(w, "attention_axes has repeated axes");
      }
    }
    set_config("attention_axes", shape_json(attention_axes_));  // Keras saves the normalized tuple

    const JsonValue& dt = *cfg::find(config(), "dtype");
    auto make = [&](const char* name, const Shape& in_shape, std::size_t free, const Shape& bound,
                    const Shape& out, bool sigmoid) {
      auto p = std::make_shared<EinsumProjection>(name, dt, free, bound, out, use_bias_, sigmoid);
      p->build({in_shape});
      return p;
    };
    query_dense_ = make("query", qs, qs.size() - 1, {qs.back()}, {heads_, key_dim_}, false);
    key_dense_ = make("key", ks, ks.size() - 1, {ks.back()}, {heads_, key_dim_}, false);
    if (use_gate_)
      gate_dense_ = make("gate", qs, qs.size() - 1, {qs.back()}, {heads_, value_dim_}, true);
    value_dense_ = make("value", vs, vs.size() - 1, {vs.back()}, {heads_, value_dim_}, false);
    Shape out = output_shape_.empty() ? Shape{qs.back()} : Shape(output_shape_);
    Shape o_in(qs.begin(), qs.end() - 1);
    o_in.push_back(heads_);
    o_in.push_back(value_dim_);
    output_dense_ = make("attention_output", o_in, qs.size() - 1, {heads_, value_dim_}, out, false);
    softmax_ = std::make_shared<WeightlessChild>("Softmax", "softmax", dt);
    dropout_layer_ = std::make_shared<WeightlessChild>("Dropout", "dropout", dt);
  }

 private:
  void set_config(std::string_view key, JsonValue v) {
    cfg::set(object_dict()["config"], key, std::move(v), object_dict().GetAllocator());
  }
  JsonValue shape_json(const std::vector<std::int64_t>& v) {
    return cfg::from_shape(v, object_dict().GetAllocator());
  }

  template <class Out, class In>
  static void gate(Out o, In g) {
    for (std::size_t i = 0; i < o.size(); ++i) o[i] *= g[i];
  }

  std::int64_t heads_ = 0;
  std::int64_t key_dim_ = 0;
  std::int64_t value_dim_ = 0;
  double dropout_ = 0.0;
  bool use_bias_ = true;
  bool use_gate_ = false;
  std::vector<std::int64_t> output_shape_;
  std::vector<std::int64_t> attention_axes_;
  bool has_axes_ = false;
  std::int64_t sliding_window_ = 0;
  std::size_t rank_ = 0;
  std::shared_ptr<EinsumProjection> query_dense_, key_dense_, value_dense_, output_dense_,
      gate_dense_;
  std::shared_ptr<WeightlessChild> softmax_, dropout_layer_;
};

}  // namespace

KSERDE_REGISTER_LAYER(MultiHeadAttention);

}  // namespace kserde
