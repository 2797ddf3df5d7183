// Raw operations inside Functional graphs (x + 3.0, ops.multiply): computed from the saved
// arguments, kept out of model.layers (no weights group), and saved back unchanged.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>

#include "kserde/functional.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;

namespace {

// relu6(x + 3) * (1/6): MobileNetV3's hard sigmoid as Keras 3 saves it.
const char* kHardSigmoidGraph = R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "f", "trainable": true, "layers": [
 {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "sparse": false, "ragged": false, "name": "x"}, "registered_name": null, "name": "x", "inbound_nodes": []},
 {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add"}, "registered_name": "Add", "name": "add", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "dtype": "float32", "keras_history": ["x", 0, 0]}}, 3.0], "kwargs": {}}]},
 {"module": "keras.layers", "class_name": "ReLU", "config": {"name": "re_lu", "max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0}, "registered_name": null, "name": "re_lu", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "dtype": "float32", "keras_history": ["add", 0, 0]}}], "kwargs": {}}]},
 {"module": "keras.src.ops.numpy", "class_name": "Multiply", "config": {"name": "multiply"}, "registered_name": "Multiply", "name": "multiply", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "dtype": "float32", "keras_history": ["re_lu", 0, 0]}}, 0.16666666666666666], "kwargs": {}}]}],
 "input_layers": [["x", 0, 0]], "output_layers": [["multiply", 0, 0]]}, "registered_name": "Functional", "build_config": {"input_shape": null}, "compile_config": {}})";

}  // namespace

BOOST_AUTO_TEST_SUITE(functional_ops)

BOOST_AUTO_TEST_CASE(operations_with_constant_arguments_compute_like_keras) {
  auto model = model_from_json(kHardSigmoidGraph);
  const Tensor y = model->predict(Tensor::from_floats({1, 3}, std::vector<float>{-4, 0, 1}));
  // relu6(-1) / 6 = 0; relu6(3) / 6 = 0.5; relu6(4) / 6 = 2/3
  const auto v = y.values<float>();
  BOOST_TEST(v[0] == 0.0f);
  BOOST_TEST(v[1] == 0.5f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(v[2] == 2.0f / 3.0f, boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(operations_are_not_layers_and_save_back_unchanged) {
  auto model = model_from_json(kHardSigmoidGraph);
  std::vector<std::string> names;
  for (const auto& l : model->layers()) names.push_back(l->name());
  BOOST_TEST((names == std::vector<std::string>{"x", "re_lu"}));
  auto original = parse_json(kHardSigmoidGraph, "graph");
  auto saved = parse_json(to_json(*model), "saved");
  const auto& a = (*original)["config"]["layers"];
  const auto& b = (*saved)["config"]["layers"];
  BOOST_TEST_REQUIRE(a.Size() == b.Size());
  for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
    BOOST_TEST(std::string(a[i]["name"].GetString()) == b[i]["name"].GetString());
    BOOST_TEST((a[i]["inbound_nodes"] == b[i]["inbound_nodes"]));
    BOOST_TEST((a[i]["module"] == b[i]["module"]));
  }
}

BOOST_AUTO_TEST_SUITE_END()
