// Keras's name lookup rules (spec §4.2) for custom classes and functions: registered names,
// custom_objects, CustomObjectScope (thread-local, innermost first), legacy bare function names,
// and safe mode.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <thread>

#include "kserde/deserializer.hpp"
#include "kserde/error.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/object_registry.hpp"
#include "kserde/saving.hpp"
#include "scaled_dense.hpp"
#include "test_support.hpp"

using namespace kserde;

namespace {

const auto kCustomLayerFile = [] { return test::golden_dir() / "custom_layer" / "model.keras"; };

LayerFactory refusing_factory(const std::string& who) {
  return [who](std::shared_ptr<JsonDocument>, Deserializer&) -> std::shared_ptr<Layer> {
    throw ConfigError("factory of " + who + " was chosen");
  };
}

// A Sequential(Input(3), Dense(2, activation=<value>)) config with the activation given as JSON.
std::string dense_model_json(const std::string& activation_json) {
  return R"({"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
    {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "name": "in"}, "registered_name": null},
    {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2, "activation": )" +
         activation_json + R"(}, "registered_name": null}]}, "registered_name": null})";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(custom_objects)

BOOST_AUTO_TEST_CASE(registered_class_is_found_by_its_package_name) {
  register_keras_serializable<test::ScaledDense>("MyLayers", "ScaledDense");
  auto model = load_model(kCustomLayerFile());
  registered_layers().remove("MyLayers>ScaledDense");
  std::string detail;
  BOOST_TEST(test::allclose(model->predict(io::read_npy(test::golden_dir() / "custom_layer/input.npy")),
                            io::read_npy(test::golden_dir() / "custom_layer/expected.npy"), 1e-5,
                            1e-6, &detail),
             detail);
  BOOST_CHECK_THROW(load_model(kCustomLayerFile()), UnknownObjectError);
}

BOOST_AUTO_TEST_CASE(custom_objects_key_must_be_the_registered_name) {
  LoadOptions bare;
  bare.custom_objects.add_layer<test::ScaledDense>("ScaledDense");  // Keras: not found either
  BOOST_CHECK_THROW(load_model(kCustomLayerFile(), bare), UnknownObjectError);
  LoadOptions full;
  full.custom_objects.add_layer<test::ScaledDense>("MyLayers>ScaledDense");
  BOOST_TEST(load_model(kCustomLayerFile(), full)->layers().size() == 2u);
}

BOOST_AUTO_TEST_CASE(scope_wins_over_global_registry_which_wins_over_argument) {
  LoadOptions argument;
  argument.custom_objects.add_layer("MyLayers>ScaledDense", refusing_factory("argument"));
  registered_layers().add("MyLayers>ScaledDense", refusing_factory("global"), "test");
  try {
    load_model(kCustomLayerFile(), argument);
    BOOST_FAIL("expected the global factory to be chosen");
  } catch (const ConfigError& e) {
    BOOST_TEST(std::string(e.what()).find("factory of global") != std::string::npos, e.what());
  }
  {
    CustomObjects outer;
    outer.add_layer("MyLayers>ScaledDense", refusing_factory("outer scope"));
    CustomObjectScope outer_scope(outer);
    CustomObjects inner;
    inner.add_layer<test::ScaledDense>("MyLayers>ScaledDense");
    {
      CustomObjectScope inner_scope(inner);
      BOOST_TEST(load_model(kCustomLayerFile(), argument)->layers().size() == 2u);
    }
    try {
      load_model(kCustomLayerFile(), argument);
      BOOST_FAIL("expected the outer scope's factory");
    } catch (const ConfigError& e) {
      BOOST_TEST(std::string(e.what()).find("factory of outer scope") != std::string::npos, e.what());
    }
  }
  registered_layers().remove("MyLayers>ScaledDense");
  BOOST_TEST(CustomObjectScope::active().empty());
}

BOOST_AUTO_TEST_CASE(scopes_are_thread_local) {
  CustomObjects objects;
  objects.add_layer<test::ScaledDense>("MyLayers>ScaledDense");
  CustomObjectScope scope(objects);
  BOOST_TEST(load_model(kCustomLayerFile())->layers().size() == 2u);
  bool other_thread_failed = false;
  std::thread t([&] {
    try {
      load_model(kCustomLayerFile());
    } catch (const UnknownObjectError&) {
      other_thread_failed = true;
    }
  });
  t.join();
  BOOST_TEST(other_thread_failed);
}

BOOST_AUTO_TEST_CASE(functions_resolve_by_registered_name_and_legacy_bare_name) {
  const Tensor x = Tensor::from_floats({1, 3}, std::vector<float>{1, 2, 3});
  const std::string function_dict =
      R"({"module": "builtins", "class_name": "function", "config": "MyLayers>scaled_tanh", "registered_name": "function"})";
  BOOST_CHECK_THROW(model_from_json(dense_model_json(function_dict)), UnknownObjectError);
  LoadOptions o;
  o.custom_objects.add_function("MyLayers>scaled_tanh", test::scaled_tanh);
  auto with_dict = model_from_json(dense_model_json(function_dict), o);
  // Keras <= 3.6 wrote the bare name; it matches any registered "<pkg>>scaled_tanh".
  auto with_bare = model_from_json(dense_model_json(R"("scaled_tanh")"), o);
  auto linear = model_from_json(dense_model_json(R"("linear")"));
  for (auto* m : {with_dict.get(), with_bare.get(), linear.get()}) {
    auto d = m->layers()[0];
    d->set_weights({Tensor::from_floats({3, 2}, std::vector<float>{0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}),
                    Tensor::from_floats({2}, std::vector<float>{0.05f, -0.05f})});
  }
  // x @ W + b = [1*0.1+2*0.3-3*0.5+0.05, -1*0.2+2*0.4+3*0.6-0.05] = [-0.75, 2.35]
  const Tensor lin_t = linear->predict(x);
  const auto lin = lin_t.values<float>();
  BOOST_TEST(lin[0] == -0.75f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(lin[1] == 2.35f, boost::test_tools::tolerance(1e-6f));
  for (auto* m : {with_dict.get(), with_bare.get()}) {
    const Tensor y_t = m->predict(x);
    const auto y = y_t.values<float>();
    BOOST_TEST(y[0] == 1.7159f * std::tanh(-0.75f * 2.0f / 3.0f), boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(y[1] == 1.7159f * std::tanh(2.35f * 2.0f / 3.0f), boost::test_tools::tolerance(1e-6f));
  }
}

BOOST_AUTO_TEST_CASE(safe_mode_refuses_python_lambdas) {
  const std::string lambda_layer = R"({"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
    {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "name": "in"}, "registered_name": null},
    {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "l", "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA", "defaults": null, "closure": null}}}, "registered_name": null}]}, "registered_name": null})";
  BOOST_CHECK_THROW(model_from_json(lambda_layer), SafeModeError);
  const std::string lambda_activation = dense_model_json(
      R"({"class_name": "__lambda__", "config": {"value": ["4wEAAAAAAAAA", null, null]}})");
  BOOST_CHECK_THROW(model_from_json(lambda_activation), SafeModeError);
  // Outside safe mode the Lambda is carried through (never run): inspect/convert work, predict
  // names it.
  LoadOptions unsafe;
  unsafe.safe_mode = false;
  unsafe.unknown_layers = UnknownLayers::PassThrough;
  auto model = model_from_json(lambda_layer, unsafe);
  BOOST_TEST((model->uncomputable_classes() == std::vector<std::string>{"Lambda"}));
  BOOST_CHECK_THROW(model->predict(Tensor({1, 3}, DType::Float32)), UnsupportedError);
  BOOST_TEST(to_json(*model).find("__lambda__") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
