// kserde: inspect, run and convert Keras model files. Exit status 0 on success, 1 with one line on
// stderr when the input is bad, 2 for command-line mistakes.
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "kserde/error.hpp"
#include "kserde/registry/keras_name.hpp"

namespace {

constexpr const char* kUsage = R"(usage: kserde <command> [options]

commands:
  inspect MODEL [--json]                 print the model summary (layers, shapes, parameters)
  predict MODEL --input X.npy [--input X2.npy ...] --output Y.npy [--batch-size N]
                                         run inference; several outputs go to Y_0.npy, Y_1.npy, ...
  evaluate MODEL --input X.npy --target Y.npy [--batch-size N]
                                         loss and metrics of a compiled model, as Keras evaluates
  convert IN OUT [--strict]              load IN in whatever format reads it, save OUT in the format
                                         its name asks for (.keras, .weights.h5, .json, a directory);
                                         --strict refuses layers kserde can only copy through
  plugins [--json]                       list the plugins found and whether they load

options for every command:
  --plugin FILE        load a plugin library (repeatable)
  --plugin-dir DIR     make the plugins in DIR available (repeatable; also KSERDE_PLUGIN_PATH)
  --unsafe             disable safe mode (still refuses to run Python code)
  --help, --version
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = args[0];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command == "--version") {
    std::cout << "kserde " << kserde::registry::library_version() << "\n";
    return 0;
  }
  try {
    const kserde::cli::Args parsed = kserde::cli::parse({args.begin() + 1, args.end()});
    if (command == "inspect") return kserde::cli::run_inspect(parsed);
    if (command == "predict") return kserde::cli::run_predict(parsed);
    if (command == "convert") return kserde::cli::run_convert(parsed);
    if (command == "evaluate") return kserde::cli::run_evaluate(parsed);
    if (command == "plugins") return kserde::cli::run_plugins(parsed);
    throw kserde::cli::UsageError{"unknown command '" + command + "'"};
  } catch (const kserde::cli::UsageError& e) {
    std::cerr << "kserde: " << e.message << "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (char& c : msg) {
      if (c == '\n') c = ' ';
    }
    std::cerr << "kserde: error: " << msg << "\n";
    return 1;
  }
}
