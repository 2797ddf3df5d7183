// A Functional model with GroupedQueryAttention through the .keras format: its sub-layers' weights
// sit under Keras's private attribute names (in the group named after the class, spec §5.2) (read
// back with libhdf5), and the loaded model predicts bitwise what the saved one did.
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <string>

#include "h5_reference.hpp"
#include "kserde/io/archive.hpp"
#include "kserde/layers.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

constexpr const char* kGqaModel =
    R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "gqa_model", "trainable": true, "layers": [)"
    R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3, 4], "dtype": "float32", "sparse": false, "ragged": false, "name": "tokens"}, "registered_name": null, "name": "tokens", "inbound_nodes": []}, )"
    R"({"module": "keras.layers", "class_name": "GroupedQueryAttention", "config": {"name": "gqa", "trainable": true, "head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2, "use_gate": true}, "registered_name": null, "build_config": {"shapes_dict": {"query_shape": [null, 3, 4], "value_shape": [null, 3, 4]}}, "name": "gqa", "inbound_nodes": [{"args": [)"
    R"({"class_name": "__keras_tensor__", "config": {"shape": [null, 3, 4], "dtype": "float32", "keras_history": ["tokens", 0, 0]}}, )"
    R"({"class_name": "__keras_tensor__", "config": {"shape": [null, 3, 4], "dtype": "float32", "keras_history": ["tokens", 0, 0]}}], "kwargs": {}}]})"
    R"(], "input_layers": [["tokens", 0, 0]], "output_layers": [["gqa", 0, 0]]}, "registered_name": "Functional", "build_config": {"input_shape": null}, "compile_config": null})";

std::vector<float> ramp(std::size_t n, float step, float offset) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = offset + step * static_cast<float>((i * 7) % 11) - step * 5.0f;
  }
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(grouped_query_attention_file)

BOOST_AUTO_TEST_CASE(sub_layer_weights_use_keras_private_attribute_paths_and_round_trip) {
  auto model = model_from_json(kGqaModel);
  std::shared_ptr<Layer> gqa;
  for (const auto& l : model->layers()) {
    if (l->name() == "gqa") gqa = l;
  }
  BOOST_REQUIRE(gqa);
  std::uint32_t seed = 1;
  for (const auto& child : gqa->tracked_children()) {
    Layer& sub = *child.layers.at(0);
    TensorList values;
    for (const Variable& v : sub.variables()) {
      values.push_back(Tensor::from_floats(
          v.value.shape(),
          ramp(static_cast<std::size_t>(v.value.num_elements()), 0.05f, 0.01f * seed++)));
    }
    sub.set_weights(values);
  }
  const Tensor x = Tensor::from_floats({2, 3, 4}, ramp(24, 0.1f, 0.0f));
  const Tensor before = model->predict(x);

  test::TempDir tmp;
  save_model(*model, tmp / "gqa.keras");
  auto zip = io::ArchiveReader::open(tmp / "gqa.keras");
  auto weights = zip.member("model.weights.h5");
  {
    std::ofstream(tmp / "w.h5", std::ios::binary)
        .write(reinterpret_cast<const char*>(weights.bytes.data()),
               static_cast<std::streamsize>(weights.bytes.size()));
  }
  const auto objects = test::read_with_libhdf5(tmp / "w.h5");
  const std::map<std::string, std::vector<unsigned long long>> want{
      {"/layers/grouped_query_attention/_query_dense/vars/0", {4, 4, 2}},
      {"/layers/grouped_query_attention/_query_dense/vars/1", {4, 2}},
      {"/layers/grouped_query_attention/_key_dense/vars/0", {4, 2, 2}},
      {"/layers/grouped_query_attention/_key_dense/vars/1", {2, 2}},
      {"/layers/grouped_query_attention/_value_dense/vars/0", {4, 2, 2}},
      {"/layers/grouped_query_attention/_value_dense/vars/1", {2, 2}},
      {"/layers/grouped_query_attention/_output_dense/vars/0", {4, 2, 4}},
      {"/layers/grouped_query_attention/_output_dense/vars/1", {4}},
      {"/layers/grouped_query_attention/_gate_dense/vars/0", {4, 4, 2}},
      {"/layers/grouped_query_attention/_gate_dense/vars/1", {4, 2}}};
  for (const auto& [path, shape] : want) {
    auto it = objects.find(path);
    BOOST_TEST_REQUIRE((it != objects.end()), path << " missing");
    BOOST_TEST(it->second.is_dataset);
    BOOST_TEST(it->second.shape == shape, path);
  }
  for (const char* group :
       {"/layers/grouped_query_attention/vars", "/layers/grouped_query_attention/_softmax/vars",
        "/layers/grouped_query_attention/_dropout_layer/vars"}) {
    BOOST_TEST(objects.count(group) == 1u, group);
  }

  auto loaded = load_model(tmp / "gqa.keras");
  const Tensor after = loaded->predict(x);
  BOOST_TEST(after.bitwise_equal(before));
}

BOOST_AUTO_TEST_SUITE_END()
