// MultiHeadAttention, Attention and AdditiveAttention against naive per-head loops with an explicit
// softmax written out here.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/json.hpp"
#include "kserde/layers.hpp"

#include <rapidjson/document.h>

using kserde::CallContext;
using kserde::Shape;
using kserde::Tensor;
using kserde::TensorList;

namespace {

using Vec = std::vector<float>;

Vec rnd(std::size_t n, std::uint32_t seed, float scale = 0.8f) {
  Vec v(n);
  std::uint32_t s = seed * 2654435761u + 4242u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = scale * (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f);
  }
  return v;
}

Tensor tensor(const Shape& shape, const Vec& v) {
  return Tensor::from_floats(shape, v);
}
Tensor flag(bool v) {
  return Tensor::from_floats({}, Vec{v ? 1.0f : 0.0f});
}
std::size_t z(std::int64_t i) {
  return static_cast<std::size_t>(i);
}

void check_close(const Tensor& t, const Vec& expected, const std::string& what, float rel = 1e-5f) {
  BOOST_TEST_CONTEXT(what) {
    BOOST_REQUIRE_EQUAL(z(t.num_elements()), expected.size());
    const auto v = t.values<float>();
    for (std::size_t i = 0; i < expected.size(); ++i) {
      BOOST_TEST_CONTEXT("element " << i) {
        BOOST_TEST(std::fabs(v[i] - expected[i]) <= 1e-6f + rel * std::fabs(expected[i]));
      }
    }
  }
}

// Softmax of `row` where keep[j]==0 entries are replaced by -1e9; zeroed afterwards if asked.
void softmax(Vec& row, const std::vector<int>& keep, bool zero_masked) {
  float mx = -3e38f;
  for (std::size_t j = 0; j < row.size(); ++j) {
    if (!keep.empty() && keep[j] == 0) row[j] = -1e9f;
    mx = std::max(mx, row[j]);
  }
  double sum = 0;
  for (float& r : row) sum += std::exp(static_cast<double>(r - mx));
  for (std::size_t j = 0; j < row.size(); ++j) {
    row[j] = (zero_masked && !keep.empty() && keep[j] == 0)
                 ? 0.0f
                 : static_cast<float>(std::exp(static_cast<double>(row[j] - mx)) / sum);
  }
}

struct MhaWeights {
  Vec wq, bq, wk, bk, wv, bv, wo, bo, wg, bg;
};

// Naive MHA on 3-D query (B,Tq,dq), value (B,Tk,dv), key (B,Tk,dk); mask (B,Tq,Tk) or empty.
// Returns output (B,Tq,O) and fills scores (B,H,Tq,Tk).
Vec ref_mha(const MhaWeights& w, const Vec& q, const Vec& v, const Vec& k, int B, int Tq, int Tk,
            int dq, int dv, int dk, int H, int Dk, int Dv, int O, const std::vector<int>& mask,
            bool zero_masked, Vec* scores_out = nullptr, bool gate = false) {
  auto proj = [](const Vec& x, int rows, int din, const Vec& W, const Vec& b, int dout) {
    Vec y(z(rows * dout));
    for (int r = 0; r < rows; ++r)
      for (int o = 0; o < dout; ++o) {
        float a = b.empty() ? 0.0f : b[z(o)];
        for (int i = 0; i < din; ++i) a += x[z(r * din + i)] * W[z(i * dout + o)];
        y[z(r * dout + o)] = a;
      }
    return y;
  };
  const Vec Q = proj(q, B * Tq, dq, w.wq, w.bq, H * Dk);  // (B,Tq,H,Dk)
  const Vec K = proj(k, B * Tk, dk, w.wk, w.bk, H * Dk);
  const Vec V = proj(v, B * Tk, dv, w.wv, w.bv, H * Dv);
  Vec att(z(B * Tq * H * Dv), 0.0f);  // (B,Tq,H,Dv)
  if (scores_out) scores_out->assign(z(B * H * Tq * Tk), 0.0f);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < Tq; ++i) {
        Vec row(z(Tk));
        std::vector<int> keep;
        for (int j = 0; j < Tk; ++j) {
          float s = 0;
          for (int d = 0; d < Dk; ++d)
            s += Q[z(((b * Tq + i) * H + h) * Dk + d)] * K[z(((b * Tk + j) * H + h) * Dk + d)];
          row[z(j)] = s / std::sqrt(static_cast<float>(Dk));
          if (!mask.empty()) keep.push_back(mask[z((b * Tq + i) * Tk + j)]);
        }
        softmax(row, keep, zero_masked);
        for (int j = 0; j < Tk; ++j) {
          if (scores_out) (*scores_out)[z(((b * H + h) * Tq + i) * Tk + j)] = row[z(j)];
          for (int e = 0; e < Dv; ++e)
            att[z(((b * Tq + i) * H + h) * Dv + e)] +=
                row[z(j)] * V[z(((b * Tk + j) * H + h) * Dv + e)];
        }
      }
  if (gate) {
    const Vec G = proj(q, B * Tq, dq, w.wg, w.bg, H * Dv);
    for (std::size_t i = 0; i < att.size(); ++i) att[i] *= 1.0f / (1.0f + std::exp(-G[i]));
  }
  return proj(att, B * Tq, H * Dv, w.wo, w.bo, O);
}

// Sets random weights on the MHA children (order key, output, query, value[, gate]) and returns
// them.
MhaWeights set_mha(kserde::Layer& l, int dq, int dv, int dk, int H, int Dk, int Dv, int O,
                   bool bias, std::uint32_t seed) {
  MhaWeights w;
  w.wq = rnd(z(dq * H * Dk), seed);
  w.wk = rnd(z(dk * H * Dk), seed + 1);
  w.wv = rnd(z(dv * H * Dv), seed + 2);
  w.wo = rnd(z(H * Dv * O), seed + 3);
  w.wg = rnd(z(dq * H * Dv), seed + 8);
  if (bias) {
    w.bq = rnd(z(H * Dk), seed + 4, 0.3f);
    w.bk = rnd(z(H * Dk), seed + 5, 0.3f);
    w.bv = rnd(z(H * Dv), seed + 6, 0.3f);
    w.bo = rnd(z(O), seed + 7, 0.3f);
    w.bg = rnd(z(H * Dv), seed + 9, 0.3f);
  }
  for (const auto& c : l.tracked_children()) {
    kserde::Layer& s = *c.layers.at(0);
    auto set = [&](const Shape& ks, const Vec& kv, const Shape& bs, const Vec& bv) {
      TensorList t{tensor(ks, kv)};
      if (bias) t.push_back(tensor(bs, bv));
      s.set_weights(t);
    };
    if (c.attribute == "query_dense") set({dq, H, Dk}, w.wq, {H, Dk}, w.bq);
    if (c.attribute == "key_dense") set({dk, H, Dk}, w.wk, {H, Dk}, w.bk);
    if (c.attribute == "value_dense") set({dv, H, Dv}, w.wv, {H, Dv}, w.bv);
    if (c.attribute == "output_dense") set({H, Dv, O}, w.wo, {O}, w.bo);
    if (c.attribute == "_gate_dense") set({dq, H, Dv}, w.wg, {H, Dv}, w.bg);
  }
  return w;
}

// GroupedQueryAttention's weights expanded to one key/value head per query head (query head h
// uses key/value head h / (Hq / Hkv)), so that the naive MHA loop above computes it.
struct GqaWeights {
  MhaWeights expanded;
};

GqaWeights set_gqa(kserde::Layer& l, int dq, int dk, int Hq, int Hkv, int hd, bool bias,
                   std::uint32_t seed) {
  const int dv = dq;
  const int r = Hq / Hkv;
  MhaWeights w;
  w.wq = rnd(z(dq * Hq * hd), seed);
  const Vec wk = rnd(z(dk * Hkv * hd), seed + 1);
  const Vec wv = rnd(z(dv * Hkv * hd), seed + 2);
  w.wo = rnd(z(Hq * hd * dq), seed + 3);
  w.wg = rnd(z(dq * Hq * hd), seed + 8);
  Vec bk, bv;
  if (bias) {
    w.bq = rnd(z(Hq * hd), seed + 4, 0.3f);
    bk = rnd(z(Hkv * hd), seed + 5, 0.3f);
    bv = rnd(z(Hkv * hd), seed + 6, 0.3f);
    w.bo = rnd(z(dq), seed + 7, 0.3f);
    w.bg = rnd(z(Hq * hd), seed + 9, 0.3f);
  }
  auto expand_kernel = [&](const Vec& k, int din) {
    Vec out(z(din * Hq * hd));
    for (int i = 0; i < din; ++i)
      for (int h = 0; h < Hq; ++h)
        for (int d = 0; d < hd; ++d)
          out[z((i * Hq + h) * hd + d)] = k[z((i * Hkv + h / r) * hd + d)];
    return out;
  };
  auto expand_bias = [&](const Vec& b) {
    Vec out;
    if (b.empty()) return out;
    for (int h = 0; h < Hq; ++h)
      for (int d = 0; d < hd; ++d) out.push_back(b[z((h / r) * hd + d)]);
    return out;
  };
  w.wk = expand_kernel(wk, dk);
  w.wv = expand_kernel(wv, dv);
  w.bk = expand_bias(bk);
  w.bv = expand_bias(bv);
  for (const auto& c : l.tracked_children()) {
    kserde::Layer& s = *c.layers.at(0);
    auto set = [&](const Shape& ks, const Vec& kv, const Shape& bs, const Vec& bv_) {
      TensorList t{tensor(ks, kv)};
      if (bias) t.push_back(tensor(bs, bv_));
      s.set_weights(t);
    };
    if (c.attribute == "_query_dense") set({dq, Hq, hd}, w.wq, {Hq, hd}, w.bq);
    if (c.attribute == "_key_dense") set({dk, Hkv, hd}, wk, {Hkv, hd}, bk);
    if (c.attribute == "_value_dense") set({dv, Hkv, hd}, wv, {Hkv, hd}, bv);
    if (c.attribute == "_output_dense") set({Hq, hd, dq}, w.wo, {dq}, w.bo);
    if (c.attribute == "_gate_dense") set({dq, Hq, hd}, w.wg, {Hq, hd}, w.bg);
  }
  return {w};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attention)

BOOST_AUTO_TEST_CASE(mha_self_attention_matches_per_head_loop) {
  const int B = 2, T = 4, D = 6, H = 2, Dk = 3;
  auto l = kserde::layers::from_config("MultiHeadAttention", R"({"num_heads": 2, "key_dim": 3})");
  l->build({{-1, T, D}, {-1, T, D}});
  BOOST_TEST(l->variables().empty());
  auto children = l->tracked_children();
  const std::vector<std::string> names{"key_dense",   "output_dense",   "query_dense",
                                       "value_dense", "_dropout_layer", "_softmax"};
  BOOST_REQUIRE_EQUAL(children.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) BOOST_TEST(children[i].attribute == names[i]);
  BOOST_TEST(children[0].layers[0]->class_name() == "EinsumDense");
  BOOST_TEST(children[0].layers[0]->name() == "key");
  BOOST_TEST(children[1].layers[0]->name() == "attention_output");
  BOOST_TEST(children[0].layers[0]->variables().at(0).value.shape() == (Shape{D, H, Dk}));
  BOOST_TEST(children[0].layers[0]->variables().at(1).value.shape() == (Shape{H, Dk}));
  BOOST_TEST(children[1].layers[0]->variables().at(0).value.shape() == (Shape{H, Dk, D}));
  BOOST_TEST(children[1].layers[0]->variables().at(1).value.shape() == (Shape{D}));
  BOOST_TEST(children[4].layers[0]->variables().empty());
  BOOST_TEST(children[5].layers[0]->variables().empty());
  BOOST_TEST(l->count_params() == 3 * (D * H * Dk + H * Dk) + H * Dk * D + D);

  const MhaWeights w = set_mha(*l, D, D, D, H, Dk, Dk, D, true, 10);
  const Vec x = rnd(z(B * T * D), 1);
  CallContext ctx;
  auto out = l->call({tensor({B, T, D}, x), tensor({B, T, D}, x)}, ctx);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_TEST(out[0].shape() == (Shape{B, T, D}));
  check_close(out[0], ref_mha(w, x, x, x, B, T, T, D, D, D, H, Dk, Dk, D, {}, false),
              "self attention");
  BOOST_TEST(l->compute_output_shape({{B, T, D}, {B, T, D}}).at(0) == out[0].shape());
}

BOOST_AUTO_TEST_CASE(mha_cross_attention_key_value_dims_output_shape_no_bias) {
  const int B = 2, Tq = 3, Tk = 5, dq = 4, dv = 6, dk = 7, H = 3, Dk = 2, Dv = 4, O = 5;
  auto l = kserde::layers::from_config(
      "MultiHeadAttention",
      R"({"num_heads": 3, "key_dim": 2, "value_dim": 4, "output_shape": 5, "use_bias": false})");
  l->build({{-1, Tq, dq}, {-1, Tk, dv}, {-1, Tk, dk}});
  for (const auto& c : l->tracked_children()) {
    if (c.attribute[0] != '_') BOOST_TEST(c.layers[0]->variables().size() == 1u);
  }
  const MhaWeights w = set_mha(*l, dq, dv, dk, H, Dk, Dv, O, false, 20);
  const Vec q = rnd(z(B * Tq * dq), 2), v = rnd(z(B * Tk * dv), 3), k = rnd(z(B * Tk * dk), 4);
  CallContext ctx;
  auto out = l->call({tensor({B, Tq, dq}, q), tensor({B, Tk, dv}, v), tensor({B, Tk, dk}, k)}, ctx);
  BOOST_TEST(out.at(0).shape() == (Shape{B, Tq, O}));
  check_close(out[0], ref_mha(w, q, v, k, B, Tq, Tk, dq, dv, dk, H, Dk, Dv, O, {}, false),
              "cross attention");
  // Key passed by keyword is the same call.
  CallContext kctx;
  kctx.kwargs["key"] = tensor({B, Tk, dk}, k);
  check_close(l->call({tensor({B, Tq, dq}, q), tensor({B, Tk, dv}, v)}, kctx)[0],
              ref_mha(w, q, v, k, B, Tq, Tk, dq, dv, dk, H, Dk, Dv, O, {}, false), "key keyword");
  const std::string saved = kserde::to_json(*l->to_object_dict());
  BOOST_TEST(saved.find(R"("output_shape": [5])") != std::string::npos);
  BOOST_TEST(saved.find(R"("attention_axes": [1])") != std::string::npos);
  BOOST_TEST(
      saved.find(
          R"("build_config": {"shapes_dict": {"query_shape": [null, 3, 4], "value_shape": [null, 5, 6], "key_shape": [null, 5, 7]}})") !=
      std::string::npos);
}

BOOST_AUTO_TEST_CASE(mha_masks_and_fully_masked_rows_follow_keras_paths) {
  const int B = 2, Tq = 3, Tk = 4, D = 4, H = 2, Dk = 2;
  auto l = kserde::layers::from_config("MultiHeadAttention", R"({"num_heads": 2, "key_dim": 2})");
  l->build({{-1, Tq, D}, {-1, Tk, D}});
  const MhaWeights w = set_mha(*l, D, D, D, H, Dk, Dk, D, true, 30);
  const Vec q = rnd(z(B * Tq * D), 5), v = rnd(z(B * Tk * D), 6);
  const Vec qmask{1, 0, 1, 1, 1, 1};  // sample 0, query 1 fully masked
  const Vec vmask{1, 1, 1, 0, 1, 1, 0, 0};
  std::vector<int> mask;
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < Tq; ++i)
      for (int j = 0; j < Tk; ++j)
        mask.push_back(qmask[z(b * Tq + i)] != 0 && vmask[z(b * Tk + j)] != 0 ? 1 : 0);
  CallContext ctx;
  ctx.input_masks = {tensor({B, Tq}, qmask), tensor({B, Tk}, vmask)};
  auto out = l->call({tensor({B, Tq, D}, q), tensor({B, Tk, D}, v)}, ctx);
  // Fused path (3-D, no dropout, no scores): a fully masked row averages all keys.
  check_close(out[0], ref_mha(w, q, v, v, B, Tq, Tk, D, D, D, H, Dk, Dk, D, mask, false),
              "fused path");
  BOOST_REQUIRE(ctx.output_masks.at(0).has_value());  // the query mask is passed on
  BOOST_TEST(ctx.output_masks[0]->shape() == (Shape{B, Tq}));

  // With return_attention_scores Keras uses its Softmax layer, which zeroes masked entries.
  CallContext sctx;
  sctx.input_masks = ctx.input_masks;
  sctx.kwargs["return_attention_scores"] = flag(true);
  auto out2 = l->call({tensor({B, Tq, D}, q), tensor({B, Tk, D}, v)}, sctx);
  BOOST_REQUIRE_EQUAL(out2.size(), 2u);
  Vec scores;
  check_close(out2[0], ref_mha(w, q, v, v, B, Tq, Tk, D, D, D, H, Dk, Dk, D, mask, true, &scores),
              "softmax-layer path");
  BOOST_TEST(out2[1].shape() == (Shape{B, H, Tq, Tk}));
  check_close(out2[1], scores, "scores");

  // Explicit value_mask keyword + attention_mask + causal mask combine with a logical and.
  const Vec amask = rnd(z(B * Tq * Tk), 7);  // nonzero -> attend; make some exact zeros
  Vec am = amask;
  for (std::size_t i = 0; i < am.size(); i += 3) am[i] = 0.0f;
  CallContext cctx;
  cctx.kwargs["value_mask"] = tensor({B, Tk}, vmask);
  cctx.kwargs["attention_mask"] = tensor({B, Tq, Tk}, am);
  cctx.kwargs["use_causal_mask"] = flag(true);
  std::vector<int> m2;
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < Tq; ++i)
      for (int j = 0; j < Tk; ++j)
        m2.push_back(
            vmask[z(b * Tk + j)] != 0 && am[z((b * Tq + i) * Tk + j)] != 0.0f && i >= j ? 1 : 0);
  check_close(l->call({tensor({B, Tq, D}, q), tensor({B, Tk, D}, v)}, cctx)[0],
              ref_mha(w, q, v, v, B, Tq, Tk, D, D, D, H, Dk, Dk, D, m2, false), "combined masks");
}

BOOST_AUTO_TEST_CASE(mha_dropout_and_gate) {
  const int B = 1, T = 3, D = 4, H = 2, Dk = 3;
  auto l = kserde::layers::from_config(
      "MultiHeadAttention", R"({"num_heads": 2, "key_dim": 3, "dropout": 0.25, "use_gate": true})");
  l->build({{-1, T, D}, {-1, T, D}});
  auto children = l->tracked_children();
  BOOST_REQUIRE_EQUAL(children.size(), 7u);
  BOOST_TEST(children[5].attribute == "_gate_dense");
  BOOST_TEST(children[5].layers[0]->variables().at(0).value.shape() == (Shape{D, H, Dk}));
  const MhaWeights w = set_mha(*l, D, D, D, H, Dk, Dk, D, true, 40);
  const Vec x = rnd(z(B * T * D), 8);
  CallContext ctx;
  ctx.input_masks = {std::nullopt, tensor({B, T}, Vec{1, 1, 0})};
  std::vector<int> mask{1, 1, 0, 1, 1, 0, 1, 1, 0};
  // dropout > 0 takes the Softmax-layer path even at inference (dropout itself is inactive).
  check_close(l->call({tensor({B, T, D}, x), tensor({B, T, D}, x)}, ctx)[0],
              ref_mha(w, x, x, x, B, T, T, D, D, D, H, Dk, Dk, D, mask, true, nullptr, true),
              "gated");
}

BOOST_AUTO_TEST_CASE(mha_4d_inputs_attention_axes) {
  const int B = 2, X = 2, Y = 3, D = 4, H = 2, Dk = 2;
  const Vec q = rnd(z(B * X * Y * D), 9);
  {
    // Default axes (1, 2): attention over all X*Y positions jointly = 3-D attention on (B, X*Y, D).
    auto l = kserde::layers::from_config("MultiHeadAttention", R"({"num_heads": 2, "key_dim": 2})");
    l->build({{-1, X, Y, D}, {-1, X, Y, D}});
    const MhaWeights w = set_mha(*l, D, D, D, H, Dk, Dk, D, true, 50);
    CallContext ctx;
    ctx.kwargs["return_attention_scores"] = flag(true);
    auto out = l->call({tensor({B, X, Y, D}, q), tensor({B, X, Y, D}, q)}, ctx);
    Vec scores;
    check_close(out[0],
                ref_mha(w, q, q, q, B, X * Y, X * Y, D, D, D, H, Dk, Dk, D, {}, true, &scores),
                "axes (1,2)");
    BOOST_TEST(out[1].shape() == (Shape{B, H, X, Y, X, Y}));
    check_close(out[1], scores, "scores (1,2)");
    BOOST_TEST(kserde::to_json(l->config()).find(R"("attention_axes": [1, 2])") !=
               std::string::npos);
  }
  {
    // attention_axes=[-2] -> axis 2: independent attention over Y for every x.
    auto l = kserde::layers::from_config(
        "MultiHeadAttention", R"({"num_heads": 2, "key_dim": 2, "attention_axes": [-2]})");
    l->build({{-1, X, Y, D}, {-1, X, Y, D}});
    const MhaWeights w = set_mha(*l, D, D, D, H, Dk, Dk, D, true, 60);
    CallContext ctx;
    auto out = l->call({tensor({B, X, Y, D}, q), tensor({B, X, Y, D}, q)}, ctx);
    Vec expected(z(B * X * Y * D));
    for (int b = 0; b < B; ++b)
      for (int xi = 0; xi < X; ++xi) {
        const Vec slice(q.begin() + (b * X + xi) * Y * D, q.begin() + (b * X + xi + 1) * Y * D);
        const Vec r = ref_mha(w, slice, slice, slice, 1, Y, Y, D, D, D, H, Dk, Dk, D, {}, true);
        std::copy(r.begin(), r.end(), expected.begin() + (b * X + xi) * Y * D);
      }
    check_close(out[0], expected, "axes (2,)");
    BOOST_TEST(kserde::to_json(l->config()).find(R"("attention_axes": [2])") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(mha_config_build_from_config_and_errors) {
  auto l = kserde::layers::from_config("MultiHeadAttention", R"({"num_heads": 4, "key_dim": 8})");
  const std::string c = kserde::to_json(l->config());
  for (const char* key :
       {"\"value_dim\": 8", "\"dropout\": 0.0", "\"use_bias\": true", "\"use_gate\": false",
        "\"output_shape\": null", "\"attention_axes\": null", "\"sliding_window\": null",
        "\"kernel_initializer\": {", "\"bias_initializer\": {", "\"seed\": null"}) {
    BOOST_TEST_CONTEXT(key) {
      BOOST_TEST(c.find(key) != std::string::npos);
    }
  }
  auto bc = kserde::parse_json(
      R"({"shapes_dict": {"query_shape": [null, 5, 16], "value_shape": [null, 7, 16], "key_shape": null}})",
      "test");
  l->build_from_config(*bc);
  BOOST_REQUIRE(l->built());
  BOOST_TEST(l->tracked_children().at(0).layers[0]->variables().at(0).value.shape() ==
             (Shape{16, 4, 8}));
  CallContext ctx;
  BOOST_CHECK_THROW(l->call({tensor({2, 16}, rnd(32, 1)), tensor({2, 16}, rnd(32, 1))}, ctx),
                    kserde::ShapeError);
  BOOST_CHECK_THROW(
      kserde::layers::from_config("MultiHeadAttention", R"({"num_heads": 0, "key_dim": 2})"),
      kserde::ConfigError);
  BOOST_CHECK_THROW(kserde::layers::from_config("MultiHeadAttention", R"({"num_heads": 2})"),
                    kserde::ConfigError);
  BOOST_CHECK_THROW(
      kserde::layers::from_config("MultiHeadAttention",
                                  R"({"num_heads": 2, "key_dim": 2, "sliding_window": 0})"),
      kserde::ConfigError);
  auto m = kserde::layers::from_config("MultiHeadAttention",
                                       R"({"num_heads": 2, "key_dim": 2, "name": "mha"})");
  try {
    m->build({{-1, 3, 4}, {-1, 5, 4}, {-1, 6, 4}});
    BOOST_FAIL("mismatched value/key accepted");
  } catch (const kserde::ShapeError& e) {
    BOOST_TEST(std::string(e.what()).find("MultiHeadAttention 'mha'") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(mha_sliding_window) {
  const int B = 1, T = 5, D = 4, H = 2, Dk = 2;
  auto l = kserde::layers::from_config("MultiHeadAttention",
                                       R"({"num_heads": 2, "key_dim": 2, "sliding_window": 2})");
  l->build({{-1, T, D}, {-1, T, D}});
  const MhaWeights w = set_mha(*l, D, D, D, H, Dk, Dk, D, true, 70);
  const Vec x = rnd(z(B * T * D), 11);
  std::vector<int> mask;
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < T; ++j) mask.push_back(std::abs(i - j) < 2 ? 1 : 0);
  CallContext ctx;
  check_close(l->call({tensor({B, T, D}, x), tensor({B, T, D}, x)}, ctx)[0],
              ref_mha(w, x, x, x, B, T, T, D, D, D, H, Dk, Dk, D, mask, false), "sliding window");
}

// ---- Attention / AdditiveAttention

namespace {

enum class Score { Dot, Concat, Additive };

// scores over (B, Tq, Tv), masked entries minus 1e9, softmax, weighted sum of v, masked queries 0.
Vec ref_attention(Score mode, const Vec& q, const Vec& v, const Vec& k, int B, int Tq, int Tv,
                  int D, int Dv, float scale, float concat_w, const Vec& scale_vec,
                  const Vec& qmask, const Vec& vmask, bool causal, Vec* weights = nullptr) {
  Vec out(z(B * Tq * Dv), 0.0f);
  if (weights) weights->assign(z(B * Tq * Tv), 0.0f);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < Tq; ++i) {
      Vec row(z(Tv));
      for (int j = 0; j < Tv; ++j) {
        float s = 0;
        for (int d = 0; d < D; ++d) {
          const float qd = q[z((b * Tq + i) * D + d)], kd = k[z((b * Tv + j) * D + d)];
          if (mode == Score::Dot) s += qd * kd;
          if (mode == Score::Concat) s += std::tanh(scale * (qd + kd));
          if (mode == Score::Additive)
            s += (scale_vec.empty() ? 1.0f : scale_vec[z(d)]) * std::tanh(qd + kd);
        }
        if (mode == Score::Dot) s *= scale;
        if (mode == Score::Concat) s *= concat_w;
        const bool keep = (vmask.empty() || vmask[z(b * Tv + j)] != 0) && (!causal || i >= j);
        row[z(j)] = keep ? s : s - 1e9f;
      }
      softmax(row, {}, false);
      const bool qkeep = qmask.empty() || qmask[z(b * Tq + i)] != 0;
      for (int j = 0; j < Tv; ++j) {
        if (weights) (*weights)[z((b * Tq + i) * Tv + j)] = row[z(j)];
        for (int e = 0; e < Dv; ++e) {
          if (qkeep) out[z((b * Tq + i) * Dv + e)] += row[z(j)] * v[z((b * Tv + j) * Dv + e)];
        }
      }
    }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(attention_dot_and_concat_with_masks) {
  const int B = 2, Tq = 3, Tv = 4, D = 5, Dv = 2;
  const Vec q = rnd(z(B * Tq * D), 1), v = rnd(z(B * Tv * Dv), 2), k = rnd(z(B * Tv * D), 3);
  const Vec qmask{1, 1, 0, 1, 0, 1}, vmask{1, 0, 1, 1, 1, 1, 1, 0};
  {
    auto l = kserde::layers::from_config("Attention", R"({})");
    l->build({{-1, Tq, D}, {-1, Tv, Dv}, {-1, Tv, D}});
    BOOST_TEST(l->variables().empty());
    CallContext ctx;
    auto out = l->call({tensor({B, Tq, D}, q), tensor({B, Tv, Dv}, v), tensor({B, Tv, D}, k)}, ctx);
    check_close(out.at(0),
                ref_attention(Score::Dot, q, v, k, B, Tq, Tv, D, Dv, 1.0f, 1.0f, {}, {}, {}, false),
                "dot");
    BOOST_TEST(l->compute_output_shape({{B, Tq, D}, {B, Tv, Dv}, {B, Tv, D}}).at(0) ==
               out[0].shape());
  }
  {
    auto l = kserde::layers::from_config("Attention", R"({"use_scale": true})");
    l->build({{-1, Tq, D}, {-1, Tv, Dv}, {-1, Tv, D}});
    BOOST_REQUIRE_EQUAL(l->variables().size(), 1u);
    BOOST_TEST(l->variables()[0].name == "scale");
    BOOST_TEST(l->variables()[0].value.shape() == Shape{});
    l->set_weights({tensor({}, Vec{0.7f})});
    CallContext ctx;
    ctx.input_masks = {tensor({B, Tq}, qmask), tensor({B, Tv}, vmask)};
    ctx.kwargs["return_attention_scores"] = flag(true);
    auto out = l->call({tensor({B, Tq, D}, q), tensor({B, Tv, Dv}, v), tensor({B, Tv, D}, k)}, ctx);
    Vec weights;
    check_close(out.at(0),
                ref_attention(Score::Dot, q, v, k, B, Tq, Tv, D, Dv, 0.7f, 1.0f, {}, qmask, vmask,
                              false, &weights),
                "scaled dot, masks");
    BOOST_REQUIRE_EQUAL(out.size(), 2u);
    BOOST_TEST(out[1].shape() == (Shape{B, Tq, Tv}));
    check_close(out[1], weights, "attention weights");
    BOOST_REQUIRE(ctx.output_masks.at(0).has_value());
  }
  {
    auto l =
        kserde::layers::from_config("Attention", R"({"use_scale": true, "score_mode": "concat"})");
    l->build({{-1, Tq, D}, {-1, Tv, Dv}, {-1, Tv, D}});
    BOOST_REQUIRE_EQUAL(l->variables().size(), 2u);
    BOOST_TEST(l->variables()[1].name == "concat_score_weight");
    l->set_weights({tensor({}, Vec{0.6f}), tensor({}, Vec{1.3f})});
    CallContext ctx;
    ctx.kwargs["use_causal_mask"] = flag(true);
    ctx.input_masks = {std::nullopt, tensor({B, Tv}, vmask)};
    check_close(
        l->call({tensor({B, Tq, D}, q), tensor({B, Tv, Dv}, v), tensor({B, Tv, D}, k)}, ctx).at(0),
        ref_attention(Score::Concat, q, v, k, B, Tq, Tv, D, Dv, 0.6f, 1.3f, {}, {}, vmask, true),
        "concat, causal");
  }
}

BOOST_AUTO_TEST_CASE(additive_attention_scale_vector) {
  const int B = 2, Tq = 2, Tv = 3, D = 4;
  const Vec q = rnd(z(B * Tq * D), 4), v = rnd(z(B * Tv * D), 5);
  auto l = kserde::layers::from_config("AdditiveAttention", R"({})");
  l->build({{-1, Tq, D}, {-1, Tv, D}});
  BOOST_REQUIRE_EQUAL(l->variables().size(), 1u);
  BOOST_TEST(l->variables()[0].value.shape() == (Shape{D}));
  const Vec s = rnd(z(D), 6);
  l->set_weights({tensor({D}, s)});
  CallContext ctx;
  check_close(
      l->call({tensor({B, Tq, D}, q), tensor({B, Tv, D}, v)}, ctx).at(0),
      ref_attention(Score::Additive, q, v, v, B, Tq, Tv, D, D, 1.0f, 1.0f, s, {}, {}, false),
      "additive");
  auto plain = kserde::layers::from_config("AdditiveAttention", R"({"use_scale": false})");
  plain->build({{-1, Tq, D}, {-1, Tv, D}});
  BOOST_TEST(plain->variables().empty());
  check_close(
      plain->call({tensor({B, Tq, D}, q), tensor({B, Tv, D}, v)}, ctx).at(0),
      ref_attention(Score::Additive, q, v, v, B, Tq, Tv, D, D, 1.0f, 1.0f, {}, {}, {}, false),
      "additive no scale");
  const std::string c = kserde::to_json(l->config());
  BOOST_TEST(c.find("score_mode") == std::string::npos);
  BOOST_TEST(c.find("\"use_scale\": true") != std::string::npos);
  BOOST_TEST(kserde::to_json(kserde::layers::from_config("Attention", "{}")->config())
                 .find("\"score_mode\": \"dot\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(attention_errors) {
  BOOST_CHECK_THROW(kserde::layers::from_config("Attention", R"({"score_mode": "general"})"),
                    kserde::ConfigError);
  auto l = kserde::layers::from_config("Attention", R"({"name": "att"})");
  CallContext ctx;
  try {
    l->call({tensor({1, 2, 3}, rnd(6, 1))}, ctx);
    BOOST_FAIL("single input accepted");
  } catch (const kserde::ShapeError& e) {
    BOOST_TEST(std::string(e.what()).find("Attention 'att'") != std::string::npos);
  }
  BOOST_CHECK_THROW(l->call({tensor({1, 2, 3}, rnd(6, 1)), tensor({1, 2, 4}, rnd(8, 1)),
                             tensor({1, 2, 2}, rnd(4, 1))},
                            ctx),
                    kserde::ShapeError);
}

BOOST_AUTO_TEST_CASE(gqa_shares_each_key_value_head_among_its_query_heads) {
  const int B = 2, Tq = 4, Tk = 5, D = 6, dk = 7, Hq = 4, Hkv = 2, hd = 3;
  auto l = kserde::layers::from_config(
      "GroupedQueryAttention",
      R"({"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2})");
  l->build({{-1, Tq, D}, {-1, Tk, D}, {-1, Tk, dk}});
  BOOST_TEST(l->variables().empty());
  auto children = l->tracked_children();
  // Keras keeps the sub-layers in private attributes: saved under these names.
  const std::vector<std::string> names{"_dropout_layer", "_key_dense", "_output_dense",
                                       "_query_dense",   "_softmax",   "_value_dense"};
  BOOST_REQUIRE_EQUAL(children.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) BOOST_TEST(children[i].attribute == names[i]);
  BOOST_TEST(children[1].layers[0]->variables().at(0).value.shape() == (Shape{dk, Hkv, hd}));
  BOOST_TEST(children[2].layers[0]->variables().at(0).value.shape() == (Shape{Hq, hd, D}));
  BOOST_TEST(children[3].layers[0]->variables().at(1).value.shape() == (Shape{Hq, hd}));
  BOOST_TEST(children[3].layers[0]->name() == "query");
  BOOST_TEST(children[2].layers[0]->name() == "attention_output");

  const GqaWeights w = set_gqa(*l, D, dk, Hq, Hkv, hd, true, 20);
  const Vec q = rnd(z(B * Tq * D), 1), v = rnd(z(B * Tk * D), 2), k = rnd(z(B * Tk * dk), 3);
  CallContext ctx;
  auto out = l->call({tensor({B, Tq, D}, q), tensor({B, Tk, D}, v), tensor({B, Tk, dk}, k)}, ctx);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_TEST(out[0].shape() == (Shape{B, Tq, D}));
  check_close(out[0], ref_mha(w.expanded, q, v, k, B, Tq, Tk, D, D, dk, Hq, hd, hd, D, {}, false),
              "grouped cross attention");
}

BOOST_AUTO_TEST_CASE(gqa_causal_scores_and_gate_on_the_unfused_path) {
  const int B = 2, T = 4, D = 5, Hq = 6, Hkv = 3, hd = 2;
  auto l = kserde::layers::from_config(
      "GroupedQueryAttention",
      R"({"head_dim": 2, "num_query_heads": 6, "num_key_value_heads": 3, "use_gate": true})");
  l->build({{-1, T, D}, {-1, T, D}});
  const GqaWeights w = set_gqa(*l, D, D, Hq, Hkv, hd, true, 30);
  const Vec x = rnd(z(B * T * D), 4);
  CallContext ctx;
  ctx.kwargs.emplace("use_causal_mask", flag(true));
  ctx.kwargs.emplace("return_attention_scores", flag(true));
  auto out = l->call({tensor({B, T, D}, x), tensor({B, T, D}, x)}, ctx);
  BOOST_REQUIRE_EQUAL(out.size(), 2u);
  std::vector<int> causal;
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < T; ++i)
      for (int j = 0; j < T; ++j) causal.push_back(i >= j ? 1 : 0);
  Vec scores;
  const Vec want =
      ref_mha(w.expanded, x, x, x, B, T, T, D, D, D, Hq, hd, hd, D, causal, true, &scores, true);
  check_close(out[0], want, "output");
  BOOST_TEST(out[1].shape() == (Shape{B, Hq, T, T}));
  check_close(out[1], scores, "scores");
  std::map<std::string, Tensor> kw{{"return_attention_scores", flag(true)}};
  const auto shapes = l->compute_output_shape_for_call({{-1, T, D}, {-1, 7, D}}, kw);
  BOOST_REQUIRE_EQUAL(shapes.size(), 2u);
  BOOST_TEST(shapes[1] == (Shape{-1, Hq, T, 7}));
}

BOOST_AUTO_TEST_CASE(gqa_value_mask_and_a_fully_masked_row_on_the_fused_path) {
  const int B = 2, Tq = 3, Tk = 4, D = 4, Hq = 2, Hkv = 1, hd = 3;
  auto l = kserde::layers::from_config(
      "GroupedQueryAttention",
      R"({"head_dim": 3, "num_query_heads": 2, "num_key_value_heads": 1, "use_bias": false})");
  l->build({{-1, Tq, D}, {-1, Tk, D}});
  const GqaWeights w = set_gqa(*l, D, D, Hq, Hkv, hd, false, 40);
  const Vec q = rnd(z(B * Tq * D), 5), v = rnd(z(B * Tk * D), 6);
  // Batch 0 attends to keys 0 and 2; batch 1 to none (the fused path then averages every key).
  const std::vector<float> vm{1, 0, 1, 0, 0, 0, 0, 0};
  CallContext ctx;
  ctx.input_masks = {std::nullopt, tensor({B, Tk}, vm)};
  auto out = l->call({tensor({B, Tq, D}, q), tensor({B, Tk, D}, v)}, ctx);
  std::vector<int> mask;
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < Tq; ++i)
      for (int j = 0; j < Tk; ++j) mask.push_back(static_cast<int>(vm[z(b * Tk + j)]));
  check_close(out[0], ref_mha(w.expanded, q, v, v, B, Tq, Tk, D, D, D, Hq, hd, hd, D, mask, false),
              "masked output");
}

BOOST_AUTO_TEST_CASE(gqa_config_defaults_build_config_and_errors) {
  auto l = kserde::layers::from_config(
      "GroupedQueryAttention",
      R"({"name": "gqa", "head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2})");
  const auto& c = l->config();
  BOOST_TEST(c["use_bias"].GetBool());
  BOOST_TEST(!c["use_gate"].GetBool());
  BOOST_TEST(c["sliding_window"].IsNull());
  BOOST_TEST(c["dropout"].GetDouble() == 0.0);
  rapidjson::Document bc;
  bc.Parse(R"({"shapes_dict": {"query_shape": [null, 3, 4], "value_shape": [null, 5, 4]}})");
  l->build_from_config(bc);
  BOOST_TEST(l->built());
  BOOST_TEST(l->count_params() == (4 * 4 * 2 + 8) + 2 * (4 * 2 * 2 + 4) + (4 * 2 * 4 + 4));
  BOOST_CHECK_THROW(kserde::layers::from_config("GroupedQueryAttention",
                                                R"({"head_dim": 2, "num_query_heads": 3,
                                                    "num_key_value_heads": 2})"),
                    kserde::ConfigError);
  BOOST_CHECK_THROW(kserde::layers::from_config(
                        "GroupedQueryAttention",
                        R"({"head_dim": 0, "num_query_heads": 2, "num_key_value_heads": 2})"),
                    kserde::ConfigError);
  auto m = kserde::layers::from_config(
      "GroupedQueryAttention",
      R"({"name": "gqa", "head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 2})");
  try {
    m->build({{-1, 3, 4}, {-1, 3, 5}});
    BOOST_FAIL("query and value of different widths accepted");
  } catch (const kserde::ShapeError& e) {
    BOOST_TEST(std::string(e.what()).find("GroupedQueryAttention 'gqa'") != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
