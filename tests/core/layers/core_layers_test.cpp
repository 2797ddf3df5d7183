// Core layers: Identity, Masking, Embedding, Rescaling, Normalization, SpatialDropout1D/2D/3D,
// GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization, Permute, RepeatVector,
// EinsumDense. EinsumDense is checked against a naive label-enumerating einsum written here.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/layer.hpp"
#include "kserde/layers.hpp"

using namespace kserde;

namespace {

std::vector<float> prand(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 99u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>((s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
  }
  return v;
}

Tensor make(const Shape& s, std::uint32_t seed) {
  return Tensor::from_floats(s, prand(static_cast<std::size_t>(shape_num_elements(s)), seed));
}

void check_close(const Tensor& got, const Shape& shape, const std::vector<float>& want) {
  BOOST_TEST_REQUIRE(got.shape() == shape,
                     "shape " << shape_to_string(got.shape()) << " vs " << shape_to_string(shape));
  const Tensor f = got.to(DType::Float32);
  const auto g = f.values<float>();
  BOOST_TEST_REQUIRE(g.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    BOOST_TEST(std::fabs(g[i] - want[i]) <= 1e-6 + 1e-5 * std::fabs(want[i]),
               "index " << i << ": " << g[i] << " vs " << want[i]);
  }
}

std::vector<float> values(const Tensor& t) {
  const Tensor f = t.to(DType::Float32);
  return {f.values<float>().begin(), f.values<float>().end()};
}

Tensor run(Layer& l, const Tensor& x, CallContext* ctx = nullptr) {
  CallContext local;
  return l.call({x}, ctx != nullptr ? *ctx : local).at(0);
}

// Naive einsum: enumerate every assignment of every label.
Tensor naive_einsum(const std::string& lx, const Tensor& x, const std::string& lw, const Tensor& w,
                    const std::string& lo, const Shape& out_shape) {
  std::map<char, std::int64_t> dims;
  for (std::size_t i = 0; i < lx.size(); ++i) dims[lx[i]] = x.dim(i);
  for (std::size_t i = 0; i < lw.size(); ++i) dims[lw[i]] = w.dim(i);
  std::vector<char> labels;
  for (const auto& [c, d] : dims) labels.push_back(c);
  std::map<char, std::int64_t> at;
  for (char c : labels) at[c] = 0;
  Tensor out(out_shape, DType::Float32);
  auto flat = [&](const std::string& ls, const Tensor& t) {
    std::int64_t o = 0;
    for (std::size_t i = 0; i < ls.size(); ++i) o = o * t.dim(i) + at[ls[i]];
    return o;
  };
  while (true) {
    out.f32_mut()[flat(lo, out)] += x.f32()[flat(lx, x)] * w.f32()[flat(lw, w)];
    std::size_t k = labels.size();
    while (k > 0) {
      --k;
      if (++at[labels[k]] < dims[labels[k]]) break;
      at[labels[k]] = 0;
      if (k == 0) return out;
    }
    if (labels.empty()) return out;
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(core_layers)

BOOST_AUTO_TEST_CASE(identity_returns_inputs_and_masks) {
  auto id = layers::from_config("Identity", "{}");
  const Tensor x = make({2, 3}, 1);
  CallContext ctx;
  ctx.input_masks = {Tensor({2}, DType::Bool)};
  auto out = id->call({x}, ctx);
  BOOST_TEST(out[0].bitwise_equal(x));
  // Keras's default compute_mask: the models pass the previous mask on for it.
  BOOST_TEST(id->supports_masking());
  BOOST_TEST(ctx.output_masks.empty());
}

BOOST_AUTO_TEST_CASE(masking_zeroes_steps_equal_to_mask_value) {
  auto m = layers::from_config("Masking", R"({"mask_value": 2.0})");
  const Tensor x = Tensor::from_floats({1, 3, 2}, std::vector<float>{2, 2, 2, 1, 0, 0});
  CallContext ctx;
  check_close(run(*m, x, &ctx), {1, 3, 2}, {0, 0, 2, 1, 0, 0});
  BOOST_TEST_REQUIRE(ctx.output_masks.size() == 1u);
  const auto mask = ctx.output_masks[0]->values<bool>();
  BOOST_TEST((std::vector<bool>(mask.begin(), mask.end()) == std::vector<bool>{false, true, true}));
  BOOST_TEST(cfg::get_float((*m->to_object_dict())["config"], "mask_value", "t") == 2.0);
}

BOOST_AUTO_TEST_CASE(embedding_looks_up_rows_for_any_integer_dtype) {
  auto e = layers::from_config(
      "Embedding", R"({"input_dim": 4, "output_dim": 2, "mask_zero": true, "name": "emb"})");
  e->build({{-1, 3}});
  BOOST_TEST(e->variables()[0].name == "embeddings");
  const std::vector<float> table{0, 0.5f, 1, 1.5f, 2, 2.5f, 3, 3.5f};
  e->set_weights({Tensor::from_floats({4, 2}, table)});
  Tensor ids({1, 3}, DType::Int64);
  ids.mutable_values<std::int64_t>()[0] = 3;
  ids.mutable_values<std::int64_t>()[1] = 0;
  ids.mutable_values<std::int64_t>()[2] = 1;
  CallContext ctx;
  check_close(run(*e, ids, &ctx), {1, 3, 2}, {3, 3.5f, 0, 0.5f, 1, 1.5f});
  BOOST_TEST_REQUIRE(ctx.output_masks.size() == 1u);
  const auto mask = ctx.output_masks[0]->values<bool>();
  BOOST_TEST((std::vector<bool>(mask.begin(), mask.end()) == std::vector<bool>{true, false, true}));
  // int32, uint8 and float ids holding integers.
  Tensor i32({2}, DType::Int32);
  i32.mutable_values<std::int32_t>()[0] = 2;
  i32.mutable_values<std::int32_t>()[1] = 1;
  check_close(run(*e, i32), {2, 2}, {2, 2.5f, 1, 1.5f});
  Tensor u8({1}, DType::UInt8);
  u8.mutable_values<std::uint8_t>()[0] = 3;
  check_close(run(*e, u8), {1, 2}, {3, 3.5f});
  check_close(run(*e, Tensor::from_floats({2}, std::vector<float>{2.0f, 0.0f})), {2, 2},
              {2, 2.5f, 0, 0.5f});
  BOOST_TEST((e->compute_output_shape({{-1, 3}})[0] == Shape{-1, 3, 2}));
  // Out of range ids name the layer.
  try {
    run(*e, Tensor::from_floats({1}, std::vector<float>{4.0f}));
    BOOST_FAIL("expected ShapeError");
  } catch (const ShapeError& err) {
    BOOST_TEST(std::string(err.what()).find("Embedding 'emb'") != std::string::npos);
  }
  BOOST_CHECK_THROW(run(*e, Tensor::from_floats({1}, std::vector<float>{-1.0f})), ShapeError);
  BOOST_CHECK_THROW(layers::from_config("Embedding", R"({"input_dim": 0, "output_dim": 2})"),
                    ConfigError);
  const auto doc = e->to_object_dict();
  for (const char* key :
       {"input_dim", "output_dim", "embeddings_initializer", "mask_zero", "quantization_config"}) {
    BOOST_TEST(cfg::find((*doc)["config"], key) != nullptr, key);
  }
}

BOOST_AUTO_TEST_CASE(rescaling_scalar_and_per_channel) {
  const Tensor x = Tensor::from_floats({2, 3}, std::vector<float>{0, 127.5f, 255, 1, 2, 3});
  check_close(
      run(*layers::from_config("Rescaling", R"({"scale": 0.00784313725490196, "offset": -1.0})"),
          x),
      {2, 3},
      {-1.0f, 0.0f, 1.0f, 1.0f / 127.5f - 1.0f, 2.0f / 127.5f - 1.0f, 3.0f / 127.5f - 1.0f});
  check_close(run(*layers::from_config("Rescaling",
                                       R"({"scale": [1.0, 2.0, 3.0], "offset": [0.5, 0.0, -1.0]})"),
                  x),
              {2, 3}, {0.5f, 255, 764, 1.5f, 4, 8});
  // A serialized NumPy array works as well.
  check_close(
      run(*layers::from_config(
              "Rescaling",
              R"({"scale": {"class_name": "__numpy__", "config": {"value": [2.0, 2.0, 2.0], "dtype": "float32"}}})"),
          x),
      {2, 3}, {0, 255, 510, 2, 4, 6});
  BOOST_CHECK_THROW(layers::from_config("Rescaling", R"({"scale": [[1.0], 2.0]})"), ConfigError);
  BOOST_CHECK_THROW(run(*layers::from_config("Rescaling", R"({"scale": [1.0, 2.0]})"), x),
                    ShapeError);
}

BOOST_AUTO_TEST_CASE(normalization_adapted_variables_and_invert) {
  auto n = layers::from_config("Normalization", "{}");
  n->build({{-1, 2}});
  BOOST_TEST_REQUIRE(n->variables().size() == 3u);
  BOOST_TEST(n->variables()[0].name == "mean");
  BOOST_TEST(n->variables()[1].name == "variance");
  BOOST_TEST(n->variables()[2].name == "count");
  BOOST_TEST(!n->variables()[2].trainable);
  BOOST_TEST(n->variables()[2].value.rank() == 0u);
  Tensor count({}, DType::Int64);
  n->set_weights({Tensor::from_floats({2}, std::vector<float>{1, -2}),
                  Tensor::from_floats({2}, std::vector<float>{4, 0}), count});
  const Tensor x = Tensor::from_floats({2, 2}, std::vector<float>{3, -2, -1, 1});
  // (x - mean) / max(sqrt(var), 1e-7)
  check_close(run(*n, x), {2, 2}, {1.0f, 0.0f, -1.0f, 3.0f / 1e-7f});
  auto inv = layers::from_config("Normalization", R"({"invert": true})");
  inv->build({{-1, 2}});
  inv->set_weights({Tensor::from_floats({2}, std::vector<float>{1, -2}),
                    Tensor::from_floats({2}, std::vector<float>{4, 9}), count});
  check_close(run(*inv, x), {2, 2}, {7, -8, -1, 1});
}

BOOST_AUTO_TEST_CASE(normalization_with_config_statistics_and_axes) {
  // axis [1, 2] with mean given per last axis only: aligned to the trailing kept axis.
  auto n = layers::from_config("Normalization",
                               R"({"axis": [1, 2], "mean": [1.0, 2.0], "variance": [4.0, 16.0]})");
  n->build({{-1, 3, 2}});
  BOOST_TEST(n->variables().empty());
  const Tensor x = make({2, 3, 2}, 5);
  std::vector<float> want;
  for (int i = 0; i < 12; ++i)
    want.push_back(i % 2 == 0 ? (x.f32()[i] - 1.0f) / 2.0f : (x.f32()[i] - 2.0f) / 4.0f);
  check_close(run(*n, x), {2, 3, 2}, want);
  // axis null: one global statistic.
  auto g = layers::from_config("Normalization", R"({"axis": null, "mean": 3.0, "variance": 4.0})");
  g->build({{-1, 2}});
  check_close(run(*g, Tensor::from_floats({1, 2}, std::vector<float>{5, 1})), {1, 2}, {1, -1});
  BOOST_CHECK_THROW(layers::from_config("Normalization", R"({"mean": 1.0})"), ConfigError);
  CallContext ctx;
  BOOST_CHECK_THROW(n->call({make({2, 4, 2}, 1)}, ctx), ShapeError);
}

BOOST_AUTO_TEST_CASE(regularization_layers_are_identity_at_inference) {
  const Tensor x3 = make({2, 3, 4}, 6);
  const Tensor x4 = make({1, 2, 2, 3}, 7);
  const Tensor x5 = make({1, 2, 2, 2, 3}, 8);
  BOOST_TEST(
      run(*layers::from_config("SpatialDropout1D", R"({"rate": 0.5})"), x3).bitwise_equal(x3));
  BOOST_TEST(run(*layers::from_config("SpatialDropout2D",
                                      R"({"rate": 0.5, "data_format": "channels_first"})"),
                 x4)
                 .bitwise_equal(x4));
  BOOST_TEST(
      run(*layers::from_config("SpatialDropout3D", R"({"rate": 0.5})"), x5).bitwise_equal(x5));
  BOOST_CHECK_THROW(run(*layers::from_config("SpatialDropout2D", R"({"rate": 0.5})"), x3),
                    ShapeError);
  BOOST_CHECK_THROW(layers::from_config("SpatialDropout1D", R"({"rate": 1.5})"), ConfigError);
  BOOST_TEST(
      run(*layers::from_config("GaussianNoise", R"({"stddev": 0.1})"), x3).bitwise_equal(x3));
  BOOST_TEST(
      run(*layers::from_config("GaussianDropout", R"({"rate": 0.1})"), x3).bitwise_equal(x3));
  BOOST_TEST(run(*layers::from_config("AlphaDropout", R"({"rate": 0.1})"), x3).bitwise_equal(x3));
  BOOST_TEST(
      run(*layers::from_config("ActivityRegularization", R"({"l1": 0.01})"), x3).bitwise_equal(x3));
  BOOST_CHECK_THROW(layers::from_config("GaussianNoise", R"({"stddev": 2.0})"), ConfigError);
  // SpatialDropout's config has no trainable key and a plain-string dtype, as Keras writes it.
  const auto doc = layers::from_config("SpatialDropout2D", R"({"rate": 0.5})")->to_object_dict();
  const JsonValue& c = (*doc)["config"];
  BOOST_TEST(cfg::find(c, "trainable") == nullptr);
  BOOST_TEST(c["dtype"].IsString());
  BOOST_TEST(cfg::get_string(c, "data_format", "t") == "channels_last");
}

BOOST_AUTO_TEST_CASE(permute_reorders_non_batch_axes) {
  auto p = layers::from_config("Permute", R"({"dims": [2, 3, 1]})");
  const Tensor x = make({2, 3, 4, 5}, 9);
  const Tensor y = run(*p, x);
  BOOST_TEST_REQUIRE((y.shape() == Shape{2, 4, 5, 3}));
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 5; ++k)
          BOOST_TEST_REQUIRE(y.f32()[((n * 4 + j) * 5 + k) * 3 + i] ==
                             x.f32()[((n * 3 + i) * 4 + j) * 5 + k]);
  BOOST_TEST((p->compute_output_shape({{-1, 3, 4, 5}})[0] == Shape{-1, 4, 5, 3}));
  BOOST_CHECK_THROW(layers::from_config("Permute", R"({"dims": [0, 1]})"), ConfigError);
  BOOST_CHECK_THROW(layers::from_config("Permute", R"({"dims": [1, 3]})"), ConfigError);
  BOOST_CHECK_THROW(run(*p, make({2, 3}, 1)), ShapeError);
}

BOOST_AUTO_TEST_CASE(repeat_vector_repeats_rows) {
  auto r = layers::from_config("RepeatVector", R"({"n": 3})");
  const Tensor x = Tensor::from_floats({2, 2}, std::vector<float>{1, 2, 3, 4});
  check_close(run(*r, x), {2, 3, 2}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4});
  BOOST_TEST((r->compute_output_shape({{-1, 2}})[0] == Shape{-1, 3, 2}));
  BOOST_CHECK_THROW(layers::from_config("RepeatVector", R"({"n": 0})"), ConfigError);
  BOOST_CHECK_THROW(run(*r, make({2, 2, 2}, 1)), ShapeError);
}

struct EinsumCase {
  const char* config;
  Shape input;
  Shape kernel;
  Shape bias;  // empty: no bias
  Shape output;
  std::string lx, lw, lo;  // explicit labels for the reference
};

BOOST_AUTO_TEST_CASE(einsum_dense_matches_naive_einsum) {
  const std::vector<EinsumCase> cases = {
      {R"({"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"})",
       {2, 3},
       {3, 4},
       {4},
       {2, 4},
       "ab",
       "bc",
       "ac"},
      {R"({"equation": "abc,cd->abd", "output_shape": [null, 5], "bias_axes": "d"})",
       {2, 3, 4},
       {4, 5},
       {5},
       {2, 3, 5},
       "abc",
       "cd",
       "abd"},
      {R"({"equation": "abc,cde->abde", "output_shape": [null, 2, 3], "bias_axes": "de"})",
       {2, 3, 4},
       {4, 2, 3},
       {2, 3},
       {2, 3, 2, 3},
       "abc",
       "cde",
       "abde"},
      {R"({"equation": "abcd,cde->abe", "output_shape": [null, 6], "bias_axes": "e"})",
       {2, 3, 2, 4},
       {2, 4, 6},
       {6},
       {2, 3, 6},
       "abcd",
       "cde",
       "abe"},
      {R"({"equation": "abc,bcd->abd", "output_shape": [3, 2]})",
       {2, 3, 4},
       {3, 4, 2},
       {},
       {2, 3, 2},
       "abc",
       "bcd",
       "abd"},
      {R"({"equation": "...b,bc->...c", "output_shape": 3, "bias_axes": "c"})",
       {2, 4, 5},
       {5, 3},
       {3},
       {2, 4, 3},
       "xyb",
       "bc",
       "xyc"},
      {R"({"equation": "ab...,bc->ac...", "output_shape": 3, "bias_axes": "c"})",
       {2, 4, 5},
       {4, 3},
       {3, 1},
       {2, 3, 5},
       "abz",
       "bc",
       "acz"},
  };
  std::uint32_t seed = 20;
  for (const auto& tc : cases) {
    BOOST_TEST_CONTEXT(tc.config) {
      auto l = layers::from_config("EinsumDense", tc.config);
      Shape sym = tc.input;
      sym[0] = -1;
      l->build({sym});
      BOOST_TEST_REQUIRE(l->variables()[0].value.shape() == tc.kernel);
      BOOST_TEST_REQUIRE(l->variables().size() == (tc.bias.empty() ? 1u : 2u));
      const Tensor k = make(tc.kernel, seed++);
      TensorList ws{k};
      Tensor b;
      if (!tc.bias.empty()) {
        BOOST_TEST_REQUIRE(l->variables()[1].value.shape() == tc.bias);
        b = make(tc.bias, seed++);
        ws.push_back(b);
      }
      l->set_weights(ws);
      const Tensor x = make(tc.input, seed++);
      Tensor want = naive_einsum(tc.lx, x, tc.lw, k, tc.lo, tc.output);
      if (!tc.bias.empty()) {  // bias broadcasts from the right
        const std::int64_t bn = b.num_elements();
        for (std::int64_t i = 0; i < want.num_elements(); ++i) {
          // Index of the bias: trailing dims of the output matched against the bias shape.
          std::int64_t rem = i, bi = 0, mul = 1;
          for (std::size_t d = tc.output.size(); d-- > 0;) {
            const std::int64_t idx = rem % tc.output[d];
            rem /= tc.output[d];
            const std::size_t off = tc.output.size() - d;
            if (off <= tc.bias.size()) {
              const std::int64_t bd = tc.bias[tc.bias.size() - off];
              bi += (bd == 1 ? 0 : idx) * mul;
              mul *= bd;
            }
          }
          BOOST_TEST_REQUIRE(bi < bn);
          want.f32_mut()[i] += b.f32()[bi];
        }
      }
      check_close(run(*l, x), tc.output, values(want));
      Shape out_sym = tc.output;
      out_sym[0] = -1;
      BOOST_TEST(l->compute_output_shape({sym})[0] == out_sym);
    }
  }
}

BOOST_AUTO_TEST_CASE(einsum_dense_activation_config_and_errors) {
  auto l = layers::from_config(
      "EinsumDense", R"({"equation": "ab,bc->ac", "output_shape": [2], "activation": "relu"})");
  l->build({{-1, 2}});
  l->set_weights({Tensor::from_floats({2, 2}, std::vector<float>{1, -1, 1, -1})});
  check_close(run(*l, Tensor::from_floats({1, 2}, std::vector<float>{1, 2})), {1, 2}, {3, 0});
  const auto doc = l->to_object_dict();
  for (const char* key : {"output_shape", "equation", "activation", "bias_axes",
                          "kernel_initializer", "bias_initializer", "quantization_config"}) {
    BOOST_TEST(cfg::find((*doc)["config"], key) != nullptr, key);
  }
  BOOST_CHECK_THROW(
      layers::from_config("EinsumDense", R"({"equation": "ab->ac", "output_shape": 2})"),
      ConfigError);
  BOOST_CHECK_THROW(
      layers::from_config("EinsumDense", R"({"equation": "ab,bc->ad", "output_shape": 2})"),
      ConfigError);
  BOOST_CHECK_THROW(
      layers::from_config("EinsumDense",
                          R"({"equation": "ab,bc->ac", "output_shape": 2, "bias_axes": "x"})"),
      ConfigError);
  auto wrong =
      layers::from_config("EinsumDense", R"({"equation": "abc,cd->abd", "output_shape": [4, 5]})");
  BOOST_CHECK_THROW(wrong->build({{-1, 3, 4}}),
                    ShapeError);  // b is 3 in the input, 4 in output_shape
  BOOST_CHECK_THROW(run(*l, make({1, 2, 2}, 1)), ShapeError);
}

BOOST_AUTO_TEST_SUITE_END()
