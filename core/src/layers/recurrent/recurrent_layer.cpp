// keras.layers.RNN, LSTM, GRU, SimpleRNN: run a cell over the time axis of (batch, steps,
// features). No variables of their own (the cell's are at <layer>/cell/vars; see cells.cpp for the
// order).
//
// Semantics follow Keras's backend rnn loop (TensorFlow backend):
//   * go_backwards processes steps T-1..0 and returns the sequence in processing order;
//   * at a masked step (mask (batch, steps) false) the states are carried over and the output
//     repeats the previous step's output (zeros before the first unmasked step), or is zero when
//     zero_output_for_mask;
//   * outputs: the last output or the whole sequence, then the final states if return_state
//     ([output, h] for SimpleRNN/GRU, [output, h, c] for LSTM);
//   * initial states: extra positional inputs or ctx.kwargs["initial_state"]; zeros otherwise.
// RNN layers have supports_masking=False in Keras 3, so their outputs carry no mask.
#include "layers/recurrent/recurrent_layer.hpp"

#include <algorithm>

namespace kserde {

namespace detail {

namespace {

void set_bool(JsonDocument& doc, std::string_view key, bool value) {
  cfg::set(doc["config"], key, JsonValue(value), doc.GetAllocator());
}

Tensor to_tensor(const FloatBuffer& m, std::int64_t rows, std::int64_t cols) {
  return Tensor::from_floats({rows, cols}, std::span<const float>(m.data(), m.size()));
}

}  // namespace

RecurrentLayer::RecurrentLayer(std::shared_ptr<JsonDocument> d, Deserializer& ctx,
                               const RecurrentKind& kind)
    : Layer(std::move(d)), from_cell_dict_(kind.cell_class == nullptr) {
  config_default("trainable", "true");
  config_default("dtype", kDefaultDTypePolicy);
  config_default("return_sequences", "false");
  config_default("return_state", "false");
  config_default("go_backwards", "false");
  config_default("stateful", "false");
  config_default("unroll", "false");
  config_default("zero_output_for_mask", "false");
  if (!from_cell_dict_) {
    config_default("activation", "\"tanh\"");
    if (kind.recurrent_activation) config_default("recurrent_activation", "\"sigmoid\"");
    config_default("use_bias", "true");
    config_default("kernel_initializer", kGlorotUniform);
    config_default(
        "recurrent_initializer",
        R"({"module": "keras.initializers", "class_name": "Orthogonal", "config": {"seed": null, "gain": 1.0}, "registered_name": null})");
    config_default("bias_initializer", kZeros);
    if (kind.unit_forget_bias) config_default("unit_forget_bias", "true");
    config_default("kernel_regularizer", "null");
    config_default("recurrent_regularizer", "null");
    config_default("bias_regularizer", "null");
    config_default("activity_regularizer", "null");
    config_default("kernel_constraint", "null");
    config_default("recurrent_constraint", "null");
    config_default("bias_constraint", "null");
    config_default("dropout", "0.0");
    config_default("recurrent_dropout", "0.0");
    if (kind.reset_after) config_default("reset_after", "true");
    if (kind.seed) config_default("seed", "null");
  }
  const JsonValue& c = config();
  return_sequences_ = cfg::get_bool(c, "return_sequences", describe(), false);
  return_state_ = cfg::get_bool(c, "return_state", describe(), false);
  go_backwards_ = cfg::get_bool(c, "go_backwards", describe(), false);
  stateful_ = cfg::get_bool(c, "stateful", describe(), false);
  zero_output_for_mask_ = cfg::get_bool(c, "zero_output_for_mask", describe(), false);

  if (from_cell_dict_) {
    const JsonValue* cell = cfg::find(c, "cell");
    if (cell == nullptr || !cell->IsObject()) {
      cfg::fail(describe(),
                "'cell' must be a cell object dict (stacked cell lists are not supported)");
    }
    cell_layer_ = ctx.layer(*cell);
  } else {
    const std::int64_t units = cfg::get_int(c, "units", describe());
    if (units <= 0) cfg::fail(describe(), "units must be positive, got " + std::to_string(units));
    // The cell takes this layer's config minus the RNN-only keys, named like Keras names it.
    auto doc = std::make_shared<JsonDocument>();
    doc->SetObject();
    auto& a = doc->GetAllocator();
    doc->AddMember("module", "keras.layers", a);
    doc->AddMember("class_name", cfg::str(kind.cell_class, a), a);
    JsonValue cc(rapidjson::kObjectType);
    cc.AddMember("name", cfg::str(kind.cell_name, a), a);
    for (const auto& m : c.GetObject()) {
      const std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (is_rnn_only_key(key)) continue;
      JsonValue k(m.name, a);
      JsonValue v(m.value, a);
      cc.AddMember(k, v, a);
    }
    doc->AddMember("config", cc, a);
    doc->AddMember("registered_name", JsonValue(), a);
    auto factory = builtin_layers().find(kind.cell_class);
    if (!factory) throw ConfigError(describe() + ": internal: no cell class " + kind.cell_class);
    cell_layer_ = (*factory)(doc, ctx);
  }
  cell_ = dynamic_cast<RecurrentCell*>(cell_layer_.get());
}

void RecurrentLayer::set_zero_output_for_mask(bool value) {
  zero_output_for_mask_ = value;
  set_bool(object_dict(), "zero_output_for_mask", value);
}

std::int64_t RecurrentLayer::units() const {
  if (cell_ != nullptr) return cell_->units();
  const JsonValue* u = cfg::find(cell_layer_->config(), "units");
  return u != nullptr && u->IsInt64() ? u->GetInt64() : -1;
}

void RecurrentLayer::build_impl(const std::vector<Shape>& in) {
  if (in.empty() || in[0].size() != 3) {
    throw ShapeError(describe() + ": expects inputs of shape (batch, steps, features), got " +
                     (in.empty() ? std::string("nothing") : shape_to_string(in[0])));
  }
  cell_layer_->build({Shape{in[0][0], in[0][2]}});
}

void RecurrentLayer::build_from_config(const JsonValue& build_config) {
  const JsonValue* sd = cfg::find(build_config, "shapes_dict");
  if (sd == nullptr || !sd->IsObject()) {
    Layer::build_from_config(build_config);
    return;
  }
  const JsonValue* seq = cfg::find(*sd, "sequences_shape");
  if (seq == nullptr || !seq->IsArray())
    cfg::fail(describe(), "build_config lacks sequences_shape");
  std::vector<Shape> shapes{cfg::to_shape(*seq, describe())};
  if (const JsonValue* st = cfg::find(*sd, "initial_state_shape"); st != nullptr && st->IsArray()) {
    const bool nested = !st->Empty() && ((*st)[0].IsArray());
    if (nested) {
      for (const auto& s : st->GetArray()) shapes.push_back(cfg::to_shape(s, describe()));
    } else {
      shapes.push_back(cfg::to_shape(*st, describe()));
    }
  }
  build(shapes);
}

std::shared_ptr<JsonDocument> RecurrentLayer::to_object_dict() const {
  auto doc = Layer::to_object_dict();
  auto& a = doc->GetAllocator();
  if (from_cell_dict_) {
    auto cell = cell_layer_->to_object_dict();
    JsonValue v;
    v.CopyFrom(*cell, a);
    cfg::set((*doc)["config"], "cell", std::move(v), a);
  }
  // Built with initial states: Keras records build(sequences_shape, initial_state_shape).
  const auto& shapes = build_input_shapes();
  if (built() && shapes.size() > 1 && !cfg::has_non_null(object_dict(), "build_config")) {
    JsonValue sd(rapidjson::kObjectType);
    sd.AddMember("sequences_shape", cfg::from_shape(shapes[0], a), a);
    JsonValue states(rapidjson::kArrayType);
    for (std::size_t i = 1; i < shapes.size(); ++i)
      states.PushBack(cfg::from_shape(shapes[i], a), a);
    sd.AddMember("initial_state_shape", states, a);
    JsonValue bc(rapidjson::kObjectType);
    bc.AddMember("shapes_dict", sd, a);
    cfg::set(*doc, "build_config", std::move(bc), a);
  }
  return doc;
}

std::vector<TrackedChild> RecurrentLayer::tracked_children() const {
  return {TrackedChild{"cell", {cell_layer_.get()}, false}};
}

std::vector<Shape> RecurrentLayer::compute_output_shape(const std::vector<Shape>& in) const {
  if (in.empty() || in[0].size() != 3) {
    throw ShapeError(describe() + ": expects inputs of shape (batch, steps, features)");
  }
  const std::int64_t b = in[0][0];
  const std::int64_t u = units();
  std::vector<Shape> out{return_sequences_ ? Shape{b, in[0][1], u} : Shape{b, u}};
  if (return_state_) {
    for (std::size_t i = 0; i < num_states(); ++i) out.push_back({b, u});
  }
  return out;
}

TensorList RecurrentLayer::call(const TensorList& inputs, CallContext& ctx) {
  if (inputs.empty()) throw ShapeError(describe() + " expects a sequence input");
  if (cell_ == nullptr) {
    throw UnsupportedError(describe() + ": kserde cannot run cells of class '" +
                           cell_layer_->class_name() + "'");
  }
  if (stateful_) {
    throw UnsupportedError(describe() +
                           ": stateful=True (state kept across calls) is not supported");
  }
  const Tensor x = ops::as_float32(inputs[0]);
  if (x.rank() != 3) {
    throw ShapeError(describe() + ": expects inputs of shape (batch, steps, features), got " +
                     shape_to_string(x.shape()));
  }
  if (!built()) build({symbolic(x.shape())});
  const std::int64_t batch = x.dim(0);
  const std::int64_t steps = x.dim(1);
  const std::int64_t u = cell_->units();
  const std::int64_t in_dim = cell_->variables().at(0).value.dim(0);
  if (x.dim(2) != in_dim) {
    throw ShapeError(describe() + ": expected " + std::to_string(in_dim) + " features, got " +
                     shape_to_string(x.shape()));
  }
  if (steps == 0) throw ShapeError(describe() + ": the input has no time steps");

  // Initial states.
  TensorList init(inputs.begin() + 1, inputs.end());
  if (init.empty()) {
    if (auto it = ctx.kwargs.find("initial_state"); it != ctx.kwargs.end())
      init.push_back(it->second);
  }
  const std::size_t n_states = cell_->num_states();
  if (!init.empty() && init.size() != n_states) {
    throw ShapeError(describe() + ": expected " + std::to_string(n_states) +
                     " initial state tensor(s), got " + std::to_string(init.size()));
  }
  // Every buffer below comes from the tensor buffer cache: steady-state calls allocate nothing.
  const auto state_size = static_cast<std::size_t>(batch * u);
  StateList states(n_states, FloatBuffer(state_size, 0.0f));
  for (std::size_t s = 0; s < n_states && !init.empty(); ++s) {
    const Tensor st = ops::as_float32(init[s]);
    if (st.shape() != Shape{batch, u}) {
      throw ShapeError(describe() + ": initial state " + std::to_string(s) + " must have shape " +
                       shape_to_string({batch, u}) + ", got " + shape_to_string(st.shape()));
    }
    std::copy(st.f32(), st.f32() + state_size, states[s].begin());
  }

  // Mask (batch, steps): an explicit "mask" keyword wins over the input's mask.
  std::optional<Tensor> mask;
  if (auto it = ctx.kwargs.find("mask"); it != ctx.kwargs.end()) {
    mask = it->second;
  } else if (!ctx.input_masks.empty() && ctx.input_masks[0]) {
    mask = *ctx.input_masks[0];
  }
  std::vector<std::uint8_t, CachedAllocator<std::uint8_t>> keep;
  if (mask) {
    if (mask->rank() < 2 || mask->dim(0) != batch || mask->dim(1) != steps ||
        mask->num_elements() != batch * steps) {
      throw ShapeError(describe() + ": mask of shape " + shape_to_string(mask->shape()) +
                       " does not match inputs " + shape_to_string(x.shape()));
    }
    const Tensor mb = mask->to(DType::Bool);
    for (bool v : mb.values<bool>()) keep.push_back(v ? 1 : 0);
  }

  const DType compute = compute_dtype();
  if (compute == DType::Float64) return run_exact<double>(inputs[0], init, keep, ctx, compute);
  if (compute == DType::Float16 || compute == DType::BFloat16)
    return run_exact<float>(inputs[0], init, keep, ctx, compute);

  FloatBuffer xp;
  cell_->project_inputs(x.f32(), batch * steps, xp);  // row b*steps + t
  const std::int64_t g = xp.empty() ? 0 : static_cast<std::int64_t>(xp.size()) / (batch * steps);
  FloatBuffer prev_out(state_size, 0.0f);
  Tensor seq;
  float* seq_data = nullptr;
  if (return_sequences_) {
    seq = Tensor::uninitialized({batch, steps, u}, DType::Float32);  // every step is written
    seq_data = seq.f32_mut();
  }
  FloatBuffer xt(static_cast<std::size_t>(batch * g));
  StateList next = states;
  StepScratch scratch;
  for (std::int64_t s = 0; s < steps; ++s) {
    const std::int64_t t = go_backwards_ ? steps - 1 - s : s;
    for (std::int64_t b = 0; b < batch; ++b) {
      const float* row = xp.data() + (b * steps + t) * g;
      std::copy(row, row + g, xt.data() + b * g);
    }
    cell_->step(xt.data(), batch, states, next, scratch);
    for (std::int64_t b = 0; b < batch; ++b) {
      float* out_row = prev_out.data() + b * u;
      if (keep.empty() || keep[static_cast<std::size_t>(b * steps + t)] != 0) {
        std::copy(next[0].data() + b * u, next[0].data() + (b + 1) * u, out_row);
        continue;
      }
      // A masked step: states carried over; the output repeats (or is zero).
      for (std::size_t k = 0; k < n_states; ++k) {
        std::copy(states[k].data() + b * u, states[k].data() + (b + 1) * u, next[k].data() + b * u);
      }
      if (zero_output_for_mask_) std::fill(out_row, out_row + u, 0.0f);
    }
    std::swap(states, next);
    if (seq_data != nullptr) {
      for (std::int64_t b = 0; b < batch; ++b) {
        std::copy(prev_out.data() + b * u, prev_out.data() + (b + 1) * u,
                  seq_data + (b * steps + s) * u);
      }
    }
  }

  TensorList outputs{return_sequences_ ? seq : to_tensor(prev_out, batch, u)};
  if (return_state_) {
    for (const FloatBuffer& st : states) outputs.push_back(to_tensor(st, batch, u));
  }
  // Keras 3 RNN layers do not support masking: no mask on any output.
  ctx.output_masks.assign(outputs.size(), std::nullopt);
  return outputs;
}

template <class T>
TensorList RecurrentLayer::run_exact(
    const Tensor& x_in, const TensorList& init,
    const std::vector<std::uint8_t, CachedAllocator<std::uint8_t>>& keep, CallContext& ctx,
    DType half) const {
  constexpr bool kF64 = sizeof(T) == 8;
  constexpr DType kType = kF64 ? DType::Float64 : DType::Float32;
  auto convert = [half](const Tensor& t) {
    return kF64 ? t.to(DType::Float64) : ops::rounded_to(t, half);
  };
  const Tensor x = convert(x_in);
  const std::int64_t batch = x.dim(0);
  const std::int64_t steps = x.dim(1);
  const std::int64_t d = x.dim(2);
  const std::int64_t u = cell_->units();
  const auto size = static_cast<std::size_t>(batch * u);
  const std::size_t n_states = cell_->num_states();
  std::vector<std::vector<T>> states(n_states, std::vector<T>(size, T(0)));
  for (std::size_t s = 0; s < n_states && !init.empty(); ++s) {
    const Tensor st = convert(init[s]);
    const auto v = st.template values<T>();
    std::copy(v.begin(), v.end(), states[s].begin());
  }
  const RecurrentCell::F64Weights w = kF64 ? cell_->f64_weights() : RecurrentCell::F64Weights{};
  const RecurrentCell::HalfWeights hw =
      kF64 ? RecurrentCell::HalfWeights{} : cell_->half_weights(half);
  const T* px = x.template values<T>().data();
  std::vector<T> xt(static_cast<std::size_t>(batch * d));
  std::vector<T> prev_out(size, T(0));
  Tensor seq;
  T* seq_data = nullptr;
  if (return_sequences_) {
    seq = Tensor::uninitialized({batch, steps, u}, kType);  // every step is written
    seq_data = seq.template mutable_values<T>().data();
  }
  for (std::int64_t s = 0; s < steps; ++s) {
    const std::int64_t t = go_backwards_ ? steps - 1 - s : s;
    for (std::int64_t b = 0; b < batch; ++b) {
      std::copy(px + (b * steps + t) * d, px + (b * steps + t + 1) * d, xt.data() + b * d);
    }
    std::vector<std::vector<T>> next = states;
    if constexpr (kF64) {
      cell_->step_f64(xt.data(), batch, w, next);
    } else {
      cell_->step_half(xt.data(), batch, hw, next);
    }
    for (std::int64_t b = 0; b < batch; ++b) {
      T* out_row = prev_out.data() + b * u;
      if (keep.empty() || keep[static_cast<std::size_t>(b * steps + t)] != 0) {
        std::copy(next[0].data() + b * u, next[0].data() + (b + 1) * u, out_row);
        continue;
      }
      // A masked step: states carried over; the output repeats (or is zero).
      for (std::size_t k = 0; k < n_states; ++k) {
        std::copy(states[k].data() + b * u, states[k].data() + (b + 1) * u, next[k].data() + b * u);
      }
      if (zero_output_for_mask_) std::fill(out_row, out_row + u, T(0));
    }
    states = std::move(next);
    if (seq_data != nullptr) {
      for (std::int64_t b = 0; b < batch; ++b) {
        std::copy(prev_out.data() + b * u, prev_out.data() + (b + 1) * u,
                  seq_data + (b * steps + s) * u);
      }
    }
  }
  auto to_f64 = [&](const std::vector<T>& m) {
    Tensor t = Tensor::uninitialized({batch, u}, kType);
    std::copy(m.begin(), m.end(), t.template mutable_values<T>().begin());
    return t;
  };
  TensorList outputs{return_sequences_ ? seq : to_f64(prev_out)};
  if (return_state_) {
    for (const auto& st : states) outputs.push_back(to_f64(st));
  }
  ctx.output_masks.assign(outputs.size(), std::nullopt);
  return outputs;
}

}  // namespace detail

namespace {

constexpr detail::RecurrentKind kSimpleRnn{
    "SimpleRNNCell", "simple_rnn_cell", false, false, false, false};
constexpr detail::RecurrentKind kLstm{"LSTMCell", "lstm_cell", true, true, false, true};
constexpr detail::RecurrentKind kGru{"GRUCell", "gru_cell", true, false, true, true};
constexpr detail::RecurrentKind kGenericRnn{nullptr, nullptr, false, false, false, false};

class SimpleRNN final : public detail::RecurrentLayer {
 public:
  SimpleRNN(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : RecurrentLayer(std::move(d), ctx, kSimpleRnn) {}
};

class LSTM final : public detail::RecurrentLayer {
 public:
  LSTM(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : RecurrentLayer(std::move(d), ctx, kLstm) {}
};

class GRU final : public detail::RecurrentLayer {
 public:
  GRU(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : RecurrentLayer(std::move(d), ctx, kGru) {}
};

class RNN final : public detail::RecurrentLayer {
 public:
  RNN(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : RecurrentLayer(std::move(d), ctx, kGenericRnn) {}
};

}  // namespace

KSERDE_REGISTER_LAYER(SimpleRNN);
KSERDE_REGISTER_LAYER(LSTM);
KSERDE_REGISTER_LAYER(GRU);
KSERDE_REGISTER_LAYER(RNN);

}  // namespace kserde
