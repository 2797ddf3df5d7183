// keras.layers.Bidirectional: runs a recurrent layer forwards and a copy of it backwards over the
// same sequence and merges the two outputs (concat on the last axis, sum, mul, ave, or None: both
// outputs). The backward output sequence is flipped back to time order. With return_state the
// outputs are [merged..., forward states..., backward states...].
// No variables of its own: <bidirectional>/forward_layer/cell/vars and
// .../backward_layer/cell/vars.
//
// As in Keras, both directions are fresh copies named "forward_<name>" / "backward_<name>" (the
// backward copy with go_backwards flipped, unless the config gives "backward_layer"), and both get
// zero_output_for_mask = return_sequences. Bidirectional does not support masking: its outputs
// carry no mask. Initial states (extra positional inputs) are split half forward, half backward.
#include "layers/recurrent/recurrent_layer.hpp"

#include <cstring>

namespace kserde {

namespace {

enum class MergeMode { Concat, Sum, Mul, Ave, None };

// A copy of a layer object dict renamed `prefix` + name (without a leading `prefix`), optionally
// with go_backwards set.
JsonDocument renamed_copy(const JsonValue& dict, const std::string& prefix, bool go_backwards,
                          const std::string& where) {
  JsonDocument doc;
  doc.CopyFrom(dict, doc.GetAllocator());
  auto& a = doc.GetAllocator();
  JsonValue* c = doc.IsObject() && doc.HasMember("config") ? &doc["config"] : nullptr;
  if (c == nullptr || !c->IsObject()) cfg::fail(where, "'layer' must be a layer object dict");
  std::string name = cfg::get_string(*c, "name", where, "");
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  cfg::set(*c, "name", cfg::str(prefix + name, a), a);
  if (go_backwards) cfg::set(*c, "go_backwards", JsonValue(true), a);
  // The copy is a new object, not the one a shared_object_id refers to.
  doc.RemoveMember("shared_object_id");
  return doc;
}

bool inner_flag(const Layer& l, const char* key) {
  return cfg::get_bool(l.config(), key, l.describe(), false);
}

// (batch, steps, ...) reversed along steps.
Tensor flip_time(const Tensor& t) {
  Tensor out = Tensor::recycled_zeros(t.shape(), t.dtype());
  const std::int64_t batch = t.dim(0);
  const std::int64_t steps = t.dim(1);
  const std::size_t row =
      t.nbytes() / static_cast<std::size_t>(std::max<std::int64_t>(1, batch * steps));
  const std::byte* src = t.bytes().data();
  std::byte* dst = out.mutable_bytes().data();
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t s = 0; s < steps; ++s) {
      std::memcpy(dst + static_cast<std::size_t>(b * steps + s) * row,
                  src + static_cast<std::size_t>(b * steps + steps - 1 - s) * row, row);
    }
  }
  return out;
}

class Bidirectional final : public Layer {
 public:
  Bidirectional(std::shared_ptr<JsonDocument> d, Deserializer& ctx) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("merge_mode", "\"concat\"");
    const JsonValue& c = config();
    const JsonValue* mm = cfg::find(c, "merge_mode");
    if (mm->IsNull()) {
      merge_ = MergeMode::None;
    } else {
      const std::string m = cfg::get_string(c, "merge_mode", describe());
      if (m == "concat")
        merge_ = MergeMode::Concat;
      else if (m == "sum")
        merge_ = MergeMode::Sum;
      else if (m == "mul")
        merge_ = MergeMode::Mul;
      else if (m == "ave")
        merge_ = MergeMode::Ave;
      else
        cfg::fail(describe(),
                  "Invalid merge mode '" + m + "'; expected one of concat, sum, mul, ave, None");
    }
    const JsonValue* inner = cfg::find(c, "layer");
    if (inner == nullptr || !inner->IsObject())
      cfg::fail(describe(), "'layer' must be a layer object dict");
    forward_ = ctx.layer(renamed_copy(*inner, "forward_", false, describe()));
    if (const JsonValue* bl = cfg::find(c, "backward_layer"); bl != nullptr && !bl->IsNull()) {
      if (!bl->IsObject()) cfg::fail(describe(), "'backward_layer' must be a layer object dict");
      backward_ = ctx.layer(*bl);
    } else {
      backward_ = ctx.layer(renamed_copy(*inner, "backward_", true, describe()));
    }
    if (inner_flag(*forward_, "go_backwards") == inner_flag(*backward_, "go_backwards")) {
      cfg::fail(describe(),
                "Forward layer and backward layer should have different `go_backwards` values");
    }
    for (const char* key : {"stateful", "return_sequences", "return_state"}) {
      if (inner_flag(*forward_, key) != inner_flag(*backward_, key)) {
        cfg::fail(
            describe(),
            std::string(
                "Forward layer and backward layer are expected to have the same value for \"") +
                key + "\"");
      }
    }
    return_sequences_ = inner_flag(*forward_, "return_sequences");
    return_state_ = inner_flag(*forward_, "return_state");
    for (Layer* l : {forward_.get(), backward_.get()}) {
      if (auto* r = dynamic_cast<detail::RecurrentLayer*>(l))
        r->set_zero_output_for_mask(return_sequences_);
    }
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    if (inputs.empty()) throw ShapeError(describe() + " expects a sequence input");
    if (inputs[0].rank() < 2) {
      throw ShapeError(describe() + ": expects inputs of shape (batch, steps, ...), got " +
                       shape_to_string(inputs[0].shape()));
    }
    if (!built()) build({detail::symbolic(inputs[0].shape())});
    const std::size_t n_states = inputs.size() - 1;
    if (n_states % 2 != 0) {
      throw ShapeError(describe() + ": initial states must come in forward/backward halves, got " +
                       std::to_string(n_states));
    }
    TensorList f_in{inputs[0]};
    TensorList b_in{inputs[0]};
    for (std::size_t i = 0; i < n_states; ++i)
      (i < n_states / 2 ? f_in : b_in).push_back(inputs[1 + i]);
    auto sub_context = [&] {
      CallContext sub;
      sub.training = ctx.training;
      if (!ctx.input_masks.empty()) sub.input_masks = {ctx.input_masks[0]};
      if (auto it = ctx.kwargs.find("mask"); it != ctx.kwargs.end())
        sub.kwargs["mask"] = it->second;
      return sub;
    };
    CallContext fctx = sub_context();
    CallContext bctx = sub_context();
    TensorList y = forward_->call(f_in, fctx);
    TensorList y_rev = backward_->call(b_in, bctx);
    if (y.empty() || y_rev.empty())
      throw Error(describe() + ": the wrapped layer returned no output");
    // float64 outputs (the float64 policy) merge in double.
    const bool f64 = y[0].dtype() == DType::Float64 || y_rev[0].dtype() == DType::Float64;
    Tensor fy = f64 ? y[0].to(DType::Float64) : ops::as_float32(y[0]);
    Tensor by = f64 ? y_rev[0].to(DType::Float64) : ops::as_float32(y_rev[0]);
    if (return_sequences_) by = flip_time(by);
    if (fy.shape() != by.shape()) {
      throw ShapeError(describe() + ": forward output " + shape_to_string(fy.shape()) +
                       " and backward output " + shape_to_string(by.shape()) + " differ");
    }
    TensorList out;
    if (merge_ == MergeMode::None) {
      out = {fy, by};
    } else {
      out = {f64 ? merge<double>(fy, by) : merge<float>(fy, by)};
    }
    if (return_state_) {
      out.insert(out.end(), y.begin() + 1, y.end());
      out.insert(out.end(), y_rev.begin() + 1, y_rev.end());
    }
    ctx.output_masks.assign(out.size(), std::nullopt);
    return out;
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    if (in.empty()) throw ShapeError(describe() + " expects a sequence input shape");
    std::vector<Shape> f = forward_->compute_output_shape({in[0]});
    Shape y = f.at(0);
    std::vector<Shape> out;
    if (merge_ == MergeMode::Concat && !y.empty() && y.back() >= 0) y.back() *= 2;
    out.push_back(y);
    if (merge_ == MergeMode::None) out.push_back(y);
    if (return_state_) {
      for (int dir = 0; dir < 2; ++dir) out.insert(out.end(), f.begin() + 1, f.end());
    }
    return out;
  }

  std::vector<TrackedChild> tracked_children() const override {
    return {TrackedChild{"backward_layer", {backward_.get()}, false},
            TrackedChild{"forward_layer", {forward_.get()}, false}};
  }

  void build_from_config(const JsonValue& build_config) override {
    const JsonValue* sd = cfg::find(build_config, "shapes_dict");
    if (sd != nullptr && sd->IsObject()) {
      const JsonValue* seq = cfg::find(*sd, "sequences_shape");
      if (seq == nullptr || !seq->IsArray())
        cfg::fail(describe(), "build_config lacks sequences_shape");
      build({cfg::to_shape(*seq, describe())});
      return;
    }
    Layer::build_from_config(build_config);
  }

  std::shared_ptr<JsonDocument> to_object_dict() const override {
    auto doc = Layer::to_object_dict();
    auto& a = doc->GetAllocator();
    JsonValue& c = (*doc)["config"];
    for (auto [key, layer] :
         {std::pair<const char*, const Layer*>{"layer", forward_.get()},
          std::pair<const char*, const Layer*>{"backward_layer", backward_.get()}}) {
      auto sub = layer->to_object_dict();
      JsonValue v;
      v.CopyFrom(*sub, a);
      cfg::set(c, key, std::move(v), a);
    }
    return doc;
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.empty() || in[0].size() < 3) {
      throw ShapeError(describe() + ": expects inputs of shape (batch, steps, features), got " +
                       (in.empty() ? std::string("nothing") : shape_to_string(in[0])));
    }
    forward_->build({in[0]});
    backward_->build({in[0]});
  }

 private:
  template <class T>
  Tensor merge(const Tensor& a, const Tensor& b) const {
    constexpr DType kType = sizeof(T) == 8 ? DType::Float64 : DType::Float32;
    const auto av = a.template values<T>();
    const auto bv = b.template values<T>();
    if (merge_ == MergeMode::Concat) {
      Shape s = a.shape();
      const std::int64_t n = s.back();
      s.back() = 2 * n;
      Tensor out = Tensor::recycled_zeros(s, kType);
      T* o = out.template mutable_values<T>().data();
      const std::int64_t rows = n == 0 ? 0 : a.num_elements() / n;
      for (std::int64_t r = 0; r < rows; ++r) {
        std::copy_n(av.data() + r * n, n, o + 2 * r * n);
        std::copy_n(bv.data() + r * n, n, o + 2 * r * n + n);
      }
      return out;
    }
    Tensor out = Tensor::recycled_zeros(a.shape(), kType);
    T* o = out.template mutable_values<T>().data();
    for (std::size_t i = 0; i < av.size(); ++i) {
      switch (merge_) {
        case MergeMode::Sum:
          o[i] = av[i] + bv[i];
          break;
        case MergeMode::Mul:
          o[i] = av[i] * bv[i];
          break;
        default:
          o[i] = (av[i] + bv[i]) / T(2);
          break;
      }
    }
    return out;
  }

  MergeMode merge_ = MergeMode::Concat;
  bool return_sequences_ = false;
  bool return_state_ = false;
  std::shared_ptr<Layer> forward_;
  std::shared_ptr<Layer> backward_;
};

}  // namespace

KSERDE_REGISTER_LAYER(Bidirectional);

}  // namespace kserde
