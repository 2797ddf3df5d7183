// keras.layers.SimpleRNNCell, LSTMCell, GRUCell: one time step of the recurrent layers.
// Variables (all three): 0 kernel (input_dim, k*units), 1 recurrent_kernel (units, k*units),
// 2 bias when use_bias — SimpleRNN k=1; LSTM k=4, gates i,f,c,o, bias (4u,); GRU k=3, gates z,r,h,
// bias (2, 3u) with reset_after (row 0 input bias, row 1 recurrent bias) else (3u,).
//   SimpleRNN: h = act(x W + b + h' U)
//   LSTM:      z = x W + h' U + b; i,f,o = ract(z_i,z_f,z_o); c = f*c' + i*act(z_c); h = o*act(c)
//   GRU:       z,r = ract(x W_zr + b_zr + h' U_zr [+ rb_zr]);
//              reset_after: hh = act(x W_h + b_h + r*(h' U_h + rb_h));
//              else:        hh = act(x W_h + b_h + (r*h') U_h)
//              h = z*h' + (1-z)*hh
// Dropout is training-only and ignored; unit_forget_bias only affects initialization.
#include "layers/recurrent/rnn_cell.hpp"

#include <array>

namespace kserde {

namespace detail {

namespace {

constexpr const char* kOrthogonal =
    R"({"module": "keras.initializers", "class_name": "Orthogonal", "config": {"seed": null, "gain": 1.0}, "registered_name": null})";

}  // namespace

bool is_rnn_only_key(std::string_view key) {
  static constexpr std::array<std::string_view, 10> keys = {
      "name",   "return_sequences",     "return_state",         "go_backwards", "stateful",
      "unroll", "zero_output_for_mask", "activity_regularizer", "use_cudnn",    "cell"};
  for (std::string_view k : keys) {
    if (k == key) return true;
  }
  return false;
}

RecurrentCell::RecurrentCell(std::shared_ptr<JsonDocument> d, Deserializer& ctx, int gates,
                             bool has_recurrent_activation)
    : Layer(std::move(d)), gates_(gates) {
  config_default("trainable", "true");
  config_default("dtype", kDefaultDTypePolicy);
  config_default("activation", "\"tanh\"");
  if (has_recurrent_activation) config_default("recurrent_activation", "\"sigmoid\"");
  config_default("use_bias", "true");
  config_default("kernel_initializer", kGlorotUniform);
  config_default("recurrent_initializer", kOrthogonal);
  config_default("bias_initializer", kZeros);
  config_default("kernel_regularizer", "null");
  config_default("recurrent_regularizer", "null");
  config_default("bias_regularizer", "null");
  config_default("kernel_constraint", "null");
  config_default("recurrent_constraint", "null");
  config_default("bias_constraint", "null");
  config_default("dropout", "0.0");
  config_default("recurrent_dropout", "0.0");
  config_default("seed", "null");
  const JsonValue& c = config();
  units_ = cfg::get_int(c, "units", describe());
  if (units_ <= 0) cfg::fail(describe(), "units must be positive, got " + std::to_string(units_));
  use_bias_ = cfg::get_bool(c, "use_bias", describe(), true);
  activation_ = ctx.activation(cfg::find(c, "activation"), describe());
  if (has_recurrent_activation) {
    recurrent_activation_ = ctx.activation(cfg::find(c, "recurrent_activation"), describe());
  }
  // dropout / recurrent_dropout are training-only; Keras clamps them to [0, 1] without complaint.
  (void)cfg::get_float(c, "dropout", describe(), 0.0);
  (void)cfg::get_float(c, "recurrent_dropout", describe(), 0.0);
}

void RecurrentCell::build_impl(const std::vector<Shape>& in) {
  if (in.empty() || in[0].size() != 2 || in[0][1] < 0) {
    throw ShapeError(describe() +
                     ": needs step inputs of shape (batch, features) with known "
                     "features, got " +
                     (in.empty() ? std::string("nothing") : shape_to_string(in[0])));
  }
  add_weight("kernel", {in[0][1], gates_ * units_});
  add_weight("recurrent_kernel", {units_, gates_ * units_});
  if (use_bias_) add_weight("bias", bias_shape());
}

RowMatrix RecurrentCell::project_inputs(const float* rows, std::int64_t n) const {
  const std::int64_t in_dim = kernel().dim(0);
  RowMatrix xp = ops::product(rows, n, in_dim, kernel().f32(), gates_ * units_, 0, gates_ * units_);
  if (const float* b = input_bias()) {
    xp.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(b, gates_ * units_);
  }
  return xp;
}

TensorList RecurrentCell::call(const TensorList& inputs, CallContext&) {
  if (inputs.empty()) throw ShapeError(describe() + " expects the step inputs and the states");
  const Tensor x = ops::as_float32(inputs[0]);
  if (x.rank() != 2) {
    throw ShapeError(describe() + ": step inputs must be (batch, features), got " +
                     shape_to_string(x.shape()));
  }
  if (!built()) build({symbolic(x.shape())});
  const std::int64_t batch = x.dim(0);
  if (x.dim(1) != kernel().dim(0)) {
    throw ShapeError(describe() + ": expected " + std::to_string(kernel().dim(0)) +
                     " input features, got " + std::to_string(x.dim(1)));
  }
  std::vector<RowMatrix> states;
  for (std::size_t s = 0; s < num_states(); ++s) {
    if (1 + s < inputs.size()) {
      const Tensor st = ops::as_float32(inputs[1 + s]);
      if (st.shape() != Shape{batch, units_}) {
        throw ShapeError(describe() + ": state " + std::to_string(s) + " must be " +
                         shape_to_string({batch, units_}) + ", got " + shape_to_string(st.shape()));
      }
      states.emplace_back(ops::as_matrix(st, batch, units_));
    } else {
      states.push_back(RowMatrix::Zero(batch, units_));
    }
  }
  step(project_inputs(x.f32(), batch), states);
  TensorList out;
  auto to_tensor = [&](const RowMatrix& m) {
    return Tensor::from_floats(
        {batch, units_}, std::span<const float>(m.data(), static_cast<std::size_t>(m.size())));
  };
  out.push_back(to_tensor(states[0]));
  for (const RowMatrix& s : states) out.push_back(to_tensor(s));
  return out;
}

std::vector<Shape> RecurrentCell::compute_output_shape(const std::vector<Shape>& in) const {
  const std::int64_t batch = in.empty() || in[0].empty() ? -1 : in[0][0];
  return std::vector<Shape>(1 + num_states(), Shape{batch, units_});
}

}  // namespace detail

namespace {

using detail::RowMatrix;

class SimpleRNNCell final : public detail::RecurrentCell {
 public:
  SimpleRNNCell(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : RecurrentCell(std::move(d), ctx, 1, false) {}

  void step(const RowMatrix& xp, std::vector<RowMatrix>& states) const override {
    RowMatrix h = xp + ops::product(states[0], recurrent_kernel().f32(), units_, 0, units_);
    detail::apply_activation(activation_, h);
    states[0] = std::move(h);
  }
};

class LSTMCell final : public detail::RecurrentCell {
 public:
  LSTMCell(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : RecurrentCell(std::move(d), ctx, 4, true) {
    config_default("unit_forget_bias", "true");
  }

  std::size_t num_states() const override { return 2; }

  void step(const RowMatrix& xp, std::vector<RowMatrix>& states) const override {
    const Eigen::Index u = units_;
    const RowMatrix z = xp + ops::product(states[0], recurrent_kernel().f32(), 4 * u, 0, 4 * u);
    RowMatrix i = z.middleCols(0, u);
    RowMatrix f = z.middleCols(u, u);
    RowMatrix g = z.middleCols(2 * u, u);
    RowMatrix o = z.middleCols(3 * u, u);
    detail::apply_activation(recurrent_activation_, i);
    detail::apply_activation(recurrent_activation_, f);
    detail::apply_activation(activation_, g);
    detail::apply_activation(recurrent_activation_, o);
    RowMatrix c = f.cwiseProduct(states[1]) + i.cwiseProduct(g);
    RowMatrix act_c = c;
    detail::apply_activation(activation_, act_c);
    states[0] = o.cwiseProduct(act_c);
    states[1] = std::move(c);
  }
};

class GRUCell final : public detail::RecurrentCell {
 public:
  GRUCell(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : RecurrentCell(std::move(d), ctx, 3, true) {
    config_default("reset_after", "true");
    reset_after_ = cfg::get_bool(config(), "reset_after", describe(), true);
  }

  void step(const RowMatrix& xp, std::vector<RowMatrix>& states) const override {
    const Eigen::Index u = units_;
    const RowMatrix& h_prev = states[0];
    const float* rk = recurrent_kernel().f32();
    RowMatrix inner = ops::product(h_prev, rk, 3 * u, 0, reset_after_ ? 3 * u : 2 * u);
    if (reset_after_ && use_bias_) {
      // Row 1 of the (2, 3u) bias is the recurrent bias.
      inner.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(weight(2).f32() + 3 * u, 3 * u);
    }
    RowMatrix z = xp.middleCols(0, u) + inner.middleCols(0, u);
    RowMatrix r = xp.middleCols(u, u) + inner.middleCols(u, u);
    detail::apply_activation(recurrent_activation_, z);
    detail::apply_activation(recurrent_activation_, r);
    RowMatrix hh;
    if (reset_after_) {
      hh = xp.middleCols(2 * u, u) + r.cwiseProduct(inner.middleCols(2 * u, u));
    } else {
      hh = xp.middleCols(2 * u, u) + ops::product(r.cwiseProduct(h_prev), rk, 3 * u, 2 * u, u);
    }
    detail::apply_activation(activation_, hh);
    RowMatrix h = z.cwiseProduct(h_prev) + (RowMatrix::Ones(z.rows(), u) - z).cwiseProduct(hh);
    states[0] = std::move(h);
  }

 protected:
  Shape bias_shape() const override {
    return reset_after_ ? Shape{2, 3 * units_} : Shape{3 * units_};
  }

 private:
  bool reset_after_ = true;
};

}  // namespace

KSERDE_REGISTER_LAYER(SimpleRNNCell);
KSERDE_REGISTER_LAYER(LSTMCell);
KSERDE_REGISTER_LAYER(GRUCell);

}  // namespace kserde
