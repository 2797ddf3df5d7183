// A model holding a layer or a keras.ops operation kserde cannot compute still loads for
// inspect/convert (UnknownLayers::PassThrough, what the kserde command's inspect and convert use)
// and fails only at predict, naming the layer and what to do.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <string>

#include "kserde/error.hpp"
#include "kserde/model.hpp"
#include "kserde/saving.hpp"

using namespace kserde;

namespace {

// x -> Frobnicate (an operation kserde lacks) -> Dense -> Wobble (a layer kserde lacks).
const char* kGraph =
    R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "f", "trainable": true, "layers": [
 {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "sparse": false, "ragged": false, "name": "x"}, "registered_name": null, "name": "x", "inbound_nodes": []},
 {"module": "keras.src.ops.numpy", "class_name": "Frobnicate", "config": {"name": "frob"}, "registered_name": "Frobnicate", "name": "frob", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "dtype": "float32", "keras_history": ["x", 0, 0]}}], "kwargs": {}}]},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2}, "registered_name": null, "build_config": {"input_shape": [null, 3]}, "name": "d", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "dtype": "float32", "keras_history": ["frob", 0, 0]}}], "kwargs": {}}]},
 {"module": "keras.layers", "class_name": "Wobble", "config": {"name": "wob"}, "registered_name": null, "name": "wob", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 2], "dtype": "float32", "keras_history": ["d", 0, 0]}}], "kwargs": {}}]}],
 "input_layers": [["x", 0, 0]], "output_layers": [["wob", 0, 0]]}, "registered_name": "Functional", "build_config": {"input_shape": null}, "compile_config": {}})";

}  // namespace

BOOST_AUTO_TEST_SUITE(uncomputable)

BOOST_AUTO_TEST_CASE(loads_for_inspect_and_convert_and_fails_at_predict_naming_the_layers) {
  BOOST_CHECK_THROW(model_from_json(kGraph), UnknownObjectError);  // Keras's default behaviour
  LoadOptions pass;
  pass.unknown_layers = UnknownLayers::PassThrough;
  auto model = model_from_json(kGraph, pass);
  BOOST_TEST(model->get_layer("d")->variables().size() == 2u);  // built from its build_config
  const auto classes = model->uncomputable_classes();
  BOOST_TEST((classes == std::vector<std::string>{"Frobnicate", "Wobble"}));
  // The config saves back as read.
  auto original = parse_json(kGraph, "graph");
  auto saved = parse_json(to_json(*model), "saved");
  BOOST_TEST(((*original)["config"]["layers"].Size() == (*saved)["config"]["layers"].Size()));
  try {
    model->predict(Tensor({1, 3}, DType::Float32));
    BOOST_FAIL("predict should fail");
  } catch (const UnsupportedError& e) {
    const std::string m = e.what();
    BOOST_TEST(m.find("Frobnicate 'frob'") != std::string::npos, m);
    BOOST_TEST(m.find("Wobble 'wob'") != std::string::npos, m);
    BOOST_TEST(m.find("plugin") != std::string::npos, m);
    BOOST_TEST(m.find('\n') == std::string::npos, m);
  }
}

BOOST_AUTO_TEST_SUITE_END()
