// Internal: the recurrent cells (SimpleRNNCell, LSTMCell, GRUCell) as the RNN layers drive them.
//
// A cell owns kernel (input_dim, gates*units), recurrent_kernel (units, gates*units) and bias.
// The RNN layers split a step in two so the input half runs as one GEMM over all time steps:
// project_inputs() computes x @ kernel (+ the input part of the bias) for every (sample, step)
// row, then step() adds the recurrent half for one time step and advances the states.
#pragma once

#include <span>
#include <vector>

#include "layers/common.hpp"

namespace kserde::detail {

// A row-major (rows x cols) block of floats; all of a step's buffers come from the tensor buffer
// cache, so stepping allocates nothing in steady state.
using StateList = std::vector<FloatBuffer, CachedAllocator<FloatBuffer>>;

// Buffers a cell reuses from step to step (sized by the cell on first use).
struct StepScratch {
  FloatBuffer inner, gate_a, gate_b, gate_c, gate_d, tmp;
};

// Applies an activation to the rows x cols block at `m` (the last axis is the row).
inline void apply_activation(const Activation& a, float* m, std::int64_t rows, std::int64_t cols) {
  if (a.halves_last_axis) {
    // Keras fails here too: the state would change size at every step.
    throw UnsupportedError("recurrent cell: activation '" + a.name +
                           "' changes the state's size; a cell cannot use it");
  }
  if (a.fn != nullptr) a.fn(std::span<float>(m, static_cast<std::size_t>(rows * cols)), cols);
}

class RecurrentCell : public Layer {
 public:
  RecurrentCell(std::shared_ptr<JsonDocument> d, Deserializer& ctx, int gates,
                bool has_recurrent_activation);

  std::int64_t units() const { return units_; }
  int gates() const { return gates_; }
  // Number of state tensors (LSTM: h and c), each (batch, units). The output is state 0.
  virtual std::size_t num_states() const { return 1; }

  // rows: (N, input_dim) -> `out` (N, gates*units), input bias included.
  void project_inputs(const float* rows, std::int64_t n, FloatBuffer& out) const;
  // One step for the whole batch: `xp` is (batch, gates*units) from project_inputs, `states` the
  // previous states (each (batch, units)); writes the new states to `next` (same sizes).
  virtual void step(const float* xp, std::int64_t batch, const StateList& states, StateList& next,
                    StepScratch& scratch) const = 0;

  // float64 policy: one step in double, as Keras's NumPy backend computes it. `x` is the step's
  // (batch, input_dim) input; `states` (each batch * units) are replaced by the new states. The
  // variables are read as float64 from `w` (kernel, recurrent_kernel, bias; see f64_weights()).
  struct F64Weights {
    std::vector<double> kernel, recurrent, bias;
  };
  F64Weights f64_weights() const;
  virtual void step_f64(const double* x, std::int64_t batch, const F64Weights& w,
                        std::vector<std::vector<double>>& states) const = 0;

  // float16/bfloat16 policies: one step in float32 with every NumPy operation of Keras's cell
  // rounded to `half` (products summed in float32 and rounded once, as NumPy's float16 matmul);
  // `x` holds half values, the variables are rounded to `half` (see half_weights()).
  struct HalfWeights {
    std::vector<float> kernel, recurrent, bias;
    DType half = DType::Float16;
  };
  HalfWeights half_weights(DType half) const;
  virtual void step_half(const float* x, std::int64_t batch, const HalfWeights& w,
                         std::vector<std::vector<float>>& states) const = 0;

  // Keras's cell call: inputs {x, state...}; outputs {output, new state...}.
  TensorList call(const TensorList& inputs, CallContext& ctx) override;
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override;

 protected:
  void build_impl(const std::vector<Shape>& in) override;
  // Shape of the bias variable (GRU with reset_after has (2, 3u)).
  virtual Shape bias_shape() const { return {gates_ * units_}; }
  // The part of the bias added to the projected inputs (row 0 of GRU's (2, 3u) bias).
  const float* input_bias() const { return use_bias_ ? weight(2).f32() : nullptr; }
  const Tensor& kernel() const { return weight(0); }
  const Tensor& recurrent_kernel() const { return weight(1); }

  std::int64_t units_ = 0;
  int gates_ = 1;
  bool use_bias_ = true;
  Activation activation_;
  Activation recurrent_activation_;
};

// Config keys of an RNN layer that its cell does not take (RNN.get_config minus the cell).
bool is_rnn_only_key(std::string_view key);

}  // namespace kserde::detail
