// keras.layers.Permute: reorders the non-batch axes; `dims` is a permutation of 1..n (1-based,
// the batch axis 0 stays in place). No variables.
#include <algorithm>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class Permute final : public Layer {
 public:
  Permute(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    dims_ = cfg::get_int_tuple(config(), "dims", describe(), 0);
    auto sorted = dims_;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      if (sorted[i] != static_cast<std::int64_t>(i + 1)) {
        cfg::fail(describe(), "dims must be a permutation of 1.." + std::to_string(dims_.size()) +
                                  " (consecutive, starting from 1)");
      }
    }
    perm_.push_back(0);
    for (std::int64_t dim : dims_) perm_.push_back(static_cast<std::size_t>(dim));
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    check_rank(inputs[0].shape());
    ctx.output_masks.clear();
    return {detail::transpose(inputs[0], perm_)};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    check_rank(in.at(0));
    Shape out;
    for (std::size_t p : perm_) out.push_back(in[0][p]);
    return {out};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() != 1) throw ShapeError(describe() + " expects one input");
    check_rank(in[0]);
  }

 private:
  void check_rank(const Shape& s) const {
    if (s.size() != perm_.size()) {
      throw ShapeError(describe() + " expects an input of rank " + std::to_string(perm_.size()) +
                       ", got " + shape_to_string(s));
    }
  }

  std::vector<std::int64_t> dims_;
  detail::Axes perm_;
};

}  // namespace

KSERDE_REGISTER_LAYER(Permute);

}  // namespace kserde
