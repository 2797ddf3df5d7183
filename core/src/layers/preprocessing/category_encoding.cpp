// keras.layers.CategoryEncoding: integer category ids to one-hot, multi-hot or count vectors of
// `num_tokens` entries (output_mode "one_hot", "multi_hot" (default; "binary" is its alias) or
// "count"; a `count_weights` call argument weights the counts). Ids outside [0, num_tokens) add
// nothing, as on Keras's TensorFlow and JAX backends (NumPy's raises). Inputs are not autocast
// (Keras's _convert_input_args = False); the output has the policy's variable dtype. multi_hot and
// count take rank 0 to 2 (Keras's backends disagree on rank 3, see docs/layers.md). `sparse=True`
// outputs are computed dense (the same values). No variables; no mask.
#include "layers/common.hpp"
#include "layers/preprocessing/categorical_encoding.hpp"

namespace kserde {

namespace {

class CategoryEncoding final : public Layer {
 public:
  CategoryEncoding(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("output_mode", "\"multi_hot\"");
    config_default("sparse", "false");
    if (!cfg::has_non_null(config(), "num_tokens")) {
      cfg::fail(describe(), "num_tokens must be set (the number of categories)");
    }
    num_tokens_ = cfg::get_int(config(), "num_tokens", describe());
    if (num_tokens_ < 1 || num_tokens_ > cfg::kMaxShapeElements) {
      cfg::fail(describe(), "num_tokens must be between 1 and " +
                                std::to_string(cfg::kMaxShapeElements) + ", got " +
                                std::to_string(num_tokens_));
    }
    mode_ = detail::parse_categorical_mode(
        cfg::get_string(config(), "output_mode", describe(), "multi_hot"), describe());
  }

  bool autocast() const override { return false; }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    ctx.output_masks.clear();
    check_rank(inputs[0].rank());
    const auto w = ctx.kwargs.find("count_weights");
    const Tensor* weights = w == ctx.kwargs.end() ? nullptr : &w->second;
    return {detail::encode_categorical(inputs[0], mode_, num_tokens_, variable_dtype(), weights,
                                       describe())};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    check_rank(in.at(0).size());
    return {detail::categorical_output_shape(in[0], mode_, num_tokens_)};
  }

 private:
  // For rank 3 and up, Keras declares (..., num_tokens) in place of the last axis while NumPy and
  // JAX reduce axis 1 and TensorFlow's fast path does not apply: no single answer to match.
  void check_rank(std::size_t rank) const {
    if (mode_ != detail::CategoricalMode::OneHot && rank > 2) {
      throw UnsupportedError(describe() +
                             ": multi_hot and count encode inputs of rank 0 to 2; got rank " +
                             std::to_string(rank) + " (reshape the ids to (batch, n) first)");
    }
  }

  std::int64_t num_tokens_ = 1;
  detail::CategoricalMode mode_ = detail::CategoricalMode::MultiHot;
};

}  // namespace

KSERDE_REGISTER_LAYER(CategoryEncoding);

}  // namespace kserde
