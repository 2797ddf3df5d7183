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

#include <algorithm>
#include <array>

#include "layers/activation_dtype.hpp"
#include "ops/gemm.hpp"

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

void RecurrentCell::project_inputs(const float* rows, std::int64_t n, FloatBuffer& out) const {
  const std::int64_t in_dim = kernel().dim(0);
  const std::int64_t width = gates_ * units_;
  out.resize(static_cast<std::size_t>(n * width));
  ops::gemm(n, width, in_dim, rows, in_dim, kernel().f32(), width, out.data(), width);
  if (const float* b = input_bias()) {
    for (std::int64_t r = 0; r < n; ++r) {
      float* row = out.data() + r * width;
      for (std::int64_t j = 0; j < width; ++j) row[j] += b[j];
    }
  }
}

RecurrentCell::F64Weights RecurrentCell::f64_weights() const {
  auto values = [&](std::size_t i) {
    const Tensor t = variables().at(i).value.to(DType::Float64);
    const auto v = t.values<double>();
    return std::vector<double>(v.begin(), v.end());
  };
  return {values(0), values(1), use_bias_ ? values(2) : std::vector<double>()};
}

RecurrentCell::HalfWeights RecurrentCell::half_weights(DType half) const {
  auto values = [&](std::size_t i) {
    const Tensor t = ops::rounded_to(variables().at(i).value, half);
    const auto v = t.values<float>();
    return std::vector<float>(v.begin(), v.end());
  };
  return {values(0), values(1), use_bias_ ? values(2) : std::vector<float>(), half};
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
  const auto size = static_cast<std::size_t>(batch * units_);
  StateList states(num_states(), FloatBuffer(size, 0.0f));
  for (std::size_t s = 0; s < num_states() && 1 + s < inputs.size(); ++s) {
    const Tensor st = ops::as_float32(inputs[1 + s]);
    if (st.shape() != Shape{batch, units_}) {
      throw ShapeError(describe() + ": state " + std::to_string(s) + " must be " +
                       shape_to_string({batch, units_}) + ", got " + shape_to_string(st.shape()));
    }
    std::copy(st.f32(), st.f32() + size, states[s].begin());
  }
  FloatBuffer xp;
  project_inputs(x.f32(), batch, xp);
  StateList next = states;
  StepScratch scratch;
  step(xp.data(), batch, states, next, scratch);
  TensorList out;
  auto to_tensor = [&](const FloatBuffer& m) {
    return Tensor::from_floats({batch, units_}, std::span<const float>(m.data(), m.size()));
  };
  out.push_back(to_tensor(next[0]));
  for (const FloatBuffer& s : next) out.push_back(to_tensor(s));
  return out;
}

std::vector<Shape> RecurrentCell::compute_output_shape(const std::vector<Shape>& in) const {
  const std::int64_t batch = in.empty() || in[0].empty() ? -1 : in[0][0];
  return std::vector<Shape>(1 + num_states(), Shape{batch, units_});
}

}  // namespace detail

namespace {

using detail::FloatBuffer;

std::size_t z(std::int64_t i) {
  return static_cast<std::size_t>(i);
}

using detail::StateList;
using detail::StepScratch;

// buf (rows x width) := a[:, a_first, + width) of a (rows x lda) block; storage reused.
void take_columns(const float* a, std::int64_t rows, std::int64_t lda, std::int64_t a_first,
                  std::int64_t width, FloatBuffer& buf) {
  buf.resize(static_cast<std::size_t>(rows * width));
  for (std::int64_t r = 0; r < rows; ++r) {
    std::copy(a + r * lda + a_first, a + r * lda + a_first + width, buf.data() + r * width);
  }
}

// out (rows x cols) := h (rows x depth) @ b[:, first, + cols) (b row-major, ldb per row).
void product(const float* h, std::int64_t rows, std::int64_t depth, const float* b,
             std::int64_t ldb, std::int64_t first, std::int64_t cols, FloatBuffer& out) {
  out.resize(static_cast<std::size_t>(rows * cols));
  ops::gemm(rows, cols, depth, h, depth, b + first, ldb, out.data(), cols);
}

using F64Weights = detail::RecurrentCell::F64Weights;
using Rows = std::vector<double>;

// out (rows x cols) = a (rows x depth) @ b[:, first, + cols) in double (b row-major, ldb per row).
Rows product_f64(const double* a, std::int64_t rows, std::int64_t depth, const double* b,
                 std::int64_t ldb, std::int64_t first, std::int64_t cols) {
  Rows out(static_cast<std::size_t>(rows * cols), 0.0);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t p = 0; p < depth; ++p) {
      const double v = a[r * depth + p];
      for (std::int64_t j = 0; j < cols; ++j) out[z(r * cols + j)] += v * b[p * ldb + first + j];
    }
  }
  return out;
}

// An activation applied to a rows x cols block in double (detail::activate_float64).
void activate_f64(const Activation& a, Rows& m, std::int64_t rows, std::int64_t cols) {
  if (a.halves_last_axis) {
    throw UnsupportedError("recurrent cell: activation '" + a.name +
                           "' changes the state's size; a cell cannot use it");
  }
  Tensor t = Tensor::uninitialized({rows, cols}, DType::Float64);
  std::copy(m.begin(), m.end(), t.mutable_values<double>().begin());
  const Tensor y = detail::activate_float64(a, std::move(t)).to(DType::Float64);
  const auto v = y.values<double>();
  std::copy(v.begin(), v.end(), m.begin());
}

using HalfWeights = detail::RecurrentCell::HalfWeights;
using HalfRows = std::vector<float>;

float rh(float v, DType half) {
  return half == DType::BFloat16 ? bfloat16_to_float(float_to_bfloat16(v))
                                 : half_to_float(float_to_half(v));
}

// NumPy's half matmul: a (rows x depth) @ b[:, first, + cols), summed in float32, rounded once.
HalfRows product_half(const float* a, std::int64_t rows, std::int64_t depth, const float* b,
                      std::int64_t ldb, std::int64_t first, std::int64_t cols, DType half) {
  HalfRows out(z(rows * cols), 0.0f);
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t j = 0; j < cols; ++j) {
      float acc = 0.0f;
      for (std::int64_t p = 0; p < depth; ++p) acc += a[r * depth + p] * b[p * ldb + first + j];
      out[z(r * cols + j)] = rh(acc, half);
    }
  }
  return out;
}

// An activation on a rows x cols block of half values, each NumPy operation rounded.
void activate_half_rows(const Activation& a, HalfRows& m, std::int64_t rows, std::int64_t cols,
                        DType half) {
  if (a.halves_last_axis) {
    throw UnsupportedError("recurrent cell: activation '" + a.name +
                           "' changes the state's size; a cell cannot use it");
  }
  Tensor t = Tensor::from_floats({rows, cols}, m);
  detail::activate_half(a, t, half);
  const auto v = t.values<float>();
  std::copy(v.begin(), v.end(), m.begin());
}

class SimpleRNNCell final : public detail::RecurrentCell {
 public:
  SimpleRNNCell(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : RecurrentCell(std::move(d), ctx, 1, false) {}

  void step(const float* xp, std::int64_t batch, const StateList& states, StateList& next,
            StepScratch& scratch) const override {
    const std::int64_t u = units_;
    product(states[0].data(), batch, u, recurrent_kernel().f32(), u, 0, u, scratch.inner);
    float* h = next[0].data();
    for (std::int64_t i = 0; i < batch * u; ++i) h[i] = xp[i] + scratch.inner[i];
    detail::apply_activation(activation_, h, batch, u);
  }

  // Keras: h = act(x W + b + h' U).
  void step_f64(const double* x, std::int64_t batch, const F64Weights& w,
                std::vector<Rows>& states) const override {
    const std::int64_t u = units_;
    const std::int64_t d = kernel().dim(0);
    Rows h = product_f64(x, batch, d, w.kernel.data(), u, 0, u);
    const Rows r = product_f64(states[0].data(), batch, u, w.recurrent.data(), u, 0, u);
    for (std::int64_t i = 0; i < batch * u; ++i) {
      if (use_bias_) h[z(i)] += w.bias[z(i % u)];
      h[z(i)] += r[z(i)];
    }
    activate_f64(activation_, h, batch, u);
    states[0] = std::move(h);
  }

  // Keras in a half type: h = r(x W), r(h + b), output = r(h + r(h' U)), then act.
  void step_half(const float* x, std::int64_t batch, const HalfWeights& w,
                 std::vector<HalfRows>& states) const override {
    const std::int64_t u = units_;
    const DType hf = w.half;
    HalfRows h = product_half(x, batch, kernel().dim(0), w.kernel.data(), u, 0, u, hf);
    const HalfRows r = product_half(states[0].data(), batch, u, w.recurrent.data(), u, 0, u, hf);
    for (std::int64_t i = 0; i < batch * u; ++i) {
      if (use_bias_) h[z(i)] = rh(h[z(i)] + w.bias[z(i % u)], hf);
      h[z(i)] = rh(h[z(i)] + r[z(i)], hf);
    }
    activate_half_rows(activation_, h, batch, u, hf);
    states[0] = std::move(h);
  }
};

class LSTMCell final : public detail::RecurrentCell {
 public:
  LSTMCell(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : RecurrentCell(std::move(d), ctx, 4, true) {
    config_default("unit_forget_bias", "true");
    // Keras switches to its split-kernel implementation 1 when recurrent_dropout is set: the bias
    // is then added to x W before h' U.
    bias_first_ = cfg::get_float(config(), "recurrent_dropout", describe(), 0.0) > 0.0;
  }

  std::size_t num_states() const override { return 2; }

  void step(const float* xp, std::int64_t batch, const StateList& states, StateList& next,
            StepScratch& scratch) const override {
    const std::int64_t u = units_;
    const std::int64_t n = batch * u;
    FloatBuffer& z = scratch.inner;
    product(states[0].data(), batch, u, recurrent_kernel().f32(), 4 * u, 0, 4 * u, z);
    for (std::int64_t i = 0; i < batch * 4 * u; ++i) z[i] = xp[i] + z[i];
    take_columns(z.data(), batch, 4 * u, 0, u, scratch.gate_a);      // i
    take_columns(z.data(), batch, 4 * u, u, u, scratch.gate_b);      // f
    take_columns(z.data(), batch, 4 * u, 2 * u, u, scratch.gate_c);  // g
    take_columns(z.data(), batch, 4 * u, 3 * u, u, scratch.gate_d);  // o
    detail::apply_activation(recurrent_activation_, scratch.gate_a.data(), batch, u);
    detail::apply_activation(recurrent_activation_, scratch.gate_b.data(), batch, u);
    detail::apply_activation(activation_, scratch.gate_c.data(), batch, u);
    detail::apply_activation(recurrent_activation_, scratch.gate_d.data(), batch, u);
    const float* c_prev = states[1].data();
    float* c = next[1].data();
    for (std::int64_t k = 0; k < n; ++k) {
      c[k] = scratch.gate_b[k] * c_prev[k] + scratch.gate_a[k] * scratch.gate_c[k];
    }
    scratch.tmp.assign(c, c + n);  // act(c)
    detail::apply_activation(activation_, scratch.tmp.data(), batch, u);
    float* h = next[0].data();
    for (std::int64_t k = 0; k < n; ++k) h[k] = scratch.gate_d[k] * scratch.tmp[k];
  }

  // Keras: z = x W + h' U + b; i, f, o = ract(z_i, z_f, z_o); c = f c' + i act(z_c);
  // h = o act(c).
  void step_f64(const double* x, std::int64_t batch, const F64Weights& w,
                std::vector<Rows>& states) const override {
    const std::int64_t u = units_;
    const std::int64_t d = kernel().dim(0);
    Rows zz = product_f64(x, batch, d, w.kernel.data(), 4 * u, 0, 4 * u);
    const Rows r = product_f64(states[0].data(), batch, u, w.recurrent.data(), 4 * u, 0, 4 * u);
    for (std::int64_t i = 0; i < batch * 4 * u; ++i) {
      const double b = use_bias_ ? w.bias[z(i % (4 * u))] : 0.0;
      zz[z(i)] = bias_first_ ? (zz[z(i)] + b) + r[z(i)] : (zz[z(i)] + r[z(i)]) + b;
    }
    Rows gate[4];
    for (int g = 0; g < 4; ++g) {
      gate[g].resize(z(batch * u));
      for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t j = 0; j < u; ++j) gate[g][z(b * u + j)] = zz[z(b * 4 * u + g * u + j)];
      }
      activate_f64(g == 2 ? activation_ : recurrent_activation_, gate[g], batch, u);
    }
    Rows c(z(batch * u));
    for (std::size_t k = 0; k < c.size(); ++k)
      c[k] = gate[1][k] * states[1][k] + gate[0][k] * gate[2][k];
    Rows h = c;
    activate_f64(activation_, h, batch, u);
    for (std::size_t k = 0; k < h.size(); ++k) h[k] = gate[3][k] * h[k];
    states[0] = std::move(h);
    states[1] = std::move(c);
  }

  // Keras in a half type: z = r(r(x W) + r(h' U)), r(z + b); c = r(r(f c') + r(i r(act(z_c))));
  // h = r(o r(act(c))), the gates' activations rounded per NumPy operation.
  void step_half(const float* x, std::int64_t batch, const HalfWeights& w,
                 std::vector<HalfRows>& states) const override {
    const std::int64_t u = units_;
    const DType hf = w.half;
    HalfRows zz = product_half(x, batch, kernel().dim(0), w.kernel.data(), 4 * u, 0, 4 * u, hf);
    const HalfRows r =
        product_half(states[0].data(), batch, u, w.recurrent.data(), 4 * u, 0, 4 * u, hf);
    for (std::int64_t i = 0; i < batch * 4 * u; ++i) {
      if (use_bias_ && bias_first_) zz[z(i)] = rh(zz[z(i)] + w.bias[z(i % (4 * u))], hf);
      zz[z(i)] = rh(zz[z(i)] + r[z(i)], hf);
      if (use_bias_ && !bias_first_) zz[z(i)] = rh(zz[z(i)] + w.bias[z(i % (4 * u))], hf);
    }
    HalfRows gate[4];
    for (int g = 0; g < 4; ++g) {
      gate[g].resize(z(batch * u));
      for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t j = 0; j < u; ++j) gate[g][z(b * u + j)] = zz[z(b * 4 * u + g * u + j)];
      }
      activate_half_rows(g == 2 ? activation_ : recurrent_activation_, gate[g], batch, u, hf);
    }
    HalfRows c(z(batch * u));
    for (std::size_t k = 0; k < c.size(); ++k)
      c[k] = rh(rh(gate[1][k] * states[1][k], hf) + rh(gate[0][k] * gate[2][k], hf), hf);
    HalfRows h = c;
    activate_half_rows(activation_, h, batch, u, hf);
    for (std::size_t k = 0; k < h.size(); ++k) h[k] = rh(gate[3][k] * h[k], hf);
    states[0] = std::move(h);
    states[1] = std::move(c);
  }

 private:
  bool bias_first_ = false;
};

class GRUCell final : public detail::RecurrentCell {
 public:
  GRUCell(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : RecurrentCell(std::move(d), ctx, 3, true) {
    config_default("reset_after", "true");
    reset_after_ = cfg::get_bool(config(), "reset_after", describe(), true);
  }

  void step(const float* xp, std::int64_t batch, const StateList& states, StateList& next,
            StepScratch& scratch) const override {
    const std::int64_t u = units_;
    const std::int64_t n = batch * u;
    const float* h_prev = states[0].data();
    const float* rk = recurrent_kernel().f32();
    const std::int64_t inner_cols = reset_after_ ? 3 * u : 2 * u;
    FloatBuffer& inner = scratch.inner;
    product(h_prev, batch, u, rk, 3 * u, 0, inner_cols, inner);
    if (reset_after_ && use_bias_) {
      // Row 1 of the (2, 3u) bias is the recurrent bias.
      const float* rb = weight(2).f32() + 3 * u;
      for (std::int64_t r = 0; r < batch; ++r) {
        for (std::int64_t j = 0; j < 3 * u; ++j) inner[r * 3 * u + j] += rb[j];
      }
    }
    FloatBuffer& z = scratch.gate_a;
    FloatBuffer& rg = scratch.gate_b;
    FloatBuffer& hh = scratch.gate_c;
    z.resize(static_cast<std::size_t>(n));
    rg.resize(static_cast<std::size_t>(n));
    hh.resize(static_cast<std::size_t>(n));
    for (std::int64_t r = 0; r < batch; ++r) {
      const float* x = xp + r * 3 * u;
      const float* in = inner.data() + r * inner_cols;
      for (std::int64_t j = 0; j < u; ++j) {
        z[r * u + j] = x[j] + in[j];
        rg[r * u + j] = x[u + j] + in[u + j];
      }
    }
    detail::apply_activation(recurrent_activation_, z.data(), batch, u);
    detail::apply_activation(recurrent_activation_, rg.data(), batch, u);
    if (reset_after_) {
      for (std::int64_t r = 0; r < batch; ++r) {
        for (std::int64_t j = 0; j < u; ++j) {
          hh[r * u + j] = xp[r * 3 * u + 2 * u + j] + rg[r * u + j] * inner[r * 3 * u + 2 * u + j];
        }
      }
    } else {
      FloatBuffer& rh = scratch.gate_d;
      rh.resize(static_cast<std::size_t>(n));
      for (std::int64_t k = 0; k < n; ++k) rh[k] = rg[k] * h_prev[k];
      product(rh.data(), batch, u, rk, 3 * u, 2 * u, u, scratch.tmp);
      for (std::int64_t r = 0; r < batch; ++r) {
        for (std::int64_t j = 0; j < u; ++j) {
          hh[r * u + j] = xp[r * 3 * u + 2 * u + j] + scratch.tmp[r * u + j];
        }
      }
    }
    detail::apply_activation(activation_, hh.data(), batch, u);
    float* h = next[0].data();
    for (std::int64_t k = 0; k < n; ++k) h[k] = z[k] * h_prev[k] + (1.0f - z[k]) * hh[k];
  }

  // Keras: x W + b_in split (z, r, h); inner = h' U (+ b_rec) [reset_after] or h' U_zr;
  // z, r = ract(x_z + inner_z, x_r + inner_r); hh = act(x_h + r * inner_h) [reset_after] or
  // act(x_h + (r h') U_h); h = z h' + (1 - z) hh.
  void step_f64(const double* x, std::int64_t batch, const F64Weights& w,
                std::vector<Rows>& states) const override {
    const std::int64_t u = units_;
    const std::int64_t d = kernel().dim(0);
    const Rows& hp = states[0];
    Rows mx = product_f64(x, batch, d, w.kernel.data(), 3 * u, 0, 3 * u);
    if (use_bias_) {
      for (std::int64_t i = 0; i < batch * 3 * u; ++i) mx[z(i)] += w.bias[z(i % (3 * u))];
    }
    const std::int64_t inner_cols = reset_after_ ? 3 * u : 2 * u;
    Rows inner = product_f64(hp.data(), batch, u, w.recurrent.data(), 3 * u, 0, inner_cols);
    if (reset_after_ && use_bias_) {
      for (std::int64_t i = 0; i < batch * 3 * u; ++i)
        inner[z(i)] += w.bias[z(3 * u + i % (3 * u))];
    }
    Rows zg(z(batch * u)), rg(z(batch * u)), hh(z(batch * u));
    for (std::int64_t b = 0; b < batch; ++b) {
      for (std::int64_t j = 0; j < u; ++j) {
        zg[z(b * u + j)] = mx[z(b * 3 * u + j)] + inner[z(b * inner_cols + j)];
        rg[z(b * u + j)] = mx[z(b * 3 * u + u + j)] + inner[z(b * inner_cols + u + j)];
      }
    }
    activate_f64(recurrent_activation_, zg, batch, u);
    activate_f64(recurrent_activation_, rg, batch, u);
    if (reset_after_) {
      for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t j = 0; j < u; ++j) {
          hh[z(b * u + j)] =
              mx[z(b * 3 * u + 2 * u + j)] + rg[z(b * u + j)] * inner[z(b * 3 * u + 2 * u + j)];
        }
      }
    } else {
      Rows rh(z(batch * u));
      for (std::size_t k = 0; k < rh.size(); ++k) rh[k] = rg[k] * hp[k];
      const Rows rec = product_f64(rh.data(), batch, u, w.recurrent.data(), 3 * u, 2 * u, u);
      for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t j = 0; j < u; ++j) {
          hh[z(b * u + j)] = mx[z(b * 3 * u + 2 * u + j)] + rec[z(b * u + j)];
        }
      }
    }
    activate_f64(activation_, hh, batch, u);
    Rows h(z(batch * u));
    for (std::size_t k = 0; k < h.size(); ++k) h[k] = zg[k] * hp[k] + (1.0 - zg[k]) * hh[k];
    states[0] = std::move(h);
  }

  // Keras in a half type: every matmul, sum, product and activation operation rounded;
  // h = r(r(z h') + r(r(1 - z) hh)).
  void step_half(const float* x, std::int64_t batch, const HalfWeights& w,
                 std::vector<HalfRows>& states) const override {
    const std::int64_t u = units_;
    const DType hf = w.half;
    const HalfRows& hp = states[0];
    HalfRows mx = product_half(x, batch, kernel().dim(0), w.kernel.data(), 3 * u, 0, 3 * u, hf);
    if (use_bias_) {
      for (std::int64_t i = 0; i < batch * 3 * u; ++i)
        mx[z(i)] = rh(mx[z(i)] + w.bias[z(i % (3 * u))], hf);
    }
    const std::int64_t inner_cols = reset_after_ ? 3 * u : 2 * u;
    HalfRows inner =
        product_half(hp.data(), batch, u, w.recurrent.data(), 3 * u, 0, inner_cols, hf);
    if (reset_after_ && use_bias_) {
      for (std::int64_t i = 0; i < batch * 3 * u; ++i)
        inner[z(i)] = rh(inner[z(i)] + w.bias[z(3 * u + i % (3 * u))], hf);
    }
    HalfRows zg(z(batch * u)), rg(z(batch * u)), hh(z(batch * u));
    for (std::int64_t b = 0; b < batch; ++b) {
      for (std::int64_t j = 0; j < u; ++j) {
        zg[z(b * u + j)] = rh(mx[z(b * 3 * u + j)] + inner[z(b * inner_cols + j)], hf);
        rg[z(b * u + j)] = rh(mx[z(b * 3 * u + u + j)] + inner[z(b * inner_cols + u + j)], hf);
      }
    }
    activate_half_rows(recurrent_activation_, zg, batch, u, hf);
    activate_half_rows(recurrent_activation_, rg, batch, u, hf);
    if (reset_after_) {
      for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t j = 0; j < u; ++j) {
          const float rec = rh(rg[z(b * u + j)] * inner[z(b * 3 * u + 2 * u + j)], hf);
          hh[z(b * u + j)] = rh(mx[z(b * 3 * u + 2 * u + j)] + rec, hf);
        }
      }
    } else {
      HalfRows rhp(z(batch * u));
      for (std::size_t k = 0; k < rhp.size(); ++k) rhp[k] = rh(rg[k] * hp[k], hf);
      const HalfRows rec =
          product_half(rhp.data(), batch, u, w.recurrent.data(), 3 * u, 2 * u, u, hf);
      for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t j = 0; j < u; ++j) {
          hh[z(b * u + j)] = rh(mx[z(b * 3 * u + 2 * u + j)] + rec[z(b * u + j)], hf);
        }
      }
    }
    activate_half_rows(activation_, hh, batch, u, hf);
    HalfRows h(z(batch * u));
    for (std::size_t k = 0; k < h.size(); ++k)
      h[k] = rh(rh(zg[k] * hp[k], hf) + rh(rh(1.0f - zg[k], hf) * hh[k], hf), hf);
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
