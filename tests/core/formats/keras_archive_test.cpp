// The .keras format end to end: the identity proof, round trips of real Keras files (config as
// JSON values, HDF5 paths/attributes/bytes read back by libhdf5), and typed errors on bad input.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "h5_reference.hpp"
#include "kserde/error.hpp"
#include "kserde/initializers.hpp"
#include "kserde/io/archive.hpp"
#include "kserde/io/mapped_file.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/layers.hpp"
#include "kserde/saving.hpp"
#include "scaled_dense.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

std::string member(const fs::path& archive, const std::string& name) {
  auto zip = io::ArchiveReader::open(archive);
  auto src = zip.member(name);
  return {reinterpret_cast<const char*>(src.bytes.data()), src.bytes.size()};
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// Copies an archive, replacing (or dropping, when the value is null) some members.
void rewrite_archive(const fs::path& in, const fs::path& out,
                     const std::map<std::string, const char*>& replace) {
  auto zip = io::ArchiveReader::open(in);
  io::ArchiveWriter w(out);
  for (const auto& m : zip.members()) {
    auto it = replace.find(m.name);
    if (it != replace.end()) {
      if (it->second != nullptr) w.add(m.name, std::string_view(it->second));
      continue;
    }
    auto src = zip.member(m.name);
    w.add(m.name, src.bytes);
  }
  w.finish();
}

std::map<std::string, test::H5Object> weights_via_libhdf5(const fs::path& archive,
                                                          const test::TempDir& tmp,
                                                          const std::string& tag) {
  const fs::path h5 = tmp / (tag + ".h5");
  write_file(h5, member(archive, "model.weights.h5"));
  return test::read_with_libhdf5(h5);
}

LoadOptions with_custom_objects() {
  LoadOptions o;
  o.custom_objects.add_layer<test::ScaledDense>("MyLayers>ScaledDense");
  return o;
}

// A layer whose config cannot be produced: saving a model that contains it must fail cleanly.
class ExplodingLayer final : public Layer {
 public:
  ExplodingLayer() : Layer(make_dict()) {}
  TensorList call(const TensorList& in, CallContext&) override { return in; }
  std::shared_ptr<JsonDocument> to_object_dict() const override {
    throw Error("ExplodingLayer cannot be serialized");
  }

 private:
  static std::shared_ptr<JsonDocument> make_dict() {
    auto d = std::make_shared<JsonDocument>();
    d->Parse(R"({"module": "tests", "class_name": "ExplodingLayer", "config": {"name": "boom"}})");
    return d;
  }
};

std::shared_ptr<Sequential> seed_model() {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({784}));
  m->add(layers::Dense(32, "relu"));
  m->add(layers::Dense(10, "softmax"));
  initialize_weights(*m, 42);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(keras_archive)

BOOST_AUTO_TEST_CASE(seed_model_saved_and_loaded_predicts_bitwise_identically) {
  test::TempDir tmp;
  auto model = seed_model();
  const Tensor x = test::random_tensor({8, 784}, 3);
  const Tensor before = model->predict(x);
  save_model(*model, tmp / "my_model.keras");
  auto loaded = load_model(tmp / "my_model.keras");
  BOOST_TEST(loaded->class_name() == "Sequential");
  BOOST_TEST(loaded->predict(x).bitwise_equal(before));
  const auto a = model->layers();
  const auto b = loaded->layers();
  BOOST_TEST_REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    BOOST_TEST(a[i]->name() == b[i]->name());
    BOOST_TEST_REQUIRE(a[i]->variables().size() == b[i]->variables().size());
    for (std::size_t k = 0; k < a[i]->variables().size(); ++k) {
      BOOST_TEST(a[i]->variables()[k].value.bitwise_equal(b[i]->variables()[k].value));
    }
  }
}

BOOST_AUTO_TEST_CASE(saved_archive_has_the_layout_keras_writes) {
  test::TempDir tmp;
  auto model = seed_model();
  save_model(*model, tmp / "m.keras");
  auto zip = io::ArchiveReader::open(tmp / "m.keras");
  std::vector<std::string> names;
  for (const auto& m : zip.members()) {
    names.push_back(m.name);
    BOOST_TEST(m.stored);
  }
  BOOST_TEST(
      (names == std::vector<std::string>{"metadata.json", "config.json", "model.weights.h5"}));
  // Same HDF5 paths, attributes, dtypes and shapes as Keras's own save of this architecture.
  const auto ours = weights_via_libhdf5(tmp / "m.keras", tmp, "ours");
  const auto keras = weights_via_libhdf5(test::golden_dir() / "mlp" / "model.keras", tmp, "keras");
  BOOST_TEST_REQUIRE(ours.size() == keras.size());
  for (const auto& [path, obj] : keras) {
    auto it = ours.find(path);
    BOOST_TEST_REQUIRE((it != ours.end()), "missing " << path);
    BOOST_TEST(it->second.is_dataset == obj.is_dataset, path);
    BOOST_TEST(it->second.type == obj.type, path);
    BOOST_TEST((it->second.shape == obj.shape), path);
    BOOST_TEST((it->second.attributes == obj.attributes), path);
  }
  auto metadata = parse_json(member(tmp / "m.keras", "metadata.json"), "metadata.json");
  BOOST_TEST(metadata->MemberCount() == 2u);
  BOOST_TEST((*metadata)["keras_version"].IsString());
  BOOST_TEST((*metadata)["date_saved"].IsString());
}

BOOST_AUTO_TEST_CASE(real_keras_files_round_trip_config_and_weights_unchanged) {
  for (const char* name :
       {"mlp", "trained_adam", "nested", "sharded_weights", "custom_layer", "functional", "cnn",
        "norm", "embedding", "masking_lstm", "dtype_mixed_float16"}) {
    BOOST_TEST_CONTEXT(name) {
      test::TempDir tmp;
      const fs::path original = test::golden_dir() / name / "model.keras";
      LoadOptions options = with_custom_objects();
      options.unknown_layers =
          UnknownLayers::PassThrough;  // layers without an implementation pass through
      auto model = load_model(original, options);
      save_model(*model, tmp / "copy.keras");
      auto c1 = parse_json(member(original, "config.json"), "original");
      auto c2 = parse_json(member(tmp / "copy.keras", "config.json"), "copy");
      BOOST_TEST((*c1 == *c2), "config.json differs:\n" << to_json(*c1) << "\n" << to_json(*c2));
      const auto w1 = weights_via_libhdf5(original, tmp, "a");
      const auto w2 = weights_via_libhdf5(tmp / "copy.keras", tmp, "b");
      BOOST_TEST(w1.size() == w2.size());
      for (const auto& [path, obj] : w1) {
        auto it = w2.find(path);
        BOOST_TEST_REQUIRE((it != w2.end()), "missing " << path);
        BOOST_TEST(it->second.type == obj.type, path);
        BOOST_TEST((it->second.shape == obj.shape), path);
        BOOST_TEST((it->second.bytes == obj.bytes), path);
        BOOST_TEST((it->second.attributes == obj.attributes), path);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(trained_adam_keeps_its_optimizer_state) {
  test::TempDir tmp;
  auto model = load_model(test::golden_dir() / "trained_adam" / "model.keras");
  BOOST_TEST_REQUIRE(model->optimizer().has_value());
  BOOST_TEST(model->optimizer()->class_name() == "Adam");
  BOOST_TEST(model->optimizer()->variables.size() == 10u);  // case.json: optimizer/vars/0..9
  // iteration counter: 5 optimizer steps (case.json optimizer_iterations).
  BOOST_TEST(model->optimizer()->variables[0].value.to(DType::Int64).values<std::int64_t>()[0] ==
             5);
  LoadOptions no_compile;
  no_compile.compile = false;
  auto plain = load_model(test::golden_dir() / "trained_adam" / "model.keras", no_compile);
  BOOST_TEST(!plain->optimizer().has_value());
  BOOST_TEST(!plain->is_compiled());
}

BOOST_AUTO_TEST_CASE(weights_only_file_loads_into_a_model_built_from_the_config) {
  const fs::path mlp = test::golden_dir() / "mlp";
  auto model = model_from_json(io::read_text_file(mlp / "model_unzipped" / "config.json", 1 << 20));
  load_weights(*model, mlp / "model.weights.h5");
  std::string detail;
  BOOST_TEST(test::allclose(model->predict(io::read_npy(mlp / "input.npy")),
                            io::read_npy(mlp / "expected.npy"), 1e-5, 1e-6, &detail),
             detail);
}

BOOST_AUTO_TEST_CASE(unzipped_directory_loads_as_a_model) {
  const fs::path mlp = test::golden_dir() / "mlp";
  auto model = load_model(mlp / "model_unzipped");
  std::string detail;
  BOOST_TEST(test::allclose(model->predict(io::read_npy(mlp / "input.npy")),
                            io::read_npy(mlp / "expected.npy"), 1e-5, 1e-6, &detail),
             detail);
}

BOOST_AUTO_TEST_CASE(directory_form_round_trips) {
  test::TempDir tmp;
  auto model = seed_model();
  save_model(*model, tmp / "saved_model_dir");
  BOOST_TEST(fs::is_directory(tmp / "saved_model_dir" / "assets"));
  auto loaded = load_model(tmp / "saved_model_dir");
  const Tensor x = test::random_tensor({4, 784}, 9);
  BOOST_TEST(loaded->predict(x).bitwise_equal(model->predict(x)));
}

BOOST_AUTO_TEST_CASE(sharded_weights_load_into_the_model) {
  const fs::path dir = test::golden_dir() / "sharded_weights";
  auto model = load_model(dir / "model.keras");
  for (const auto& l : model->layers()) {
    for (auto& v : l->variables()) v.value = Tensor(v.value.shape(), v.value.dtype());
  }
  load_weights(*model, dir / "sharded" / "model.weights.json");
  std::string detail;
  BOOST_TEST(test::allclose(model->predict(io::read_npy(dir / "input.npy")),
                            io::read_npy(dir / "expected.npy"), 1e-5, 1e-6, &detail),
             detail);
}

BOOST_AUTO_TEST_CASE(architecture_json_round_trips) {
  test::TempDir tmp;
  auto model = seed_model();
  const std::string json = to_json(*model);
  auto again = model_from_json(json);
  BOOST_TEST(to_json(*again) == json);
  save_model(*model, tmp / "arch.json");
  auto loaded = load_model(tmp / "arch.json");
  BOOST_TEST(to_json(*loaded) == json);
  save_weights(*model, tmp / "w.weights.h5");
  load_weights(*loaded, tmp / "w.weights.h5");
  const Tensor x = test::random_tensor({2, 784}, 4);
  BOOST_TEST(loaded->predict(x).bitwise_equal(model->predict(x)));
}

BOOST_AUTO_TEST_CASE(bad_inputs_give_typed_errors) {
  test::TempDir tmp;
  const fs::path mlp = test::golden_dir() / "mlp" / "model.keras";
  BOOST_CHECK_THROW(load_model(tmp / "missing.keras"), IoError);

  write_file(tmp / "text.keras", "this is not a zip archive");
  BOOST_CHECK_THROW(load_model(tmp / "text.keras"), FormatError);

  rewrite_archive(mlp, tmp / "noconfig.keras", {{"config.json", nullptr}});
  BOOST_CHECK_THROW(load_model(tmp / "noconfig.keras"), FormatError);

  rewrite_archive(mlp, tmp / "badjson.keras", {{"config.json", "{\"module\": \"keras\", "}});
  BOOST_CHECK_THROW(load_model(tmp / "badjson.keras"), ConfigError);

  rewrite_archive(mlp, tmp / "noweights.keras", {{"model.weights.h5", nullptr}});
  BOOST_CHECK_THROW(load_model(tmp / "noweights.keras"), FormatError);
}

BOOST_AUTO_TEST_CASE(unknown_class_error_names_the_class_the_layer_and_three_remedies) {
  test::TempDir tmp;
  const fs::path file = test::golden_dir() / "custom_layer" / "model.keras";
  try {
    load_model(file);
    BOOST_FAIL("expected UnknownObjectError");
  } catch (const UnknownObjectError& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("MyLayers>ScaledDense") != std::string::npos, msg);
    BOOST_TEST(msg.find("scaled_dense") != std::string::npos, msg);
    BOOST_TEST(msg.find("register") != std::string::npos, msg);
    BOOST_TEST(msg.find("custom_objects") != std::string::npos, msg);
    BOOST_TEST(msg.find("plugin") != std::string::npos, msg);
  }
}

BOOST_AUTO_TEST_CASE(weight_shape_and_count_mismatches_name_the_layer_and_both_shapes) {
  test::TempDir tmp;
  const fs::path mlp = test::golden_dir() / "mlp" / "model.keras";
  std::string config = member(mlp, "config.json");
  // dense_1 has 10 units in the file; ask for 11.
  const std::string wider =
      std::string(config).replace(config.find("\"units\": 10"), 11, "\"units\": 11");
  rewrite_archive(mlp, tmp / "wider.keras", {{"config.json", wider.c_str()}});
  try {
    load_model(tmp / "wider.keras");
    BOOST_FAIL("expected ShapeError");
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("dense_1") != std::string::npos, msg);
    BOOST_TEST(msg.find("(32, 10)") != std::string::npos, msg);
    BOOST_TEST(msg.find("(32, 11)") != std::string::npos, msg);
  }
  const std::string no_bias =
      std::string(config).replace(config.rfind("\"use_bias\": true"), 16, "\"use_bias\": false");
  rewrite_archive(mlp, tmp / "nobias.keras", {{"config.json", no_bias.c_str()}});
  try {
    load_model(tmp / "nobias.keras");
    BOOST_FAIL("expected ShapeError");
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    BOOST_TEST(msg.find("dense_1") != std::string::npos, msg);
    BOOST_TEST(msg.find("expected 1 variables") != std::string::npos, msg);
  }
}

BOOST_AUTO_TEST_CASE(failed_save_leaves_the_previous_file_in_place) {
  test::TempDir tmp;
  const fs::path target = tmp / "model.keras";
  write_file(target, "previous content");
  auto model = seed_model();
  model->add(std::make_shared<ExplodingLayer>());
  BOOST_CHECK_THROW(save_model(*model, target), Error);
  BOOST_TEST(io::read_text_file(target, 1024) == "previous content");
  BOOST_CHECK_THROW(save_model(*seed_model(), tmp / "no_such_dir" / "m.keras"), IoError);
  BOOST_TEST(!fs::exists(tmp / "no_such_dir"));
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    BOOST_TEST(e.path().filename() == "model.keras", "stray file " << e.path());
  }
}

BOOST_AUTO_TEST_SUITE_END()
