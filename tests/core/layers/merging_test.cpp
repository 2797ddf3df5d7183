// Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.
// Expected values come from direct loops written here (or by hand), never from the layers.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/layer.hpp"
#include "kserde/layers.hpp"

using namespace kserde;

namespace {

std::vector<float> prand(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 12345u;
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
                     "shape " << shape_to_string(got.shape()) << " != " << shape_to_string(shape));
  const auto g = got.values<float>();
  BOOST_TEST_REQUIRE(g.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double tol = 1e-6 + 1e-5 * std::fabs(want[i]);
    BOOST_TEST(std::fabs(g[i] - want[i]) <= tol,
               "index " << i << ": " << g[i] << " vs " << want[i]);
  }
}

Tensor run(Layer& l, const TensorList& in, CallContext* ctx = nullptr) {
  CallContext local;
  auto out = l.call(in, ctx != nullptr ? *ctx : local);
  BOOST_TEST_REQUIRE(out.size() == 1u);
  return out[0];
}

Tensor bool_mask(const Shape& s, const std::vector<bool>& v) {
  Tensor t(s, DType::Bool);
  auto m = t.mutable_values<bool>();
  for (std::size_t i = 0; i < v.size(); ++i) m[i] = v[i];
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(merging)

BOOST_AUTO_TEST_CASE(elementwise_merges_match_direct_loops) {
  const Shape s{2, 3, 4};
  const Tensor a = make(s, 1), b = make(s, 2), c = make(s, 3);
  const auto va = a.values<float>(), vb = b.values<float>(), vc = c.values<float>();
  std::vector<float> add(24), sub(24), mul(24), avg(24), mx(24), mn(24);
  for (std::size_t i = 0; i < 24; ++i) {
    add[i] = va[i] + vb[i] + vc[i];
    sub[i] = va[i] - vb[i];
    mul[i] = va[i] * vb[i] * vc[i];
    avg[i] = (va[i] + vb[i] + vc[i]) / 3.0f;
    mx[i] = std::max(va[i], std::max(vb[i], vc[i]));
    mn[i] = std::min(va[i], std::min(vb[i], vc[i]));
  }
  check_close(run(*layers::from_config("Add", "{}"), {a, b, c}), s, add);
  check_close(run(*layers::from_config("Subtract", "{}"), {a, b}), s, sub);
  check_close(run(*layers::from_config("Multiply", "{}"), {a, b, c}), s, mul);
  check_close(run(*layers::from_config("Average", "{}"), {a, b, c}), s, avg);
  check_close(run(*layers::from_config("Maximum", "{}"), {a, b, c}), s, mx);
  check_close(run(*layers::from_config("Minimum", "{}"), {a, b, c}), s, mn);
}

BOOST_AUTO_TEST_CASE(lower_rank_inputs_gain_axes_after_the_batch) {
  // (2, 3, 4) + (2, 4): Keras expands the second to (2, 1, 4).
  const Tensor a = make({2, 3, 4}, 4), b = make({2, 4}, 5);
  std::vector<float> want(24);
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j)
        want[(n * 3 + i) * 4 + j] = a.f32()[(n * 3 + i) * 4 + j] + b.f32()[n * 4 + j];
  auto add = layers::from_config("Add", "{}");
  add->build({{-1, 3, 4}, {-1, 4}});
  check_close(run(*add, {a, b}), {2, 3, 4}, want);
  // Same rank: a size-1 axis broadcasts NumPy-style.
  const Tensor c = make({2, 3, 1}, 6);
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j)
        want[(n * 3 + i) * 4 + j] = a.f32()[(n * 3 + i) * 4 + j] * c.f32()[n * 3 + i];
  check_close(run(*layers::from_config("Multiply", "{}"), {a, c}), {2, 3, 4}, want);
}

BOOST_AUTO_TEST_CASE(output_shapes_and_shape_errors) {
  auto add = layers::from_config("Add", R"({"name": "adder"})");
  BOOST_TEST((add->compute_output_shape({{-1, 3, 4}, {-1, 4}})[0] == Shape{-1, 3, 4}));
  BOOST_TEST((add->compute_output_shape({{5, 1, 4}, {-1, 3, 1}})[0] == Shape{5, 3, 4}));
  BOOST_TEST((add->compute_output_shape({{-1, -1, 4}, {-1, 3, 4}})[0] == Shape{-1, -1, 4}));
  BOOST_CHECK_THROW(add->compute_output_shape({{-1, 3}, {-1, 4}}), ShapeError);
  BOOST_CHECK_THROW(add->compute_output_shape({{2, 3}, {5, 3}}), ShapeError);
  try {
    CallContext ctx;
    add->call({make({2, 3}, 1), make({2, 4}, 2)}, ctx);
    BOOST_FAIL("expected ShapeError");
  } catch (const ShapeError& e) {
    BOOST_TEST(std::string(e.what()).find("Add 'adder'") != std::string::npos);
  }
  auto sub = layers::from_config("Subtract", "{}");
  BOOST_CHECK_THROW(sub->build({{-1, 3}, {-1, 3}, {-1, 3}}), ShapeError);
  CallContext ctx;
  BOOST_CHECK_THROW(sub->call({make({2, 3}, 1)}, ctx), ShapeError);
}

BOOST_AUTO_TEST_CASE(maximum_ignores_masked_entries_and_ors_masks) {
  // Two (1, 2, 2) inputs with masks over the 2 timesteps.
  const Tensor a = Tensor::from_floats({1, 2, 2}, std::vector<float>{1, 9, 3, 4});
  const Tensor b = Tensor::from_floats({1, 2, 2}, std::vector<float>{5, 2, 7, 8});
  CallContext ctx;
  ctx.input_masks = {bool_mask({1, 2}, {true, false}), bool_mask({1, 2}, {false, false})};
  auto mx = layers::from_config("Maximum", "{}");
  // Hand-worked from Keras's fold: b is masked everywhere, so x = where(m_b, b, out) = a, and
  // the result is max(a, a) = a at both steps.
  const Tensor y = run(*mx, {a, b}, &ctx);
  check_close(y, {1, 2, 2}, {1, 9, 3, 4});
  // Only a's second step masked: there b wins the comparison no matter a's value.
  CallContext ctx2;
  ctx2.input_masks = {bool_mask({1, 2}, {true, false}), bool_mask({1, 2}, {true, true})};
  check_close(run(*mx, {a, b}, &ctx2), {1, 2, 2}, {5, 9, 7, 8});
  BOOST_TEST_REQUIRE(ctx.output_masks.size() == 1u);
  BOOST_TEST(ctx.output_masks[0]->values<bool>()[0] == true);
  BOOST_TEST(ctx.output_masks[0]->values<bool>()[1] == false);
  // Without masks on every input there is no output mask.
  CallContext partial;
  partial.input_masks = {bool_mask({1, 2}, {true, false}), std::nullopt};
  run(*mx, {a, b}, &partial);
  BOOST_TEST(partial.output_masks.empty());
}

BOOST_AUTO_TEST_CASE(multiply_treats_masked_entries_as_one) {
  const Tensor a = Tensor::from_floats({1, 3, 1}, std::vector<float>{2, 3, 4});
  const Tensor b = Tensor::from_floats({1, 3, 1}, std::vector<float>{5, 6, 7});
  CallContext ctx;
  ctx.input_masks = {bool_mask({1, 3}, {true, false, false}),
                     bool_mask({1, 3}, {true, true, false})};
  // Step 0: 2*5; step 1: 1*6; step 2: masked everywhere -> 0.
  check_close(run(*layers::from_config("Multiply", "{}"), {a, b}, &ctx), {1, 3, 1}, {10, 6, 0});
  CallContext one;
  one.input_masks = {bool_mask({1, 3}, {true, false, true}), std::nullopt};
  check_close(run(*layers::from_config("Multiply", "{}"), {a, b}, &one), {1, 3, 1}, {10, 6, 28});
}

BOOST_AUTO_TEST_CASE(concatenate_any_axis_including_negative) {
  const Tensor a = make({2, 3, 4}, 7), b = make({2, 1, 4}, 8), c = make({2, 3, 2}, 9);
  auto cat1 = layers::from_config("Concatenate", R"({"axis": 1})");
  std::vector<float> want;
  for (int n = 0; n < 2; ++n) {
    for (int i = 0; i < 12; ++i) want.push_back(a.f32()[n * 12 + i]);
    for (int i = 0; i < 4; ++i) want.push_back(b.f32()[n * 4 + i]);
  }
  check_close(run(*cat1, {a, b}), {2, 4, 4}, want);
  auto cat_last = layers::from_config("Concatenate", "{}");
  want.clear();
  for (int r = 0; r < 6; ++r) {
    for (int i = 0; i < 4; ++i) want.push_back(a.f32()[r * 4 + i]);
    for (int i = 0; i < 2; ++i) want.push_back(c.f32()[r * 2 + i]);
  }
  check_close(run(*cat_last, {a, c}), {2, 3, 6}, want);
  auto cat_m2 = layers::from_config("Concatenate", R"({"axis": -2})");
  BOOST_TEST((cat_m2->compute_output_shape({{-1, 3, 4}, {-1, 1, 4}})[0] == Shape{-1, 4, 4}));
  BOOST_TEST((cat_m2->compute_output_shape({{-1, -1, 4}, {-1, 1, 4}})[0] == Shape{-1, -1, 4}));
  BOOST_CHECK_THROW(cat_m2->build({{-1, 3, 4}, {-1, 1, 5}}), ShapeError);
  BOOST_CHECK_THROW(run(*cat1, {a, c}), ShapeError);
  BOOST_TEST(cfg::get_int(cat_m2->to_object_dict()->operator[]("config"), "axis", "t") == -2);
}

BOOST_AUTO_TEST_CASE(concatenate_keeps_integer_dtype_and_builds_masks) {
  Tensor a({1, 2}, DType::Int32), b({1, 1}, DType::Int32);
  a.mutable_values<std::int32_t>()[0] = 4;
  a.mutable_values<std::int32_t>()[1] = 5;
  b.mutable_values<std::int32_t>()[0] = 6;
  CallContext ctx;
  const Tensor y = run(*layers::from_config("Concatenate", "{}"), {a, b}, &ctx);
  BOOST_TEST(y.dtype() == DType::Int32);
  BOOST_TEST(y.values<std::int32_t>()[2] == 6);
  // Concatenating along time (axis 1): masks (1,2) and none (all true) -> (1, 3).
  const Tensor x1 = make({1, 2, 3}, 1), x2 = make({1, 1, 3}, 2);
  CallContext mctx;
  mctx.input_masks = {bool_mask({1, 2}, {false, true}), std::nullopt};
  run(*layers::from_config("Concatenate", R"({"axis": 1})"), {x1, x2}, &mctx);
  BOOST_TEST_REQUIRE(mctx.output_masks.size() == 1u);
  const auto m = mctx.output_masks[0]->values<bool>();
  BOOST_TEST_REQUIRE(m.size() == 3u);
  BOOST_TEST(!m[0]);
  BOOST_TEST(m[1]);
  BOOST_TEST(m[2]);
}

BOOST_AUTO_TEST_CASE(dot_over_last_axes_of_matrices_gives_b_by_1) {
  const Tensor a = make({3, 5}, 10), b = make({3, 5}, 11);
  std::vector<float> want(3, 0.0f);
  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 5; ++k) want[n] += a.f32()[n * 5 + k] * b.f32()[n * 5 + k];
  auto dot = layers::from_config("Dot", R"({"axes": -1})");
  check_close(run(*dot, {a, b}), {3, 1}, want);
  BOOST_TEST((dot->compute_output_shape({{-1, 5}, {-1, 5}})[0] == Shape{-1, 1}));
}

BOOST_AUTO_TEST_CASE(dot_with_axis_pair_on_rank3_inputs) {
  // x (2, 4, 3) axis 1 with y (2, 5, 4) axis 2 -> (2, 3, 5).
  const Tensor x = make({2, 4, 3}, 12), y = make({2, 5, 4}, 13);
  std::vector<float> want(2 * 3 * 5, 0.0f);
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j)
        for (int k = 0; k < 4; ++k)
          want[(n * 3 + i) * 5 + j] += x.f32()[(n * 4 + k) * 3 + i] * y.f32()[(n * 5 + j) * 4 + k];
  auto dot = layers::from_config("Dot", R"({"axes": [1, 2]})");
  dot->build({{-1, 4, 3}, {-1, 5, 4}});
  check_close(run(*dot, {x, y}), {2, 3, 5}, want);
  BOOST_TEST((dot->compute_output_shape({{-1, 4, 3}, {-1, 5, 4}})[0] == Shape{-1, 3, 5}));
  auto bad = layers::from_config("Dot", R"({"axes": [1, 1]})");
  BOOST_CHECK_THROW(bad->build({{-1, 4, 3}, {-1, 5, 4}}), ShapeError);
  auto batch_axis = layers::from_config("Dot", R"({"axes": 0})");
  BOOST_CHECK_THROW(batch_axis->compute_output_shape({{-1, 4}, {-1, 4}}), ShapeError);
}

BOOST_AUTO_TEST_CASE(dot_normalize_gives_cosine_similarity) {
  const Tensor a = Tensor::from_floats({1, 2}, std::vector<float>{3, 4});
  const Tensor b = Tensor::from_floats({1, 2}, std::vector<float>{4, 3});
  auto dot = layers::from_config("Dot", R"({"axes": 1, "normalize": true})");
  check_close(run(*dot, {a, b}), {1, 1}, {24.0f / 25.0f});
  const auto doc = dot->to_object_dict();
  const JsonValue& c = (*doc)["config"];
  BOOST_TEST(cfg::get_bool(c, "normalize", "t", false));
  BOOST_TEST(cfg::get_int(c, "axes", "t") == 1);
  BOOST_TEST(cfg::has_non_null(c, "dtype"));
  BOOST_TEST(cfg::get_bool(c, "trainable", "t", false));
}

BOOST_AUTO_TEST_SUITE_END()
