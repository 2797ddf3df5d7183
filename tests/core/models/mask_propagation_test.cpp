// Masks through whole models, as Keras's Layer.__call__ propagates them: a layer that supports
// masking passes its input's mask on, layers with their own compute_mask (Embedding, Masking,
// merges, attention) set it, and every other layer (convolutions, RNNs, TimeDistributed,
// Bidirectional, keras.ops nodes) drops it. The checks compare a padded input with the unpadded
// one where Keras gives the same outputs, and with naive loops written here where it does not.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/functional.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "kserde/saving.hpp"

using namespace kserde;

namespace {

Tensor floats(const Shape& shape, std::vector<float> v) {
  return Tensor::from_floats(shape, v);
}

Tensor ints(const Shape& shape, const std::vector<std::int32_t>& v) {
  Tensor t(shape, DType::Int32);
  auto out = t.mutable_values<std::int32_t>();
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = v[i];
  return t;
}

// Deterministic values in [-0.9, 0.9].
std::vector<float> rnd(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 7u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = 0.9f * (static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f);
  }
  return v;
}

// Assigns `values` to the layer's and its sub-layers' variables in traversal order (an LSTM's
// live in its cell; a Bidirectional's in its forward then backward layers).
std::size_t assign(Layer& l, const TensorList& values, std::size_t next = 0) {
  const std::size_t own = l.variables().size();
  if (own > 0) {
    l.set_weights(TensorList(values.begin() + static_cast<std::ptrdiff_t>(next),
                             values.begin() + static_cast<std::ptrdiff_t>(next + own)));
    next += own;
  }
  for (const TrackedChild& c : l.tracked_children()) {
    for (Layer* child : c.layers) next = assign(*child, values, next);
  }
  return next;
}

std::shared_ptr<Sequential> sequential(const std::vector<std::shared_ptr<Layer>>& ls) {
  auto m = std::make_shared<Sequential>("m");
  for (const auto& l : ls) m->add(l);
  return m;
}

void expect_close(const Tensor& a, const Tensor& b, const std::string& what, float tol = 1e-6f) {
  BOOST_TEST_CONTEXT(what) {
    BOOST_TEST_REQUIRE(a.shape() == b.shape());
    const Tensor fa = a.to(DType::Float32);
    const Tensor fb = b.to(DType::Float32);
    const auto va = fa.values<float>();
    const auto vb = fb.values<float>();
    for (std::size_t i = 0; i < va.size(); ++i) {
      BOOST_TEST_CONTEXT("element " << i) {
        BOOST_TEST(std::fabs(va[i] - vb[i]) <= tol + 1e-5f * std::fabs(vb[i]));
      }
    }
  }
}

// A sequence (1, T, F) of random features with the given steps replaced by zeros.
Tensor padded(std::int64_t steps, std::int64_t features, const std::vector<int>& zero_steps,
              std::uint32_t seed) {
  auto v = rnd(static_cast<std::size_t>(steps * features), seed);
  for (int s : zero_steps) {
    for (std::int64_t f = 0; f < features; ++f) v[static_cast<std::size_t>(s * features + f)] = 0;
  }
  return floats({1, steps, features}, v);
}

// The rows of `x` (1, T, F) except the given steps.
Tensor without_steps(const Tensor& x, const std::vector<int>& drop) {
  const std::int64_t t = x.dim(1), f = x.dim(2);
  std::vector<float> out;
  const auto v = x.values<float>();
  for (std::int64_t s = 0; s < t; ++s) {
    if (std::find(drop.begin(), drop.end(), static_cast<int>(s)) != drop.end()) continue;
    out.insert(out.end(), v.begin() + s * f, v.begin() + (s + 1) * f);
  }
  return floats({1, static_cast<std::int64_t>(out.size()) / f, f}, out);
}

// ---- Functional graphs written as Keras 3 saves them.
std::string kt(const std::string& layer, int tensor = 0) {
  return R"({"class_name": "__keras_tensor__", "config": {"shape": null, "dtype": "float32", "keras_history": [")" +
         layer + "\", 0, " + std::to_string(tensor) + "]}}";
}

std::string entry(const std::string& module, const std::string& cls, const std::string& name,
                  const std::string& config, const std::string& args,
                  const std::string& kwargs = "{}") {
  std::string c = config.empty() ? "" : ", " + config;
  return R"({"module": ")" + module + R"(", "class_name": ")" + cls + R"(", "config": {"name": ")" +
         name + "\"" + c + R"(}, "registered_name": null, "name": ")" + name +
         R"(", "inbound_nodes": [{"args": )" + args + R"(, "kwargs": )" + kwargs + "}]}";
}

std::string layer(const std::string& cls, const std::string& name, const std::string& config,
                  const std::string& args, const std::string& kwargs = "{}") {
  return entry("keras.layers", cls, name, config, args, kwargs);
}

std::string input(const std::string& name, const std::string& batch_shape,
                  const std::string& dtype = "float32") {
  return R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": )" +
         batch_shape + R"(, "dtype": ")" + dtype +
         R"(", "sparse": false, "ragged": false, "name": ")" + name +
         R"("}, "registered_name": null, "name": ")" + name + R"(", "inbound_nodes": []})";
}

std::string functional(const std::vector<std::string>& entries, const std::string& inputs,
                       const std::string& outputs) {
  std::string layers;
  for (const auto& e : entries) layers += (layers.empty() ? "" : ", ") + e;
  return R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "f", "trainable": true, "layers": [)" +
         layers + R"(], "input_layers": )" + inputs + R"(, "output_layers": )" + outputs +
         R"(}, "registered_name": "Functional", "build_config": {"input_shape": null}, "compile_config": {}})";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mask_propagation)

BOOST_AUTO_TEST_CASE(embedding_mask_zero_then_global_average_counts_only_real_steps) {
  auto emb =
      layers::from_config("Embedding", R"({"input_dim": 5, "output_dim": 2, "mask_zero": true})");
  auto m = sequential({layers::Input({-1}, DType::Int32), emb,
                       layers::from_config("GlobalAveragePooling1D", "{}")});
  const std::vector<float> e{0, 0, 1, 2, 3, 5, -4, 8, 0.5f, 0.25f};
  emb->set_weights({floats({5, 2}, e)});
  const Tensor y_padded = m->predict(ints({1, 5}, {1, 2, 0, 0, 0}));
  const Tensor y_plain = m->predict(ints({1, 2}, {1, 2}));
  // mean of embeddings 1 and 2 only: ((1+3)/2, (2+5)/2)
  expect_close(y_padded, floats({1, 2}, {2.0f, 3.5f}), "padded");
  expect_close(y_plain, floats({1, 2}, {2.0f, 3.5f}), "unpadded");
}

BOOST_AUTO_TEST_CASE(masking_then_lstm_skips_padding_anywhere_in_the_sequence) {
  auto lstm = layers::from_config("LSTM", R"({"units": 3})");
  auto m = sequential(
      {layers::Input({-1, 2}), layers::from_config("Masking", R"({"mask_value": 0.0})"), lstm});
  assign(*lstm,
         {floats({2, 12}, rnd(24, 1)), floats({3, 12}, rnd(36, 2)), floats({12}, rnd(12, 3))});
  // Keras: a masked step keeps h and c, so padding before, inside and after the real steps
  // changes nothing.
  for (const std::vector<int>& zeros :
       std::vector<std::vector<int>>{{4, 5}, {0, 1}, {2}, {0, 3, 5}}) {
    const Tensor x = padded(6, 2, zeros, 11);
    expect_close(m->predict(x), m->predict(without_steps(x, zeros)), "zero steps");
  }
}

BOOST_AUTO_TEST_CASE(dense_passes_the_mask_on_but_conv1d_drops_it) {
  auto dense = layers::from_config("Dense", R"({"units": 2})");
  auto through_dense = sequential({layers::Input({-1, 2}), layers::from_config("Masking", "{}"),
                                   dense, layers::from_config("GlobalAveragePooling1D", "{}")});
  dense->set_weights({floats({2, 2}, {1, 2, 3, 4}), floats({2}, {0.5f, -1.0f})});
  const Tensor x = padded(4, 2, {2, 3}, 5);
  expect_close(through_dense->predict(x), through_dense->predict(without_steps(x, {2, 3})),
               "Dense keeps the mask");

  auto conv = layers::from_config("Conv1D", R"({"filters": 2, "kernel_size": 1})");
  auto through_conv = sequential({layers::Input({-1, 2}), layers::from_config("Masking", "{}"),
                                  conv, layers::from_config("GlobalAveragePooling1D", "{}")});
  conv->set_weights({floats({1, 2, 2}, {1, 2, 3, 4}), floats({2}, {0.5f, -1.0f})});
  // Conv1D does not support masking in Keras: the average runs over all 4 steps, the padded
  // ones giving just the bias.
  const auto v = x.values<float>();
  std::vector<float> expected{0, 0};
  for (int s = 0; s < 4; ++s) {
    expected[0] += (v[s * 2] * 1 + v[s * 2 + 1] * 3 + 0.5f) / 4;
    expected[1] += (v[s * 2] * 2 + v[s * 2 + 1] * 4 - 1.0f) / 4;
  }
  expect_close(through_conv->predict(x), floats({1, 2}, expected), "Conv1D drops the mask");
}

BOOST_AUTO_TEST_CASE(recurrent_layers_and_time_distributed_drop_the_mask) {
  // Masking -> LSTM(return_sequences) -> GlobalAveragePooling1D: Keras's RNN layers do not
  // support masking, so the average runs over every step of the sequence the LSTM returns.
  auto lstm = layers::from_config("LSTM", R"({"units": 2, "return_sequences": true})");
  auto seq = sequential({layers::Input({-1, 2}), layers::from_config("Masking", "{}"), lstm});
  assign(*lstm, {floats({2, 8}, rnd(16, 4)), floats({2, 8}, rnd(16, 5)), floats({8}, rnd(8, 6))});
  auto pooled = sequential({layers::Input({-1, 2}), layers::from_config("Masking", "{}"), lstm,
                            layers::from_config("GlobalAveragePooling1D", "{}")});
  const Tensor x = padded(4, 2, {3}, 9);
  const Tensor s = seq->predict(x);
  const auto sv = s.values<float>();
  std::vector<float> mean{0, 0};
  for (int t = 0; t < 4; ++t) {
    for (int u = 0; u < 2; ++u)
      mean[static_cast<std::size_t>(u)] += sv[static_cast<std::size_t>(t * 2 + u)] / 4;
  }
  expect_close(pooled->predict(x), floats({1, 2}, mean), "LSTM drops the mask");

  // TimeDistributed(Dense) likewise.
  auto td = layers::from_config(
      "TimeDistributed",
      R"({"layer": {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 1}, "registered_name": null}})");
  auto m = sequential({layers::Input({-1, 2}), layers::from_config("Masking", "{}"), td,
                       layers::from_config("GlobalAveragePooling1D", "{}")});
  assign(*td, {floats({2, 1}, {1, 1}), floats({1}, {1})});
  const auto v = x.values<float>();
  float expected = 0;
  for (int t = 0; t < 4; ++t) expected += (v[t * 2] + v[t * 2 + 1] + 1) / 4;
  expect_close(m->predict(x), floats({1, 1}, {expected}), "TimeDistributed drops the mask");
}

BOOST_AUTO_TEST_CASE(bidirectional_lstm_ignores_padding) {
  auto bi = layers::from_config(
      "Bidirectional",
      R"({"layer": {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "l", "units": 2}, "registered_name": null}, "merge_mode": "concat"})");
  auto m = sequential({layers::Input({-1, 3}), layers::from_config("Masking", "{}"), bi});
  TensorList w;
  for (std::uint32_t k = 0; k < 2; ++k) {
    w.push_back(floats({3, 8}, rnd(24, 20 + k)));
    w.push_back(floats({2, 8}, rnd(16, 30 + k)));
    w.push_back(floats({8}, rnd(8, 40 + k)));
  }
  BOOST_TEST(assign(*bi, w) == w.size());
  const Tensor x = padded(5, 3, {3, 4}, 17);
  expect_close(m->predict(x), m->predict(without_steps(x, {3, 4})), "post-padding");
}

BOOST_AUTO_TEST_CASE(merges_or_the_masks_and_drop_them_when_an_input_has_none) {
  // a, b: (None, 4, 1) each through Masking; Add's mask is a_mask OR b_mask; with b unmasked the
  // mask is dropped. GlobalAveragePooling1D shows which steps count.
  auto graph = [](bool mask_b) {
    return functional(
        {input("a", "[null, 4, 1]"), input("b", "[null, 4, 1]"),
         layer("Masking", "ma", R"("mask_value": 0.0)", "[" + kt("a") + "]"),
         layer("Masking", "mb", R"("mask_value": 0.0)", "[" + kt("b") + "]"),
         layer("Add", "add", "", "[[" + kt("ma") + ", " + kt(mask_b ? "mb" : "b") + "]]"),
         layer("GlobalAveragePooling1D", "gap",
               R"("data_format": "channels_last", "keepdims": false)", "[" + kt("add") + "]")},
        R"([["a", 0, 0], ["b", 0, 0]])", R"([["gap", 0, 0]])");
  };
  const Tensor a = floats({1, 4, 1}, {1, 2, 0, 0});
  const Tensor b = floats({1, 4, 1}, {10, 0, 20, 0});
  // OR mask [1, 1, 1, 0]: (11 + 2 + 20) / 3
  auto both = model_from_json(graph(true));
  expect_close(both->predict(TensorList{a, b})[0], floats({1, 1}, {11.0f}), "OR");
  // b unmasked: no mask, all four steps: (11 + 2 + 20 + 0) / 4
  auto one = model_from_json(graph(false));
  expect_close(one->predict(TensorList{a, b})[0], floats({1, 1}, {33.0f / 4}), "dropped");
}

BOOST_AUTO_TEST_CASE(attention_uses_query_and_value_masks_and_returns_scores) {
  // tokens -> Embedding(mask_zero) -> Attention([x, x], return_attention_scores=True) -> GAP.
  const std::string json =
      functional({input("tokens", "[null, null]", "int32"),
                  layer("Embedding", "emb", R"("input_dim": 6, "output_dim": 2, "mask_zero": true)",
                        "[" + kt("tokens") + "]"),
                  layer("Attention", "att", "", "[[" + kt("emb") + ", " + kt("emb") + "]]",
                        R"({"return_attention_scores": true})"),
                  layer("GlobalAveragePooling1D", "gap", "", "[" + kt("att", 0) + "]")},
                 R"([["tokens", 0, 0]])", R"([["gap", 0, 0], ["att", 0, 1]])");
  auto model = model_from_json(json);
  BOOST_TEST(model->output_shapes().size() == 2u);
  model->get_layer("emb")->set_weights({floats({6, 2}, {0, 0, 1, 0, 0, 1, 1, 1, -1, 2, 3, -2})});
  const auto padded_out = model->predict(TensorList{ints({1, 5}, {1, 2, 3, 0, 0})});
  const auto plain_out = model->predict(TensorList{ints({1, 3}, {1, 2, 3})});
  // Padded keys get no weight and padded queries do not count in the average.
  expect_close(padded_out[0], plain_out[0], "pooled attention");
  const Tensor& scores = padded_out[1];
  BOOST_TEST_REQUIRE((scores.shape() == Shape{1, 5, 5}));
  const auto s = scores.values<float>();
  for (int i = 0; i < 5; ++i) {
    float sum = 0;
    for (int j = 0; j < 5; ++j) sum += s[static_cast<std::size_t>(i * 5 + j)];
    BOOST_TEST(std::fabs(sum - 1.0f) < 1e-6f);
    BOOST_TEST(s[static_cast<std::size_t>(i * 5 + 3)] == 0.0f);
    BOOST_TEST(s[static_cast<std::size_t>(i * 5 + 4)] == 0.0f);
  }
  // The real rows equal the unpadded scores (softmax of q.k over the 3 real keys).
  const auto p = plain_out[1].values<float>();
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      BOOST_TEST(std::fabs(s[static_cast<std::size_t>(i * 5 + j)] -
                           p[static_cast<std::size_t>(i * 3 + j)]) < 1e-6f);
    }
  }
  // Hand-worked row 0: q = e1 = (1, 0); keys e1, e2, e3 = (1,0), (0,1), (1,1) -> scores 1, 0, 1.
  const float z = 2 * std::exp(1.0f) + 1;
  BOOST_TEST(std::fabs(p[0] - std::exp(1.0f) / z) < 1e-6f);
  BOOST_TEST(std::fabs(p[1] - 1 / z) < 1e-6f);
}

BOOST_AUTO_TEST_CASE(multi_head_attention_gets_query_and_keyword_value_masks) {
  // tokens -> Embedding(mask_zero) -> MultiHeadAttention(emb, value=emb) -> GAP: the query mask
  // comes from the positional input, value_mask from the keyword tensor's mask (Keras fills it).
  const std::string mha =
      R"({"module": "keras.layers", "class_name": "MultiHeadAttention", "config": {"name": "mha", "num_heads": 2, "key_dim": 3}, "registered_name": null, "build_config": {"shapes_dict": {"query_shape": [null, null, 4], "value_shape": [null, null, 4]}}, "name": "mha", "inbound_nodes": [{"args": [)" +
      kt("emb") + R"(], "kwargs": {"value": )" + kt("emb") + "}}]}";
  const std::string json =
      functional({input("tokens", "[null, null]", "int32"),
                  layer("Embedding", "emb", R"("input_dim": 7, "output_dim": 4, "mask_zero": true)",
                        "[" + kt("tokens") + "]"),
                  mha, layer("GlobalAveragePooling1D", "gap", "", "[" + kt("mha") + "]")},
                 R"([["tokens", 0, 0]])", R"([["gap", 0, 0]])");
  auto model = model_from_json(json);
  std::uint32_t seed = 50;
  std::vector<Layer*> owners{model->get_layer("emb").get(), model->get_layer("mha").get()};
  TensorList all;
  std::function<void(Layer&)> fill = [&](Layer& l) {
    for (const Variable& v : l.variables()) {
      all.push_back(
          floats(v.value.shape(), rnd(static_cast<std::size_t>(v.value.num_elements()), seed++)));
    }
    for (const TrackedChild& c : l.tracked_children()) {
      for (Layer* child : c.layers) fill(*child);
    }
  };
  for (Layer* l : owners) fill(*l);
  std::size_t next = 0;
  for (Layer* l : owners) next = assign(*l, all, next);
  BOOST_TEST(next == all.size());
  const Tensor a = model->predict(TensorList{ints({1, 6}, {3, 1, 4, 0, 0, 0})})[0];
  const Tensor b = model->predict(TensorList{ints({1, 3}, {3, 1, 4})})[0];
  expect_close(a, b, "padded keys ignored, padded queries not averaged", 1e-5f);
}

BOOST_AUTO_TEST_CASE(attention_takes_an_explicit_mask_list) {
  // Attention([q, v], mask=[None, v_mask]) where v_mask = not_equal(tokens, 0) built in the graph.
  const std::string json =
      functional({input("q", "[null, 2, 2]"), input("v", "[null, 3, 2]"),
                  input("tokens", "[null, 3]", "int32"),
                  entry("keras.src.ops.numpy", "NotEqual", "ne", "", "[" + kt("tokens") + ", 0]"),
                  layer("Attention", "att", "", "[[" + kt("q") + ", " + kt("v") + "]]",
                        "{\"mask\": [null, " + kt("ne") + "]}")},
                 R"([["q", 0, 0], ["v", 0, 0], ["tokens", 0, 0]])", R"([["att", 0, 0]])");
  auto model = model_from_json(json);
  const Tensor q = floats({1, 2, 2}, {1, 0, 0, 1});
  const Tensor v = floats({1, 3, 2}, {1, 2, 3, 4, 100, 100});
  const Tensor out = model->predict(TensorList{q, v, ints({1, 3}, {7, 8, 0})})[0];
  // Key 2 masked: weights softmax(q . k) over keys 0 and 1 only.
  std::vector<float> expected;
  for (int i = 0; i < 2; ++i) {
    const float s0 = i == 0 ? 1.0f : 2.0f, s1 = i == 0 ? 3.0f : 4.0f;
    const float w0 = 1 / (1 + std::exp(s1 - s0)), w1 = 1 - w0;
    expected.push_back(w0 * 1 + w1 * 3);
    expected.push_back(w0 * 2 + w1 * 4);
  }
  expect_close(out, floats({1, 2, 2}, expected), "value mask from the graph", 1e-5f);
}

BOOST_AUTO_TEST_CASE(comparison_logical_cast_and_where_operations) {
  const std::string json = functional(
      {input("x", "[null, 4]"),
       entry("keras.src.ops.numpy", "NotEqual", "ne", "", "[" + kt("x") + ", 0]"),
       entry("keras.src.ops.numpy", "Greater", "gt", "", "[" + kt("x") + ", 1.5]"),
       entry("keras.src.ops.numpy", "LogicalAnd", "and", "",
             "[" + kt("ne") + ", " + kt("gt") + "]"),
       entry("keras.src.ops.core", "Cast", "cast", R"("dtype": "float32")", "[" + kt("and") + "]"),
       entry("keras.src.ops.numpy", "Where", "where", "",
             "[" + kt("ne") + ", " + kt("x") + ", -1.0]"),
       entry("keras.src.ops.numpy", "Any", "any", R"("axis": [1], "keepdims": false)",
             "[" + kt("gt") + "]")},
      R"([["x", 0, 0]])", R"([["cast", 0, 0], ["where", 0, 0], ["any", 0, 0], ["ne", 0, 0]])");
  auto model = model_from_json(json);
  const auto out = model->predict(TensorList{floats({2, 4}, {0, 1, 2, 3, 0, 0, 1, -5})});
  expect_close(out[0], floats({2, 4}, {0, 0, 1, 1, 0, 0, 0, 0}), "cast(ne & gt)");
  expect_close(out[1], floats({2, 4}, {-1, 1, 2, 3, -1, -1, 1, -5}), "where");
  BOOST_TEST(out[2].dtype() == DType::Bool);
  expect_close(out[2], floats({2}, {1, 0}), "any");
  BOOST_TEST(out[3].dtype() == DType::Bool);
}

BOOST_AUTO_TEST_CASE(comparisons_see_exact_float64_and_int64_values) {
  // Values float32 copies would merge: 1 + 2^-40 vs 1 (float64), 2^40 + 1 vs 2^40 (int64).
  // A number beside float32 tensors is rounded to float32 first (NumPy's weak scalars), so
  // float32(0.1) == 0.1 holds; beside int32 tensors 0.5 stays a double.
  const std::string json = functional(
      {input("a", "[null, 2]", "float64"), input("b", "[null, 2]", "float64"),
       input("i", "[null, 2]", "int64"), input("f", "[null, 1]"), input("n", "[null, 2]", "int32"),
       entry("keras.src.ops.numpy", "Equal", "eq", "", "[" + kt("a") + ", " + kt("b") + "]"),
       entry("keras.src.ops.numpy", "Greater", "gt", "", "[" + kt("i") + ", 1099511627776]"),
       entry("keras.src.ops.numpy", "Equal", "eq01", "", "[" + kt("f") + ", 0.1]"),
       entry("keras.src.ops.numpy", "LessEqual", "le", "", "[" + kt("n") + ", 0.5]"),
       entry("keras.src.ops.numpy", "LogicalNot", "not", "", "[" + kt("a") + "]")},
      R"([["a", 0, 0], ["b", 0, 0], ["i", 0, 0], ["f", 0, 0], ["n", 0, 0]])",
      R"([["eq", 0, 0], ["gt", 0, 0], ["eq01", 0, 0], ["le", 0, 0], ["not", 0, 0]])");
  auto model = model_from_json(json);
  Tensor a({1, 2}, DType::Float64), b({1, 2}, DType::Float64), i({1, 2}, DType::Int64);
  a.mutable_values<double>()[0] = 1.0 + std::ldexp(1.0, -40);
  a.mutable_values<double>()[1] = 1e-50;  // nonzero, 0 as a float32
  b.mutable_values<double>()[0] = 1.0;
  b.mutable_values<double>()[1] = 1e-50;
  i.mutable_values<std::int64_t>()[0] = (std::int64_t{1} << 40) + 1;
  i.mutable_values<std::int64_t>()[1] = std::int64_t{1} << 40;
  const auto out =
      model->predict(TensorList{a, b, i, floats({1, 1}, {0.1f}), ints({1, 2}, {0, 1})});
  for (const Tensor& t : out) BOOST_TEST(t.dtype() == DType::Bool);
  auto bools = [](const Tensor& t) {
    std::vector<int> v;
    for (bool x : t.values<bool>()) v.push_back(x ? 1 : 0);
    return v;
  };
  BOOST_TEST(bools(out[0]) == (std::vector<int>{0, 1}), boost::test_tools::per_element());
  BOOST_TEST(bools(out[1]) == (std::vector<int>{1, 0}), boost::test_tools::per_element());
  BOOST_TEST(bools(out[2]) == (std::vector<int>{1}), boost::test_tools::per_element());
  BOOST_TEST(bools(out[3]) == (std::vector<int>{1, 0}), boost::test_tools::per_element());
  BOOST_TEST(bools(out[4]) == (std::vector<int>{0, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(arithmetic_on_float64_operands_runs_in_double) {
  // x = 1e8 + 1: x + (-1e8) = 1 (float32: 0); square(1 + 2^-30) = 1 + 2^-29 (+ 2^-60 rounded
  // away); a float32 operand beside a float64 one is widened.
  const std::string json = functional(
      {input("x", "[null, 1]", "float64"), input("y", "[null, 1]", "float64"),
       input("f", "[null, 1]"),
       entry("keras.src.ops.numpy", "Add", "add", "", "[" + kt("x") + ", -100000000.0]"),
       entry("keras.src.ops.numpy", "Square", "sq", "", "[" + kt("y") + "]"),
       entry("keras.src.ops.numpy", "Subtract", "sub", "", "[" + kt("y") + ", " + kt("f") + "]"),
       entry("keras.src.ops.numpy", "Where", "where", "",
             "[" + kt("f") + ", " + kt("y") + ", 0.0]")},
      R"([["x", 0, 0], ["y", 0, 0], ["f", 0, 0]])",
      R"([["add", 0, 0], ["sq", 0, 0], ["sub", 0, 0], ["where", 0, 0]])");
  auto model = model_from_json(json);
  const double tiny = std::ldexp(1.0, -30);
  Tensor x({1, 1}, DType::Float64), y({1, 1}, DType::Float64);
  x.mutable_values<double>()[0] = 1e8 + 1;
  y.mutable_values<double>()[0] = 1.0 + tiny;
  const auto out = model->predict(TensorList{x, y, floats({1, 1}, {1.0f})});
  for (const Tensor& t : out) BOOST_TEST_REQUIRE(t.dtype() == DType::Float64);
  BOOST_TEST(out[0].values<double>()[0] == 1.0);
  BOOST_TEST(out[1].values<double>()[0] == 1.0 + 2 * tiny);
  BOOST_TEST(out[2].values<double>()[0] == tiny);
  BOOST_TEST(out[3].values<double>()[0] == 1.0 + tiny);  // where(1, y, 0) = y
}

BOOST_AUTO_TEST_CASE(where_with_only_a_condition_gives_first_axis_indices) {
  // Keras saves ops.where(c) as Where(c, None, None); NumPy returns the tuple np.nonzero(c) and
  // the graph keeps its first array. c = [[0, 2, 0], [1, 1, 0]]: nonzeros at (0, 1), (1, 0),
  // (1, 1), so (0, 1, 1).
  const std::string json =
      functional({input("c", "[null, 3]"),
                  entry("keras.src.ops.numpy", "Where", "w", "", "[" + kt("c") + ", null, null]")},
                 R"([["c", 0, 0]])", R"([["w", 0, 0]])");
  auto model = model_from_json(json);
  const Tensor out = model->predict(TensorList{floats({2, 3}, {0, 2, 0, 1, 1, 0})})[0];
  BOOST_TEST_REQUIRE(out.dtype() == DType::Int64);
  BOOST_TEST_REQUIRE(out.shape() == (Shape{3}));
  const auto v = out.values<std::int64_t>();
  BOOST_TEST(std::vector<std::int64_t>(v.begin(), v.end()) == (std::vector<std::int64_t>{0, 1, 1}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_graph_built_mask_passed_as_keyword_reaches_the_layer) {
  // GlobalAveragePooling1D(x, mask=not_equal(tokens, 0)), as transformer-style models write it.
  const std::string json =
      functional({input("x", "[null, 3, 1]"), input("tokens", "[null, 3]", "int32"),
                  entry("keras.src.ops.numpy", "NotEqual", "ne", "", "[" + kt("tokens") + ", 0]"),
                  layer("GlobalAveragePooling1D", "gap", "", "[" + kt("x") + "]",
                        "{\"mask\": " + kt("ne") + "}")},
                 R"([["x", 0, 0], ["tokens", 0, 0]])", R"([["gap", 0, 0]])");
  auto model = model_from_json(json);
  const auto out =
      model->predict(TensorList{floats({1, 3, 1}, {2, 4, 9}), ints({1, 3}, {5, 0, 1})});
  expect_close(out[0], floats({1, 1}, {5.5f}), "(2 + 9) / 2");
}

BOOST_AUTO_TEST_CASE(a_nested_model_receives_and_returns_masks) {
  // Embedding(mask_zero) outside, a Sequential(Dense) inside, GAP outside: Dense passes the mask
  // through the nested model.
  const std::string inner =
      R"({"module": "keras", "class_name": "Sequential", "config": {"name": "inner", "trainable": true, "layers": [{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, null, 2], "dtype": "float32", "sparse": false, "ragged": false, "name": "inner_in"}, "registered_name": null}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 1}, "registered_name": null}]}, "registered_name": null, "name": "inner", "inbound_nodes": [{"args": [)" +
      kt("emb") + R"(], "kwargs": {}}]})";
  const std::string json =
      functional({input("tokens", "[null, null]", "int32"),
                  layer("Embedding", "emb", R"("input_dim": 4, "output_dim": 2, "mask_zero": true)",
                        "[" + kt("tokens") + "]"),
                  inner, layer("GlobalAveragePooling1D", "gap", "", "[" + kt("inner") + "]")},
                 R"([["tokens", 0, 0]])", R"([["gap", 0, 0]])");
  auto model = model_from_json(json);
  model->get_layer("emb")->set_weights({floats({4, 2}, {0, 0, 1, 2, 3, 4, 5, 6})});
  auto nested = std::dynamic_pointer_cast<Model>(model->get_layer("inner"));
  BOOST_TEST_REQUIRE(nested != nullptr);
  nested->get_layer("d")->set_weights({floats({2, 1}, {1, 1}), floats({1}, {0})});
  const auto out = model->predict(TensorList{ints({1, 4}, {1, 2, 0, 0})});
  expect_close(out[0], floats({1, 1}, {5.0f}), "(3 + 7) / 2");
}

BOOST_AUTO_TEST_SUITE_END()
