// Shape and reduction operations in Functional graphs (x[:, 0], ops.reshape, ops.transpose,
// ops.mean, ops.matmul), against hand-worked results on small inputs.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>

#include "allocation_counter.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;

namespace {

std::string kt(const std::string& layer, const std::string& shape) {
  return R"({"class_name": "__keras_tensor__", "config": {"shape": )" + shape +
         R"(, "dtype": "float32", "keras_history": [")" + layer + R"(", 0, 0]}})";
}

std::string input(const std::string& name, const std::string& shape) {
  return R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": )" +
         shape + R"(, "dtype": "float32", "name": ")" + name +
         R"("}, "registered_name": null, "name": ")" + name + R"(", "inbound_nodes": []})";
}

// One input x of `shape`, one operation with `config` and positional `args`.
std::string graph(const std::string& op, const std::string& config, const std::string& args,
                  const std::string& shape, const std::string& extra_inputs = "",
                  const std::string& input_list = R"([["x", 0, 0]])",
                  const std::string& kwargs = "{}") {
  return R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "g", "layers": [)" +
         input("x", shape) + extra_inputs +
         R"(, {"module": "keras.src.ops.numpy", "class_name": ")" + op + R"(", "config": )" +
         config + R"(, "registered_name": ")" + op +
         R"(", "name": "op", "inbound_nodes": [{"args": )" + args + R"(, "kwargs": )" + kwargs +
         R"(}]}], "input_layers": )" + input_list +
         R"(, "output_layers": [["op", 0, 0]]}, "registered_name": "Functional", "build_config": {"input_shape": null}, "compile_config": {}})";
}

std::vector<float> values(const Tensor& t) {
  const auto v = t.values<float>();
  return {v.begin(), v.end()};
}

Tensor iota(Shape s) {
  Tensor t(s, DType::Float32);
  auto v = t.mutable_values<float>();
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return t;
}

const char* kSliceAll =
    R"({"class_name": "__slice__", "config": {"start": null, "stop": null, "step": null}})";

}  // namespace

BOOST_AUTO_TEST_SUITE(functional_shape_ops)

BOOST_AUTO_TEST_CASE(getitem_takes_ints_slices_ellipsis_and_newaxis) {
  // x: (2, 3, 4) = 0..23. x[:, 0] -> (2, 4) = rows 0..3 and 12..15
  auto m = model_from_json(graph("GetItem", R"({"name": "op"})",
                                 "[" + kt("x", "[null, 3, 4]") + ", [" + kSliceAll + ", 0]]",
                                 "[null, 3, 4]"));
  const Tensor y = m->predict(iota({2, 3, 4}));
  BOOST_TEST((y.shape() == Shape{2, 4}));
  BOOST_TEST((values(y) == std::vector<float>{0, 1, 2, 3, 12, 13, 14, 15}));
  // x[..., 1:4:2] -> (2, 3, 2): elements 1 and 3 of each row
  auto m2 = model_from_json(graph(
      "GetItem", R"({"name": "op"})",
      "[" + kt("x", "[null, 3, 4]") +
          R"(, [{"class_name": "__ellipsis__", "config": {}}, {"class_name": "__slice__", "config": {"start": 1, "stop": 4, "step": 2}}]])",
      "[null, 3, 4]"));
  const Tensor y2 = m2->predict(iota({1, 3, 4}));
  BOOST_TEST((y2.shape() == Shape{1, 3, 2}));
  BOOST_TEST((values(y2) == std::vector<float>{1, 3, 5, 7, 9, 11}));
  // x[:, None, -1] -> (2, 1, 4): the last row of each sample
  auto m3 = model_from_json(
      graph("GetItem", R"({"name": "op"})",
            "[" + kt("x", "[null, 3, 4]") + ", [" + kSliceAll + ", null, -1]]", "[null, 3, 4]"));
  const Tensor y3 = m3->predict(iota({2, 3, 4}));
  BOOST_TEST((y3.shape() == Shape{2, 1, 4}));
  BOOST_TEST((values(y3) == std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23}));
}

BOOST_AUTO_TEST_CASE(reshape_transpose_expand_and_squeeze) {
  auto r = model_from_json(graph("Reshape", R"({"name": "op", "newshape": [-1, 2, 3]})",
                                 "[" + kt("x", "[null, 6]") + "]", "[null, 6]"));
  BOOST_TEST((r->predict(iota({2, 6})).shape() == Shape{2, 2, 3}));
  // transpose (1, 2, 3) with axes [0, 2, 1]: [[0,1,2],[3,4,5]] -> [[0,3],[1,4],[2,5]]
  auto t = model_from_json(graph("Transpose", R"({"name": "op", "axes": [0, 2, 1]})",
                                 "[" + kt("x", "[null, 2, 3]") + "]", "[null, 2, 3]"));
  BOOST_TEST((values(t->predict(iota({1, 2, 3}))) == std::vector<float>{0, 3, 1, 4, 2, 5}));
  auto e = model_from_json(graph("ExpandDims", R"({"name": "op", "axis": -1})",
                                 "[" + kt("x", "[null, 3]") + "]", "[null, 3]"));
  BOOST_TEST((e->predict(iota({2, 3})).shape() == Shape{2, 3, 1}));
  auto s = model_from_json(graph("Squeeze", R"({"name": "op", "axis": 1})",
                                 "[" + kt("x", "[null, 1, 3]") + "]", "[null, 1, 3]"));
  BOOST_TEST((s->predict(iota({2, 1, 3})).shape() == Shape{2, 3}));
}

BOOST_AUTO_TEST_CASE(mean_and_sum_reduce_the_given_axes) {
  // (1, 2, 3) = [[0,1,2],[3,4,5]]; mean over axis 1 -> [1.5, 2.5, 3.5]
  auto m = model_from_json(graph("Mean", R"({"name": "op", "axis": [1], "keepdims": false})",
                                 "[" + kt("x", "[null, 2, 3]") + "]", "[null, 2, 3]"));
  BOOST_TEST((values(m->predict(iota({1, 2, 3}))) == std::vector<float>{1.5f, 2.5f, 3.5f}));
  // sum over the last axis with keepdims -> [[3], [12]]
  auto s = model_from_json(graph("Sum", R"({"name": "op", "axis": -1, "keepdims": true})",
                                 "[" + kt("x", "[null, 2, 3]") + "]", "[null, 2, 3]"));
  const Tensor y = s->predict(iota({1, 2, 3}));
  BOOST_TEST((y.shape() == Shape{1, 2, 1}));
  BOOST_TEST((values(y) == std::vector<float>{3, 12}));
}

BOOST_AUTO_TEST_CASE(matmul_multiplies_batched_matrices) {
  // a = [[0,1],[2,3]], b = [[0,1],[2,3]] per sample: a @ b = [[2,3],[6,11]]
  const std::string g =
      graph("Matmul", R"({"name": "op"})",
            "[" + kt("x", "[null, 2, 2]") + ", " + kt("y", "[null, 2, 2]") + "]", "[null, 2, 2]",
            ", " + input("y", "[null, 2, 2]"), R"([["x", 0, 0], ["y", 0, 0]])");
  auto m = model_from_json(g);
  const auto out = m->predict(TensorList{iota({1, 2, 2}), iota({1, 2, 2})});
  BOOST_TEST((values(out[0]) == std::vector<float>{2, 3, 6, 11}));
}

BOOST_AUTO_TEST_CASE(operation_graphs_predict_in_steady_state_without_allocating) {
  if (!test::kAllocationCounting) {
    BOOST_TEST_MESSAGE("allocation counting needs glibc's malloc; not under a sanitizer");
    return;
  }
  struct Case {
    std::string name;
    std::string json;
    TensorList inputs;
  };
  const std::vector<Case> cases = {
      {"GetItem",
       graph(
           "GetItem", R"({"name": "op"})",
           "[" + kt("x", "[null, 4, 3]") + ", [" + kSliceAll +
               R"(, 1, {"class_name": "__slice__", "config": {"start": 0, "stop": 2, "step": null}}]])",
           "[null, 4, 3]"),
       {iota({2, 4, 3})}},
      {"Reshape",
       graph("Reshape", R"({"name": "op", "newshape": [-1, 2, 3]})",
             "[" + kt("x", "[null, 6]") + "]", "[null, 6]"),
       {iota({2, 6})}},
      {"Transpose",
       graph("Transpose", R"({"name": "op", "axes": [0, 2, 1]})",
             "[" + kt("x", "[null, 2, 3]") + "]", "[null, 2, 3]"),
       {iota({2, 2, 3})}},
      {"ExpandDims",
       graph("ExpandDims", R"({"name": "op", "axis": -1})", "[" + kt("x", "[null, 3]") + "]",
             "[null, 3]"),
       {iota({2, 3})}},
      {"Mean",
       graph("Mean", R"({"name": "op", "axis": [1], "keepdims": false})",
             "[" + kt("x", "[null, 2, 3]") + "]", "[null, 2, 3]"),
       {iota({2, 2, 3})}},
      {"Sum",
       graph("Sum", R"({"name": "op", "axis": -1, "keepdims": true})",
             "[" + kt("x", "[null, 2, 3]") + "]", "[null, 2, 3]"),
       {iota({2, 2, 3})}},
      {"Add",
       graph("Add", R"({"name": "op"})", "[" + kt("x", "[null, 3]") + ", 3.0]", "[null, 3]"),
       {iota({2, 3})}},
      // A keyword argument whose name is too long for a short-string buffer, passed on each call.
      {"Add with a long keyword",
       graph("Add", R"({"name": "op"})", "[" + kt("x", "[null, 3]") + ", 3.0]", "[null, 3]", "",
             R"([["x", 0, 0]])", R"({"a_keyword_argument_with_a_long_name": false})"),
       {iota({2, 3})}},
      {"Matmul",
       graph("Matmul", R"({"name": "op"})",
             "[" + kt("x", "[null, 2, 2]") + ", " + kt("y", "[null, 2, 2]") + "]", "[null, 2, 2]",
             ", " + input("y", "[null, 2, 2]"), R"([["x", 0, 0], ["y", 0, 0]])"),
       {iota({3, 2, 2}), iota({3, 2, 2})}},
  };
  for (const Case& c : cases) {
    auto model = model_from_json(c.json);
    TensorList out = model->predict(c.inputs);
    const Tensor first = out.at(0).clone();  // before the warm-up, which then accounts for it
    for (int warm = 0; warm < 3; ++warm) out = model->predict(c.inputs);
    const long allocations = test::allocations_during([&] {
      for (int call = 0; call < 5; ++call) out = model->predict(c.inputs);
    });
    BOOST_TEST(out.at(0).bitwise_equal(first));
    BOOST_TEST(allocations == 0,
               c.name << " graph: " << allocations << " allocations in 5 predictions");
  }
}

BOOST_AUTO_TEST_SUITE_END()
