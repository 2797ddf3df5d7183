// Inference memory: a prediction frees each intermediate tensor once its last consumer has run,
// so its peak is the largest live set of the graph (counted here by hand), and the buffer cache
// never keeps more than that peak. Bytes are read from the tensor storage accounting
// (tensor_memory_stats), which counts blocks as allocated; the tensors below are 256 KiB, a whole
// number of pages, so a block is exactly a tensor.
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "kserde/functional.hpp"
#include "kserde/layers.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;

namespace {

constexpr std::int64_t kRows = 64;
constexpr std::int64_t kWidth = 1024;
constexpr std::size_t kTensor = kRows * kWidth * sizeof(float);  // 256 KiB
// Lists, shared_ptr control blocks and per-call tables: small blocks next to the tensors.
constexpr std::size_t kSlack = 64 << 10;

std::string keras_tensor(const std::string& layer) {
  return R"({"class_name": "__keras_tensor__", "config": {"shape": [null, )" +
         std::to_string(kWidth) + R"(], "dtype": "float32", "keras_history": [")" + layer +
         R"(", 0, 0]}})";
}

// A Functional graph from (name, class, input names) triples after an Input "x".
std::string graph(const std::vector<std::vector<std::string>>& layers, const std::string& out) {
  std::string s =
      R"({"module": "keras", "class_name": "Functional", "config": {"name": "g", "trainable": true, "layers": [)"
      R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, )" +
      std::to_string(kWidth) +
      R"(], "dtype": "float32", "sparse": false, "ragged": false, "name": "x"}, "registered_name": null, "name": "x", "inbound_nodes": []})";
  for (const auto& l : layers) {
    const std::string config = l[1] == "Activation" ? R"(, "activation": "relu")" : "";
    std::string args;
    for (std::size_t i = 2; i < l.size(); ++i) args += (i > 2 ? ", " : "") + keras_tensor(l[i]);
    if (l[1] == "Add") args = "[" + args + "]";
    s += R"(, {"module": "keras.layers", "class_name": ")" + l[1] + R"(", "config": {"name": ")" +
         l[0] + R"(", "trainable": true, "dtype": "float32")" + config +
         R"(}, "registered_name": null, "name": ")" + l[0] + R"(", "inbound_nodes": [{"args": [)" +
         args + R"(], "kwargs": {}}]})";
  }
  return s + R"(], "input_layers": [["x", 0, 0]], "output_layers": [[")" + out +
         R"(", 0, 0]]}, "registered_name": null, "build_config": {"input_shape": null}, "compile_config": {}})";
}

Tensor input() {
  std::vector<float> v(static_cast<std::size_t>(kRows * kWidth));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 7) - 3.0f;
  return Tensor::from_floats({kRows, kWidth}, v);
}

// Peak bytes of tensor storage a warm prediction holds beyond what was in use before it; the
// result is dropped before returning.
std::size_t peak_of_predict(Model& model, const Tensor& x) {
  model.predict(x, kRows);  // warm: later calls reuse cached blocks
  const std::size_t before = tensor_memory_stats().in_use;
  reset_tensor_memory_peak();
  { const Tensor y = model.predict(x, kRows); }
  return tensor_memory_stats().peak_in_use - before;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(liveness)

BOOST_AUTO_TEST_CASE(a_chain_holds_two_activations_at_once_not_all_of_them) {
  // x -> 8 x relu: while relu i runs, only its input and its output need to exist.
  std::vector<std::vector<std::string>> layers;
  std::string prev = "x";
  for (int i = 0; i < 8; ++i) {
    const std::string name = "r" + std::to_string(i);
    layers.push_back({name, "Activation", prev});
    prev = name;
  }
  auto model = model_from_json(graph(layers, prev));
  const Tensor x = input();
  const std::size_t peak = peak_of_predict(*model, x);
  BOOST_TEST(peak >= 2 * kTensor);
  BOOST_TEST(peak <= 2 * kTensor + kSlack,
             "peak " << peak << " bytes; two activations are " << 2 * kTensor);
  const Tensor y = model->predict(x, kRows);
  const auto xv = x.values<float>();
  const auto yv = y.values<float>();
  for (std::size_t i = 0; i < yv.size(); ++i) BOOST_TEST_REQUIRE(yv[i] == std::max(xv[i], 0.0f));
}

BOOST_AUTO_TEST_CASE(a_skip_connection_keeps_its_source_until_the_add) {
  // a = relu(x); b = relu(a); c = relu(b); d = a + c; e = relu(d). Live sets by hand: {a},
  // {a, b}, {a, b, c} while c is computed, {a, c, d} at the add, {d, e}: the peak is three
  // tensors (five if nothing were freed).
  auto model = model_from_json(graph({{"a", "Activation", "x"},
                                      {"b", "Activation", "a"},
                                      {"c", "Activation", "b"},
                                      {"d", "Add", "a", "c"},
                                      {"e", "Activation", "d"}},
                                     "e"));
  const Tensor x = input();
  const std::size_t peak = peak_of_predict(*model, x);
  BOOST_TEST(peak >= 3 * kTensor);
  BOOST_TEST(peak <= 3 * kTensor + kSlack,
             "peak " << peak << " bytes; three activations are " << 3 * kTensor);
  // relu(relu(x) + relu(relu(relu(x)))) = 2 relu(x)
  const Tensor y = model->predict(x, kRows);
  const auto xv = x.values<float>();
  const auto yv = y.values<float>();
  for (std::size_t i = 0; i < yv.size(); ++i)
    BOOST_TEST_REQUIRE(yv[i] == 2.0f * std::max(xv[i], 0.0f));
}

BOOST_AUTO_TEST_CASE(an_output_used_inside_the_graph_is_kept_to_the_end) {
  // Two outputs, one of them (a) also consumed by a later layer: a must survive its consumer.
  std::string json = graph({{"a", "Activation", "x"}, {"b", "Activation", "a"}}, "b");
  const std::string outs = R"("output_layers": [["b", 0, 0]])";
  json.replace(json.find(outs), outs.size(), R"("output_layers": [["a", 0, 0], ["b", 0, 0]])");
  auto model = model_from_json(json);
  const Tensor x = input();
  const TensorList y = model->predict(TensorList{x}, kRows);
  BOOST_TEST_REQUIRE(y.size() == 2u);
  const auto xv = x.values<float>();
  for (const Tensor& t : y) {
    const auto v = t.values<float>();
    for (std::size_t i = 0; i < v.size(); ++i) BOOST_TEST_REQUIRE(v[i] == std::max(xv[i], 0.0f));
  }
}

BOOST_AUTO_TEST_CASE(a_sequential_chain_holds_two_activations_at_once) {
  std::string json =
      R"({"module": "keras", "class_name": "Sequential", "config": {"name": "s", "trainable": true, "layers": [)"
      R"({"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, )" +
      std::to_string(kWidth) + R"(], "dtype": "float32", "name": "x"}, "registered_name": null})";
  for (int i = 0; i < 6; ++i) {
    json += R"(, {"module": "keras.layers", "class_name": "Activation", "config": {"name": "r)" +
            std::to_string(i) + R"(", "activation": "relu"}, "registered_name": null})";
  }
  json += "]}}";
  auto model = model_from_json(json);
  const std::size_t peak = peak_of_predict(*model, input());
  BOOST_TEST(peak >= 2 * kTensor);
  BOOST_TEST(peak <= 2 * kTensor + kSlack);
}

BOOST_AUTO_TEST_CASE(the_cache_keeps_no_more_than_the_largest_peak) {
  // Batches of different sizes one after the other: released blocks serve smaller requests, and
  // blocks too small for a request are returned to the system before a new one is made, so what
  // the cache holds never exceeds the most that was in use at once (tests/core/tensor checks the
  // same for blocks below 64 KiB).
  release_cached_buffers();
  auto model = model_from_json(graph({{"a", "Activation", "x"},
                                      {"b", "Activation", "a"},
                                      {"c", "Activation", "b"},
                                      {"d", "Add", "a", "c"},
                                      {"e", "Activation", "d"}},
                                     "e"));
  const Tensor x = input();
  const Tensor big = Tensor::concat_rows(std::vector<Tensor>{x, x, x, x});
  const std::size_t base = tensor_memory_stats().in_use;
  reset_tensor_memory_peak();
  std::size_t most = 0;
  for (const std::int64_t batch : {64, 16, 256, 32, 128, 256, 16}) {
    { const Tensor y = model->predict(big, batch); }
    const TensorMemoryStats s = tensor_memory_stats();
    most = std::max(most, s.peak_in_use - base);
    BOOST_TEST(s.in_use == base);
    BOOST_TEST(s.cached <= most + kSlack,
               "batch " << batch << ": cached " << s.cached << " > peak " << most);
  }
  // The largest batch needs its input copy-free slices, three activations and the result.
  BOOST_TEST(most >= 3 * 4 * kTensor);
}

BOOST_AUTO_TEST_CASE(loading_leaves_no_weights_in_the_cache) {
  // Variables made when the model is built are replaced by the file's values; both live outside
  // the cache, so nothing of the 4 x 256 KiB kernels stays cached after the load.
  test::TempDir tmp;
  {
    auto model = std::make_shared<Sequential>("dense_chain");
    model->add(layers::Input({256}));
    for (int i = 0; i < 4; ++i) model->add(layers::Dense(256));
    save_model(*model, tmp / "m.keras");
  }
  release_cached_buffers();
  const std::size_t before = tensor_memory_stats().in_use;
  auto loaded = load_model(tmp / "m.keras");
  const TensorMemoryStats s = tensor_memory_stats();
  BOOST_TEST(s.cached < kSlack, "cached " << s.cached << " bytes after loading");
  BOOST_TEST(s.in_use - before >= 4 * kTensor);  // the four kernels, held by the model
}

BOOST_AUTO_TEST_SUITE_END()
