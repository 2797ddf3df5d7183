// The `kserde` command as scripts use it: exit status, stdout, one-line errors, files written.
#include <rapidjson/document.h>
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "kserde/io/mapped_file.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/json.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

struct Run {
  int status = -1;
  std::string out;
  std::string err;
};

Run run(const std::string& args, const test::TempDir& tmp) {
  const fs::path out = tmp / "stdout.txt";
  const fs::path err = tmp / "stderr.txt";
  const std::string cmd =
      std::string(KSERDE_CLI) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int raw = std::system(cmd.c_str());
  Run r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = io::read_text_file(out, 64 << 20);
  r.err = io::read_text_file(err, 64 << 20);
  return r;
}

std::size_t lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

std::string golden(const std::string& rel) {
  return (test::golden_dir() / rel).string();
}

void expect_close(const fs::path& actual, const fs::path& expected) {
  std::string detail;
  BOOST_TEST(test::allclose(io::read_npy(actual), io::read_npy(expected), 1e-5, 1e-6, &detail),
             actual << ": " << detail);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(version_and_help_exit_zero) {
  test::TempDir tmp;
  Run v = run("--version", tmp);
  BOOST_TEST(v.status == 0);
  BOOST_TEST(v.out.rfind("kserde ", 0) == 0u);
  Run h = run("--help", tmp);
  BOOST_TEST(h.status == 0);
  BOOST_TEST(h.out.find("inspect") != std::string::npos);
  Run bad = run("frobnicate", tmp);
  BOOST_TEST(bad.status == 2);
}

BOOST_AUTO_TEST_CASE(inspect_prints_layers_and_hand_counted_parameters) {
  test::TempDir tmp;
  Run r = run("inspect " + golden("mlp/model.keras"), tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  BOOST_TEST(r.out.find("dense (Dense)") != std::string::npos);
  BOOST_TEST(r.out.find("dense_1 (Dense)") != std::string::npos);
  BOOST_TEST(r.out.find("(None, 32)") != std::string::npos);
  // 784*32+32 = 25,120 and 32*10+10 = 330; total 25,450.
  BOOST_TEST(r.out.find("25,120") != std::string::npos);
  BOOST_TEST(r.out.find("Total params: 25,450") != std::string::npos);
  BOOST_TEST(r.out.find("3.16.0") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(inspect_json_is_machine_readable) {
  test::TempDir tmp;
  Run r = run("inspect --json " + golden("trained_adam/model.keras"), tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  auto doc = parse_json(r.out, "inspect --json");
  // 8*16+16 + 16*3+3 = 195 (hand-counted from case.json shapes).
  BOOST_TEST((*doc)["total_params"].GetInt64() == 195);
  BOOST_TEST(std::string((*doc)["optimizer"]["class_name"].GetString()) == "Adam");
  BOOST_TEST((*doc)["layers"].Size() == 2u);
}

BOOST_AUTO_TEST_CASE(inspect_shows_functional_connections) {
  test::TempDir tmp;
  Run r = run("inspect " + golden("functional/model.keras"), tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  BOOST_TEST(r.out.find("Connected to") != std::string::npos);
  BOOST_TEST(r.out.find("branch_a") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(predict_writes_keras_numbers) {
  test::TempDir tmp;
  Run r = run("predict " + golden("mlp/model.keras") + " --input " + golden("mlp/input.npy") +
                  " --output " + (tmp / "y.npy").string() + " --batch-size 3",
              tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  expect_close(tmp / "y.npy", test::golden_dir() / "mlp/expected.npy");
}

BOOST_AUTO_TEST_CASE(predict_with_two_inputs_writes_one_file_per_output) {
  test::TempDir tmp;
  Run r = run("predict " + golden("functional/model.keras") + " --input " +
                  golden("functional/input_0.npy") + " --input " +
                  golden("functional/input_1.npy") + " --output " + (tmp / "y.npy").string(),
              tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  expect_close(tmp / "y_0.npy", test::golden_dir() / "functional/expected_0.npy");
  expect_close(tmp / "y_1.npy", test::golden_dir() / "functional/expected_1.npy");
}

// Inputs larger than --batch-size are streamed a batch at a time; the files must hold exactly what
// one whole prediction gives (kserde's kernels do not depend on the batch a row is in).
BOOST_AUTO_TEST_CASE(streamed_predict_writes_what_one_whole_prediction_writes) {
  test::TempDir tmp;
  const Tensor x = io::read_npy(test::golden_dir() / "mlp/input.npy");
  const Tensor big = Tensor::concat_rows(std::vector<Tensor>{x, x, x, x, x});  // 5 x the rows
  io::write_npy(tmp / "big.npy", big);
  auto model = load_model(test::golden_dir() / "mlp/model.keras");
  const std::string whole = io::serialize_npy(model->predict(big, big.dim(0)));
  for (const char* batch : {"1", "3", "7"}) {
    Run r = run("predict " + golden("mlp/model.keras") + " --input " + (tmp / "big.npy").string() +
                    " --output " + (tmp / "y.npy").string() + " --batch-size " + batch,
                tmp);
    BOOST_TEST_REQUIRE(r.status == 0, r.err);
    BOOST_TEST(r.err.empty());  // no progress bar when stderr is not a terminal
    BOOST_TEST(io::read_text_file(tmp / "y.npy", 64 << 20) == whole, "batch size " << batch);
  }
  // Two inputs, two outputs, one row per batch.
  Run one = run("predict " + golden("functional/model.keras") + " --input " +
                    golden("functional/input_0.npy") + " --input " +
                    golden("functional/input_1.npy") + " --output " + (tmp / "w.npy").string(),
                tmp);
  BOOST_TEST_REQUIRE(one.status == 0, one.err);
  Run streamed =
      run("predict " + golden("functional/model.keras") + " --input " +
              golden("functional/input_0.npy") + " --input " + golden("functional/input_1.npy") +
              " --output " + (tmp / "s.npy").string() + " --batch-size 1",
          tmp);
  BOOST_TEST_REQUIRE(streamed.status == 0, streamed.err);
  for (const char* k : {"_0.npy", "_1.npy"}) {
    BOOST_TEST(io::read_text_file(tmp / (std::string("s") + k), 64 << 20) ==
               io::read_text_file(tmp / (std::string("w") + k), 64 << 20));
  }
  // Inputs whose row counts differ are still refused, in one line.
  io::write_npy(
      tmp / "short.npy",
      io::read_npy(test::golden_dir() / "functional/input_1.npy").slice_rows(0, 2).clone());
  Run bad = run("predict " + golden("functional/model.keras") + " --input " +
                    golden("functional/input_0.npy") + " --input " + (tmp / "short.npy").string() +
                    " --output " + (tmp / "b.npy").string() + " --batch-size 1",
                tmp);
  BOOST_TEST(bad.status == 1);
  BOOST_TEST(lines(bad.err) == 1u);
  BOOST_TEST(!fs::exists(tmp / "b_0.npy"));
}

BOOST_AUTO_TEST_CASE(convert_writes_every_format_and_each_reloads) {
  test::TempDir tmp;
  for (const char* target : {"copy.keras", "copy_dir", "arch.json", "w.weights.h5"}) {
    Run r = run("convert " + golden("mlp/model.keras") + " " + (tmp / target).string(), tmp);
    BOOST_TEST(r.status == 0, target << ": " << r.err);
  }
  for (const char* model : {"copy.keras", "copy_dir"}) {
    Run r = run(std::string("predict ") + (tmp / model).string() + " --input " +
                    golden("mlp/input.npy") + " --output " + (tmp / "y.npy").string(),
                tmp);
    BOOST_TEST_REQUIRE(r.status == 0, r.err);
    expect_close(tmp / "y.npy", test::golden_dir() / "mlp/expected.npy");
  }
  auto model = load_model(tmp / "arch.json");
  load_weights(*model, tmp / "w.weights.h5");
  std::string detail;
  BOOST_TEST(
      test::allclose(model->predict(io::read_npy(test::golden_dir() / "mlp/input.npy")),
                     io::read_npy(test::golden_dir() / "mlp/expected.npy"), 1e-5, 1e-6, &detail),
      detail);
}

BOOST_AUTO_TEST_CASE(bad_input_exits_one_with_one_line_and_writes_nothing) {
  test::TempDir tmp;
  std::ofstream(tmp / "junk.keras") << "not a zip";
  const std::vector<std::string> commands{
      "inspect " + (tmp / "junk.keras").string(),
      "inspect " + (tmp / "missing.keras").string(),
      "predict " + (tmp / "junk.keras").string() + " --input " + golden("mlp/input.npy") +
          " --output " + (tmp / "y.npy").string(),
      "predict " + golden("mlp/model.keras") + " --input " + golden("cnn/input.npy") +
          " --output " + (tmp / "y.npy").string(),
      "convert " + (tmp / "junk.keras").string() + " " + (tmp / "out.keras").string(),
  };
  for (const std::string& c : commands) {
    Run r = run(c, tmp);
    BOOST_TEST(r.status == 1, c);
    BOOST_TEST(lines(r.err) == 1u, c << " -> " << r.err);
    BOOST_TEST(r.err.rfind("kserde: error: ", 0) == 0u, r.err);
  }
  BOOST_TEST(!fs::exists(tmp / "y.npy"));
  BOOST_TEST(!fs::exists(tmp / "out.keras"));
}

BOOST_AUTO_TEST_CASE(an_uncomputable_operation_inspects_and_converts_and_fails_only_at_predict) {
  // x -> Frobnicate (a keras.ops operation kserde lacks) -> Dense, saved as a .keras file.
  const char* graph = R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "f", "trainable": true, "layers": [
 {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "sparse": false, "ragged": false, "name": "x"}, "registered_name": null, "name": "x", "inbound_nodes": []},
 {"module": "keras.src.ops.numpy", "class_name": "Frobnicate", "config": {"name": "frob"}, "registered_name": "Frobnicate", "name": "frob", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "dtype": "float32", "keras_history": ["x", 0, 0]}}], "kwargs": {}}]},
 {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2}, "registered_name": null, "build_config": {"input_shape": [null, 3]}, "name": "d", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "dtype": "float32", "keras_history": ["frob", 0, 0]}}], "kwargs": {}}]}],
 "input_layers": [["x", 0, 0]], "output_layers": [["d", 0, 0]]}, "registered_name": "Functional", "build_config": {"input_shape": null}, "compile_config": {}})";
  test::TempDir tmp;
  LoadOptions pass;
  pass.unknown_layers = UnknownLayers::PassThrough;
  save_model(*model_from_json(graph, pass), tmp / "u.keras");
  io::write_npy(tmp / "x.npy", Tensor({2, 3}, DType::Float32));
  Run inspect = run("inspect " + (tmp / "u.keras").string(), tmp);
  BOOST_TEST(inspect.status == 0, inspect.err);
  BOOST_TEST(inspect.out.find("Frobnicate") != std::string::npos, inspect.out);
  Run convert = run("convert " + (tmp / "u.keras").string() + " " + (tmp / "c.keras").string(), tmp);
  BOOST_TEST(convert.status == 0, convert.err);
  BOOST_TEST(fs::exists(tmp / "c.keras"));
  Run predict = run("predict " + (tmp / "u.keras").string() + " --input " +
                        (tmp / "x.npy").string() + " --output " + (tmp / "y.npy").string(),
                    tmp);
  BOOST_TEST(predict.status == 1);
  BOOST_TEST(lines(predict.err) == 1u, predict.err);
  BOOST_TEST(predict.err.find("Frobnicate") != std::string::npos, predict.err);
  BOOST_TEST(predict.err.find("frob") != std::string::npos, predict.err);
  BOOST_TEST(!fs::exists(tmp / "y.npy"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_evaluate)

BOOST_AUTO_TEST_CASE(evaluate_prints_the_loss_and_metrics_keras_reported) {
  test::TempDir tmp;
  Run r = run("evaluate " + golden("cnn/model.keras") + " --input " + golden("cnn/x_eval.npy") +
                  " --target " + golden("cnn/y_eval.npy"),
              tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  // case.json "evaluate": loss 2.096400260925293, accuracy 0.625 (Keras's evaluate()).
  BOOST_TEST(r.out.find("loss: 2.0964") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("accuracy: 0.625") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_golden)

// Every golden case through `kserde predict` (custom_layer through the my_layers plugin).
BOOST_AUTO_TEST_CASE(every_golden_case_predicts_keras_numbers_through_the_cli) {
  std::size_t cases = 0;
  for (const auto& entry : fs::directory_iterator(test::golden_dir())) {
    const fs::path dir = entry.path();
    if (!fs::exists(dir / "model.keras")) continue;
    ++cases;
    test::TempDir tmp;
    std::string inputs;
    std::vector<fs::path> expected;
    if (fs::exists(dir / "input.npy")) {
      inputs = " --input " + (dir / "input.npy").string();
    } else {
      for (int i = 0; fs::exists(dir / ("input_" + std::to_string(i) + ".npy")); ++i) {
        inputs += " --input " + (dir / ("input_" + std::to_string(i) + ".npy")).string();
      }
    }
    if (fs::exists(dir / "expected.npy")) {
      expected.push_back(dir / "expected.npy");
    } else {
      for (int i = 0; fs::exists(dir / ("expected_" + std::to_string(i) + ".npy")); ++i) {
        expected.push_back(dir / ("expected_" + std::to_string(i) + ".npy"));
      }
    }
    Run r = run("predict " + (dir / "model.keras").string() + inputs + " --output " +
                    (tmp / "y.npy").string() + " --plugin-dir " + KSERDE_MY_LAYERS_DIR,
                tmp);
    BOOST_TEST_REQUIRE(r.status == 0, dir.filename() << ": " << r.err);
    if (expected.size() == 1) {
      expect_close(tmp / "y.npy", expected[0]);
    } else {
      for (std::size_t i = 0; i < expected.size(); ++i) {
        expect_close(tmp / ("y_" + std::to_string(i) + ".npy"), expected[i]);
      }
    }
  }
  BOOST_TEST(cases == 11u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_format_plugins)

// kserde run from its build tree finds the plugins built with it in <libdir>/kserde/plugins, as
// an installed one does (tests/plugins/install_test.sh checks the installed layout): a Keras 2
// .h5 converts with no plugin option and no KSERDE_PLUGIN_PATH.
BOOST_AUTO_TEST_CASE(legacy_h5_converts_through_the_bundled_plugin_without_flags) {
  test::TempDir tmp;
  const std::string cmd = "env -u KSERDE_PLUGIN_PATH " + std::string(KSERDE_CLI) + " convert " +
                          golden("mlp/model.h5") + " " + (tmp / "new.keras").string() + " >" +
                          (tmp / "log.txt").string() + " 2>&1";
  const int raw = std::system(cmd.c_str());
  BOOST_TEST_REQUIRE(WEXITSTATUS(raw) == 0, io::read_text_file(tmp / "log.txt", 1 << 20));
  Run r = run("predict " + (tmp / "new.keras").string() + " --input " + golden("mlp/input.npy") +
                  " --output " + (tmp / "y.npy").string(),
              tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  expect_close(tmp / "y.npy", test::golden_dir() / "mlp/expected.npy");
}

BOOST_AUTO_TEST_CASE(plugins_lists_where_each_plugin_came_from) {
  test::TempDir tmp;
  Run r = run("plugins --json --plugin-dir " + std::string(KSERDE_MY_LAYERS_DIR), tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  rapidjson::Document d;
  d.Parse(r.out.c_str());
  BOOST_TEST_REQUIRE(d.IsArray());
  std::map<std::string, std::string> origin;  // plugin name -> where it was found
  for (const auto& p : d.GetArray()) {
    if (p["name"].IsString()) origin[p["name"].GetString()] = p["origin"].GetString();
  }
  BOOST_TEST(origin["legacy_h5"] == "bundled");
  BOOST_TEST(origin["safetensors"] == "bundled");
  BOOST_TEST(origin["my_layers"] == "plugin directory");
  // Turned off, the bundled ones are not listed.
  Run off = run("--no-bundled-plugins plugins", tmp);
  BOOST_TEST_REQUIRE(off.status == 0, off.err);
  BOOST_TEST(off.out.find("legacy_h5") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(options_of_every_command_may_come_before_it) {
  test::TempDir tmp;
  Run r = run("--plugin-dir " + std::string(KSERDE_MY_LAYERS_DIR) + " predict " +
                  golden("custom_layer/model.keras") + " --input " +
                  golden("custom_layer/input.npy") + " --output " + (tmp / "y.npy").string(),
              tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  expect_close(tmp / "y.npy", test::golden_dir() / "custom_layer/expected.npy");
  Run plugin = run("--plugin " + std::string(KSERDE_MY_LAYERS_DIR) +
                       "/libkserde_my_layers.so --unsafe inspect " +
                       golden("custom_layer/model.keras"),
                   tmp);
  BOOST_TEST(plugin.status == 0, plugin.err);
  BOOST_TEST(plugin.out.find("ScaledDense") != std::string::npos);
  // A command's own option before the command is a usage mistake that says where it goes.
  Run misplaced = run("--input x.npy predict " + golden("mlp/model.keras"), tmp);
  BOOST_TEST(misplaced.status == 2);
  BOOST_TEST(misplaced.err.find("goes after the command") != std::string::npos, misplaced.err);
  Run dangling = run("--plugin", tmp);
  BOOST_TEST(dangling.status == 2);
  BOOST_TEST(dangling.err.find("needs a value") != std::string::npos, dangling.err);
}

// A format plugin in KSERDE_PLUGIN_PATH is loaded when a file needs it: the legacy Keras 2 .h5
// migrates to .keras with no --plugin flag, and the result predicts Keras's numbers.
BOOST_AUTO_TEST_CASE(legacy_h5_converts_through_the_plugin_path) {
  test::TempDir tmp;
  const std::string env = std::string("KSERDE_PLUGIN_PATH=") + KSERDE_LEGACY_H5_DIR + " ";
  Run without = run("convert --no-bundled-plugins " + golden("mlp/model.h5") + " " +
                        (tmp / "x.keras").string(),
                    tmp);
  BOOST_TEST(without.status == 1);
  const std::string cmd = "convert " + golden("mlp/model.h5") + " " + (tmp / "new.keras").string();
  const fs::path out = tmp / "stdout.txt";
  const int raw =
      std::system((env + KSERDE_CLI + " " + cmd + " >" + out.string() + " 2>&1").c_str());
  BOOST_TEST_REQUIRE(WEXITSTATUS(raw) == 0, io::read_text_file(out, 1 << 20));
  Run r = run("predict " + (tmp / "new.keras").string() + " --input " + golden("mlp/input.npy") +
                  " --output " + (tmp / "y.npy").string(),
              tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  expect_close(tmp / "y.npy", test::golden_dir() / "mlp/expected.npy");
}

BOOST_AUTO_TEST_SUITE_END()
