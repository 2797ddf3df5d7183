// keras.layers.Discretization: buckets values by `bin_boundaries` (ascending): the bucket of x is
// the number of boundaries b with b <= x (NumPy's digitize; NaN falls in the last bucket), so
// there are len(bin_boundaries) + 1 buckets. output_mode "int" (default) gives the bucket ids as
// int32; "one_hot", "multi_hot" and "count" encode them as CategoryEncoding does, in the compute
// dtype. Values are compared in double against the boundaries as saved (Keras compares its
// float32 inputs with the Python floats of the list). A layer built with `num_bins` and never
// adapted has no boundaries and fails at predict, as in Keras. `sparse=True` outputs are computed
// dense. No variables; no mask.
#include <algorithm>
#include <cmath>

#include "layers/common.hpp"
#include "layers/preprocessing/categorical_encoding.hpp"

namespace kserde {

namespace {

class Discretization final : public Layer {
 public:
  Discretization(std::shared_ptr<JsonDocument> d, Deserializer&) : Layer(std::move(d)) {
    // Keras's get_config writes exactly these keys (no "trainable"; "dtype" as a string).
    config_default("bin_boundaries", "null");
    config_default("num_bins", "null");
    config_default("epsilon", "0.01");
    config_default("output_mode", "\"int\"");
    config_default("sparse", "false");
    config_default("dtype", "\"float32\"");
    const std::string mode = cfg::get_string(config(), "output_mode", describe(), "int");
    int_mode_ = mode == "int";
    if (!int_mode_) mode_ = detail::parse_categorical_mode(mode, describe());
    const JsonValue* b = cfg::find(config(), "bin_boundaries");
    const bool has_bins = b != nullptr && !b->IsNull();
    if (has_bins) {
      if (!b->IsArray()) cfg::fail(describe(), "bin_boundaries must be a list of numbers");
      for (const JsonValue& v : b->GetArray()) {
        if (!v.IsNumber()) cfg::fail(describe(), "bin_boundaries must be a list of numbers");
        const double x = v.GetDouble();
        if (!boundaries_.empty() && !(x >= boundaries_.back())) {
          cfg::fail(describe(), "bin_boundaries must be in ascending order");
        }
        boundaries_.push_back(x);
      }
      if (static_cast<std::int64_t>(boundaries_.size()) >= cfg::kMaxShapeElements) {
        cfg::fail(describe(), "too many bin_boundaries");
      }
    } else if (!cfg::has_non_null(config(), "num_bins")) {
      cfg::fail(describe(), "either bin_boundaries or num_bins must be set");
    }
    has_boundaries_ = has_bins;
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    expect_inputs(inputs, 1);
    ctx.output_masks.clear();
    if (!has_boundaries_) {
      throw UnsupportedError(describe() +
                             ": it has no bin_boundaries (it was built with num_bins and never "
                             "adapted); adapt it in Keras before saving, or set bin_boundaries");
    }
    const Tensor x = inputs[0].to(DType::Float64);
    const auto xv = x.values<double>();
    Tensor ids = Tensor::uninitialized(x.shape(), DType::Int32);
    auto iv = ids.mutable_values<std::int32_t>();
    const auto n = static_cast<std::int32_t>(boundaries_.size());
    for (std::size_t i = 0; i < xv.size(); ++i) {
      iv[i] = std::isnan(xv[i])
                  ? n
                  : static_cast<std::int32_t>(
                        std::upper_bound(boundaries_.begin(), boundaries_.end(), xv[i]) -
                        boundaries_.begin());
    }
    if (int_mode_) return {ids};
    return {detail::encode_categorical(ids, mode_, depth(), compute_dtype(), nullptr, describe())};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    if (int_mode_) return {in.at(0)};
    return {detail::categorical_output_shape(in.at(0), mode_, depth())};
  }

 private:
  std::int64_t depth() const {
    return has_boundaries_ ? static_cast<std::int64_t>(boundaries_.size()) + 1
                           : cfg::get_int(config(), "num_bins", describe());
  }

  std::vector<double> boundaries_;
  bool has_boundaries_ = false;
  bool int_mode_ = true;
  detail::CategoricalMode mode_ = detail::CategoricalMode::OneHot;
};

}  // namespace

KSERDE_REGISTER_LAYER(Discretization);

}  // namespace kserde
