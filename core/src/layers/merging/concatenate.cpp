// keras.layers.Concatenate: joins the inputs along `axis` (default -1, negative counts from the
// end). All other dimensions must match exactly. Inputs keep their dtype when all agree (float32
// otherwise). Output mask (when any input has one): the inputs' masks, expanded to their full
// shapes with missing masks as all-true, concatenated along `axis` and reduced with any() over the
// last axis, as Concatenate.compute_mask. No variables.
#include <cstring>
#include <span>

#include "layers/merging/merge.hpp"
#include "layers/merging/tensor_algebra.hpp"

namespace kserde {

namespace {

class Concatenate final : public detail::Merge {
 public:
  Concatenate(std::shared_ptr<JsonDocument> d, Deserializer&) : Merge(std::move(d)) {
    config_default("axis", "-1");
    axis_ = cfg::get_int(config(), "axis", describe());
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    check_input_count(inputs.size());
    std::vector<Shape, CachedAllocator<Shape>> shapes;
    for (const Tensor& x : inputs) shapes.push_back(x.shape());
    check_shapes(shapes);
    const std::size_t axis = detail::canonical_axis(axis_, inputs[0].rank(), *this);
    bool same_dtype = true;
    for (const Tensor& x : inputs) same_dtype = same_dtype && x.dtype() == inputs[0].dtype();
    TensorList xs;
    // Mixed dtypes promote as Keras's result_type does: to float64 when one input is float64.
    bool any_f64 = false;
    for (const Tensor& x : inputs) any_f64 = any_f64 || x.dtype() == DType::Float64;
    for (const Tensor& x : inputs) {
      xs.push_back(same_dtype ? x : (any_f64 ? x.to(DType::Float64) : ops::as_float32(x)));
    }
    Tensor out = concat(xs, axis);

    ctx.output_masks.clear();
    const auto masks = input_masks(ctx, inputs.size());
    bool any_mask = false;
    for (const auto& m : masks) any_mask = any_mask || m.has_value();
    if (any_mask) {
      TensorList full;
      for (std::size_t i = 0; i < xs.size(); ++i) {
        if (masks[i]) {
          full.push_back(detail::expand_mask(*masks[i], xs[i].shape(), describe()));
        } else {
          Tensor ones = Tensor::recycled_zeros(xs[i].shape(), DType::Bool);
          for (bool& b : ones.mutable_values<bool>()) b = true;
          full.push_back(ones);
        }
      }
      ctx.output_masks.emplace_back(any_last_axis(concat(full, axis)));
    }
    return {out};
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    check_input_count(in.size());
    check_shapes(in);
    const std::size_t axis = detail::canonical_axis(axis_, in[0].size(), *this);
    Shape out = in[0];
    for (std::size_t i = 1; i < in.size(); ++i) {
      if (out[axis] < 0 || in[i][axis] < 0) {
        out[axis] = -1;
        break;
      }
      out[axis] += in[i][axis];
    }
    return {out};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    check_input_count(in.size());
    check_shapes(in);
  }
  Tensor merge(const TensorList& xs, const MaskList&) const override {
    return concat(xs, detail::canonical_axis(axis_, xs[0].rank(), *this));
  }

 private:
  // Same rank, and every dimension except the concatenation axis agrees (unknown matches all).
  void check_shapes(std::span<const Shape> in) const {
    const std::size_t rank = in[0].size();
    const std::size_t axis = detail::canonical_axis(axis_, rank, *this);
    for (const Shape& s : in) {
      bool ok = s.size() == rank;
      for (std::size_t d = 0; ok && d < rank; ++d) {
        ok = d == axis || s[d] < 0 || in[0][d] < 0 || s[d] == in[0][d];
      }
      if (!ok) {
        std::string all;
        for (const Shape& t : in) all += (all.empty() ? "" : ", ") + shape_to_string(t);
        throw ShapeError(describe() +
                         " requires inputs with matching shapes except for the "
                         "concatenation axis; received " +
                         all);
      }
    }
  }

  static Tensor concat(const TensorList& xs, std::size_t axis) {
    Shape out_shape = xs[0].shape();
    out_shape[axis] = 0;
    for (const Tensor& x : xs) out_shape[axis] += x.dim(axis);
    Tensor out = Tensor::recycled_zeros(out_shape, xs[0].dtype());
    std::int64_t outer = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= out_shape[d];
    const auto es = static_cast<std::int64_t>(dtype_size(xs[0].dtype()));
    std::byte* dst = out.mutable_bytes().data();
    for (std::int64_t o = 0; o < outer; ++o) {
      for (const Tensor& x : xs) {
        const std::int64_t chunk = outer == 0 ? 0 : x.num_elements() / outer * es;
        if (chunk == 0) continue;
        std::memcpy(dst, x.bytes().data() + o * chunk, static_cast<std::size_t>(chunk));
        dst += chunk;
      }
    }
    return out;
  }

  static Tensor any_last_axis(const Tensor& m) {
    Shape s = m.shape();
    const std::int64_t inner = s.back();
    s.pop_back();
    Tensor out = Tensor::recycled_zeros(s, DType::Bool);
    const auto in = m.values<bool>();
    auto o = out.mutable_values<bool>();
    for (std::size_t i = 0; i < o.size(); ++i) {
      bool any = false;
      for (std::int64_t j = 0; j < inner; ++j)
        any = any || in[i * static_cast<std::size_t>(inner) + static_cast<std::size_t>(j)];
      o[i] = any;
    }
    return out;
  }

  std::int64_t axis_ = -1;
};

}  // namespace

KSERDE_REGISTER_LAYER(Concatenate);

}  // namespace kserde
