// keras.layers.Attention (Luong) and AdditiveAttention (Bahdanau) on inputs [query, value, key?]
// of shape (batch.., Tq, dim), (batch.., Tv, dim_v), (batch.., Tv, dim); key defaults to value.
//   Attention dot:     scores = (q . k^T) * scale
//   Attention concat:  scores = concat_score_weight * sum_d tanh(scale * (q_i + k_j))
//   AdditiveAttention: scores = sum_d scale_d * tanh(q_i + k_j)
//   weights = softmax over Tv of (scores - 1e9 where masked); output = weights . v, rows of masked
//   queries zeroed. Masks come from the query and value inputs ([q_mask, v_mask]); use_causal_mask
//   and return_attention_scores are scalar keyword tensors. Dropout is training-only.
// Variables: Attention: scale () when use_scale, then concat_score_weight () for score_mode
// "concat"; AdditiveAttention: scale (dim,) when use_scale. The output carries the query mask.
#include <cmath>

#include "layers/activation_dtype.hpp"
#include "layers/attention/attention_util.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_f64.hpp"

namespace kserde {

namespace {

class AttentionBase : public Layer {
 public:
  AttentionBase(std::shared_ptr<JsonDocument> d, bool additive)
      : Layer(std::move(d)), additive_(additive) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("use_scale", additive ? "true" : "false");
    if (!additive) config_default("score_mode", "\"dot\"");
    config_default("dropout", "0.0");
    config_default("seed", "null");
    const JsonValue& c = config();
    use_scale_ = cfg::get_bool(c, "use_scale", describe(), additive);
    if (!additive) {
      const std::string mode = cfg::get_string(c, "score_mode", describe(), "dot");
      if (mode != "dot" && mode != "concat") {
        cfg::fail(describe(),
                  "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                  "Received: score_mode=" +
                      mode);
      }
      concat_ = mode == "concat";
    }
    const double rate = cfg::get_float(c, "dropout", describe(), 0.0);
    if (!(rate >= 0.0 && rate <= 1.0)) cfg::fail(describe(), "dropout must lie in [0, 1]");
  }

  // float64 policy: scores, softmax and the weighted sum in double, as NumPy computes them.
  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    return compute_dtype() == DType::Float64 ? run<double>(inputs, ctx) : run<float>(inputs, ctx);
  }

  template <class T>
  TensorList run(const TensorList& inputs, CallContext& ctx) {
    constexpr bool kF64 = sizeof(T) == 8;
    constexpr DType kType = kF64 ? DType::Float64 : DType::Float32;
    auto operand = [](const Tensor& t) { return kF64 ? t.to(DType::Float64) : ops::as_float32(t); };
    const std::string& w = describe();
    if (inputs.size() < 2 || inputs.size() > 3) {
      throw ShapeError(w +
                       " layer accepts inputs list of length 2 or 3, namely [query, value] or "
                       "[query, value, key]. Received length: " +
                       std::to_string(inputs.size()));
    }
    const Tensor q = operand(inputs[0]);
    const Tensor v = operand(inputs[1]);
    const Tensor k = inputs.size() > 2 ? operand(inputs[2]) : v;
    if (!built()) build({detail::symbolic(q.shape()), detail::symbolic(v.shape())});
    if (q.rank() < 3 || v.rank() != q.rank() || k.rank() != q.rank() ||
        !std::equal(q.shape().begin(), q.shape().end() - 2, v.shape().begin()) ||
        !std::equal(k.shape().begin(), k.shape().end() - 1, v.shape().begin()) ||
        q.shape().back() != k.shape().back()) {
      throw ShapeError(w +
                       ": expects query (batch.., Tq, dim), value (batch.., Tv, dim_v) and key "
                       "(batch.., Tv, dim), got " +
                       shape_to_string(q.shape()) + ", " + shape_to_string(v.shape()) + ", " +
                       shape_to_string(k.shape()));
    }
    const std::int64_t tq = q.dim(q.rank() - 2);
    const std::int64_t tv = v.dim(v.rank() - 2);
    const std::int64_t dim = q.shape().back();
    const std::int64_t dv = v.shape().back();
    const std::int64_t n = tq == 0 ? 0 : q.num_elements() / (tq * dim);
    if (additive_ && use_scale_ && weight(0).num_elements() != dim) {
      throw ShapeError(w + ": built for dim " + std::to_string(weight(0).num_elements()) +
                       ", got query " + shape_to_string(q.shape()));
    }

    Shape score_shape(q.shape().begin(), q.shape().end() - 1);
    score_shape.push_back(tv);
    // Every element is written below (compute_scores, then the product).
    Tensor scores = Tensor::uninitialized(score_shape, kType);
    // float16/bfloat16: every NumPy operation of Keras's scores, masking, softmax and product
    // rounded to the half type (sums and products accumulated in float32).
    const DType compute = compute_dtype();
    const bool hp = !kF64 && (compute == DType::Float16 || compute == DType::BFloat16);
    if constexpr (!kF64) {
      if (hp) {
        compute_scores_half(q.f32(), k.f32(), scores.f32_mut(), n, tq, tv, dim, compute);
      } else {
        compute_scores<T>(q.f32(), k.f32(), scores.f32_mut(), n, tq, tv, dim);
      }
    } else {
      compute_scores<T>(q.template values<T>().data(), k.template values<T>().data(),
                        scores.template mutable_values<T>().data(), n, tq, tv, dim);
    }

    // Padding: value mask (batch.., Tv) and/or causal (Tq, Tv); masked scores get -1e9 added.
    std::optional<detail::BoolArray> mask;
    const std::optional<Tensor> q_mask =
        ctx.input_masks.size() > 0 ? ctx.input_masks[0] : std::nullopt;
    const std::optional<Tensor> v_mask =
        ctx.input_masks.size() > 1 ? ctx.input_masks[1] : std::nullopt;
    if (v_mask) mask = detail::expand_dims(detail::to_bool_array(*v_mask), -2);
    if (detail::kwarg_flag(ctx, "use_causal_mask")) {
      detail::BoolArray causal{{tq, tv}, {}};
      for (std::int64_t i = 0; i < tq; ++i) {
        for (std::int64_t j = 0; j < tv; ++j) causal.values.push_back(i >= j ? 1 : 0);
      }
      mask = detail::logical_and(mask, causal, w);
    }
    T* s = scores.template mutable_values<T>().data();
    if (mask) {
      const auto keep = detail::broadcast_to(*mask, score_shape, w);
      for (std::size_t i = 0; i < keep.size(); ++i) {
        if (keep[i] == 0 && hp) {
          // Keras subtracts 65504 under float16, 1e9 otherwise.
          s[i] = round_half(s[i] - (compute == DType::Float16 ? 65504.0f : 1.0e9f), compute);
        } else if (keep[i] == 0) {
          s[i] -= static_cast<T>(1.0e9);
        }
      }
    }
    if constexpr (!kF64) {
      if (hp) {
        Tensor rows = scores.clone().reshaped({n * tq, tv});
        detail::activate_half(*builtin_activation("softmax"), rows, compute);
        std::copy(rows.f32(), rows.f32() + n * tq * tv, s);
      } else {
        detail::masked_softmax_rows(s, n * tq, tv, nullptr, false);
      }
    } else {
      detail::masked_softmax_rows(s, n * tq, tv, nullptr, false);
    }

    Shape out_shape(q.shape().begin(), q.shape().end() - 1);
    out_shape.push_back(dv);
    Tensor out = Tensor::uninitialized(out_shape, kType);
    if constexpr (kF64) {
      ops::batched_gemm_f64(n, tq, dv, tv, s, v.values<double>().data(), false,
                            out.mutable_values<double>().data());
    } else {
      ops::batched_gemm(n, tq, dv, tv, s, v.f32(), false, out.f32_mut());
      if (hp) ops::round_to(out, compute);
    }
    if (q_mask) {
      if (q_mask->num_elements() != n * tq) {
        throw ShapeError(w + ": query mask of shape " + shape_to_string(q_mask->shape()) +
                         " does not match query " + shape_to_string(q.shape()));
      }
      const Tensor qm = q_mask->to(DType::Bool);
      const auto keep = qm.values<bool>();
      T* o = out.template mutable_values<T>().data();
      for (std::int64_t r = 0; r < n * tq; ++r) {
        if (!keep[static_cast<std::size_t>(r)]) std::fill_n(o + r * dv, dv, T(0));
      }
    }
    TensorList result{out};
    ctx.output_masks = {q_mask};
    if (detail::kwarg_flag(ctx, "return_attention_scores")) {
      result.push_back(scores);
      ctx.output_masks.push_back(std::nullopt);
    }
    return result;
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    if (in.size() < 2 || in[0].empty() || in[1].empty()) {
      throw ShapeError(describe() + " expects [query, value] or [query, value, key] shapes");
    }
    Shape s(in[0].begin(), in[0].end() - 1);
    s.push_back(in[1].back());
    return {s};
  }

  // With return_attention_scores=True the call returns (output, scores (batch.., Tq, Tv)).
  std::vector<Shape> compute_output_shape_for_call(
      const std::vector<Shape>& in,
      const std::map<std::string, Tensor>& constant_kwargs) const override {
    std::vector<Shape> out = compute_output_shape(in);
    if (detail::constant_flag(constant_kwargs, "return_attention_scores")) {
      const Shape& key = in.size() > 2 ? in[2] : in[1];
      Shape s(in[0].begin(), in[0].end() - 1);
      s.push_back(key.size() >= 2 ? key[key.size() - 2] : -1);
      out.push_back(s);
    }
    return out;
  }

  bool supports_masking() const override { return true; }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.size() < 2 || in.size() > 3) {
      throw ShapeError(describe() +
                       " layer must be built on [query, value] or [query, value, key] shapes");
    }
    if (additive_) {
      if (use_scale_) add_weight("scale", {in[0].back()});
      return;
    }
    if (use_scale_) add_weight("scale", {});
    if (concat_) add_weight("concat_score_weight", {});
  }

 private:
  // Variable i in T's precision (float: the float32 weight; double: the float64 variable).
  template <class T>
  Tensor var(std::size_t i) const {
    return sizeof(T) == 8 ? variables().at(i).value.to(DType::Float64) : weight(i);
  }

  static float round_half(float v, DType half) {
    return half == DType::BFloat16 ? bfloat16_to_float(float_to_bfloat16(v))
                                   : half_to_float(float_to_half(v));
  }

  // Keras's scores in a half type: dot r(r(q k^T) * r(scale)); concat
  // r(r(w) * r(sum r(tanh(r(r(scale) * r(q + k)))))); additive r(sum r(r(scale) * r(tanh(r(q +
  // k))))).
  void compute_scores_half(const float* q, const float* k, float* s, std::int64_t n,
                           std::int64_t tq, std::int64_t tv, std::int64_t dim, DType half) const {
    auto r = [half](float v) { return round_half(v, half); };
    const Tensor scale_t = use_scale_ ? ops::rounded_to(weight(0), half) : Tensor();
    const Tensor concat_t = concat_ ? ops::rounded_to(weight(use_scale_ ? 1 : 0), half) : Tensor();
    const float* scale_vec = use_scale_ ? scale_t.f32() : nullptr;
    for (std::int64_t b = 0; b < n; ++b) {
      for (std::int64_t i = 0; i < tq; ++i) {
        const float* qi = q + (b * tq + i) * dim;
        for (std::int64_t j = 0; j < tv; ++j) {
          const float* kj = k + (b * tv + j) * dim;
          float acc = 0.0f;
          for (std::int64_t d = 0; d < dim; ++d) {
            if (!additive_ && !concat_) {
              acc += qi[d] * kj[d];
            } else if (additive_) {
              const float t = r(std::tanh(r(qi[d] + kj[d])));
              acc += scale_vec != nullptr ? r(scale_vec[d] * t) : t;
            } else {
              const float sum = r(qi[d] + kj[d]);
              acc += r(std::tanh(scale_vec != nullptr ? r(scale_vec[0] * sum) : sum));
            }
          }
          float v = r(acc);
          if (!additive_ && !concat_ && scale_vec != nullptr) v = r(v * scale_vec[0]);
          if (concat_) v = r(concat_t.f32()[0] * v);
          s[(b * tq + i) * tv + j] = v;
        }
      }
    }
  }

  template <class T>
  void compute_scores(const T* q, const T* k, T* s, std::int64_t n, std::int64_t tq,
                      std::int64_t tv, std::int64_t dim) const {
    if (!additive_ && !concat_) {
      if constexpr (sizeof(T) == 8) {
        ops::batched_gemm_f64(n, tq, tv, dim, q, k, true, s);
      } else {
        ops::batched_gemm(n, tq, tv, dim, q, k, true, s);
      }
      if (use_scale_) {
        const T scale = var<T>(0).template values<T>()[0];
        for (std::int64_t i = 0; i < n * tq * tv; ++i) s[i] *= scale;
      }
      return;
    }
    // concat / additive: a tanh of every (query, key) pair sum.
    const Tensor scale_t = use_scale_ ? var<T>(0) : Tensor();
    const Tensor concat_t = concat_ ? var<T>(use_scale_ ? 1 : 0) : Tensor();
    const T* scale_vec = additive_ && use_scale_ ? scale_t.template values<T>().data() : nullptr;
    const T scalar_scale = !additive_ && use_scale_ ? scale_t.template values<T>()[0] : T(1);
    const T concat_weight = concat_ ? concat_t.template values<T>()[0] : T(1);
    for (std::int64_t b = 0; b < n; ++b) {
      for (std::int64_t i = 0; i < tq; ++i) {
        const T* qi = q + (b * tq + i) * dim;
        for (std::int64_t j = 0; j < tv; ++j) {
          const T* kj = k + (b * tv + j) * dim;
          T acc = 0;
          for (std::int64_t d = 0; d < dim; ++d) {
            if (additive_) {
              acc += (scale_vec != nullptr ? scale_vec[d] : T(1)) * std::tanh(qi[d] + kj[d]);
            } else {
              acc += std::tanh(use_scale_ ? scalar_scale * (qi[d] + kj[d]) : qi[d] + kj[d]);
            }
          }
          s[(b * tq + i) * tv + j] = additive_ ? acc : concat_weight * acc;
        }
      }
    }
  }

  bool additive_ = false;
  bool use_scale_ = false;
  bool concat_ = false;
};

class Attention final : public AttentionBase {
 public:
  Attention(std::shared_ptr<JsonDocument> d, Deserializer&) : AttentionBase(std::move(d), false) {}
};

class AdditiveAttention final : public AttentionBase {
 public:
  AdditiveAttention(std::shared_ptr<JsonDocument> d, Deserializer&)
      : AttentionBase(std::move(d), true) {}
};

}  // namespace

KSERDE_REGISTER_LAYER(Attention);
KSERDE_REGISTER_LAYER(AdditiveAttention);

}  // namespace kserde
