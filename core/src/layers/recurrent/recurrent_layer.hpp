// Internal: the RNN layer family (keras.layers.RNN and its LSTM, GRU, SimpleRNN subclasses).
//
// The layer owns no variables; its `cell` sub-layer does (weights at <layer>/cell/vars). LSTM,
// GRU and SimpleRNN build their cell from their own config keys (their config has no "cell"
// entry); keras.layers.RNN deserializes the config's "cell" object dict.
#pragma once

#include "layers/recurrent/rnn_cell.hpp"

namespace kserde::detail {

// What distinguishes LSTM, GRU, SimpleRNN and RNN (config keys and the cell class).
struct RecurrentKind {
  const char* cell_class;  // "LSTMCell", or nullptr for keras.layers.RNN (cell from config)
  const char* cell_name;   // "lstm_cell"
  bool recurrent_activation;
  bool unit_forget_bias;
  bool reset_after;
  bool seed;
};

class RecurrentLayer : public Layer {
 public:
  RecurrentLayer(std::shared_ptr<JsonDocument> d, Deserializer& ctx, const RecurrentKind& kind);

  bool return_sequences() const { return return_sequences_; }
  bool return_state() const { return return_state_; }
  bool go_backwards() const { return go_backwards_; }
  // Bidirectional forces this to return_sequences on its copies, as Keras does (and Keras then
  // saves the changed value in the copies' configs).
  void set_zero_output_for_mask(bool value);

  TensorList call(const TensorList& inputs, CallContext& ctx) override;
  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override;
  std::vector<TrackedChild> tracked_children() const override;
  void build_from_config(const JsonValue& build_config) override;
  std::shared_ptr<JsonDocument> to_object_dict() const override;
  bool can_compute() const override { return cell_ != nullptr; }

 protected:
  void build_impl(const std::vector<Shape>& in) override;

 private:
  std::size_t num_states() const { return cell_ != nullptr ? cell_->num_states() : 1; }
  // The float64 policy's loop in double (T double), or the float16/bfloat16 policies' loop with
  // each NumPy operation rounded to `half` (T float); same masking, ordering and outputs as call's.
  template <class T>
  TensorList run_exact(const Tensor& x, const TensorList& init,
                       const std::vector<std::uint8_t, CachedAllocator<std::uint8_t>>& keep,
                       CallContext& ctx, DType half) const;
  std::int64_t units() const;

  bool from_cell_dict_ = false;
  bool return_sequences_ = false;
  bool return_state_ = false;
  bool go_backwards_ = false;
  bool stateful_ = false;
  bool zero_output_for_mask_ = false;
  std::shared_ptr<Layer> cell_layer_;
  RecurrentCell* cell_ = nullptr;  // cell_layer_ when it is a cell kserde can step
};

}  // namespace kserde::detail
