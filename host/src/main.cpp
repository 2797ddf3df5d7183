// kserde: inspect, run and convert Keras model files. Exit status 0 on success, 1 with one line on
// stderr when the input is bad, 2 for command-line mistakes.
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "fit_command.hpp"
#include "kserde/cpu.hpp"
#include "kserde/error.hpp"
#include "kserde/registry/keras_name.hpp"

namespace {

constexpr const char* kUsage = R"(usage: kserde [options] <command> [options]

commands:
  inspect MODEL [--json]                 print the model summary (layers, shapes, parameters)
  predict MODEL --input X.npy [--input X2.npy ...] --output Y.npy [--batch-size N]
                                         run inference; several outputs go to Y_0.npy, Y_1.npy, ...
  evaluate MODEL --input X.npy --target Y.npy [--batch-size N]
                                         loss and metrics of a compiled model, as Keras evaluates
  fit MODEL --input X.npy --target Y.npy --epochs E --output OUT.keras [--batch-size N]
      [--resume] [--seed S] [--no-shuffle] [--validation-input VX.npy --validation-target VY.npy]
                                         train a compiled model; --resume continues its optimizer
                                         state (iterations, slots) instead of starting afresh
  convert IN OUT [--strict]              load IN in whatever format reads it, save OUT in the format
                                         its name asks for (.keras, .weights.h5, .json, a directory);
                                         --strict refuses layers kserde can only copy through
  plugins [--json]                       list the plugins found and whether they load

options for every command (before or after it):
  --plugin FILE        load a plugin library (repeatable)
  --plugin-dir DIR     make the plugins in DIR available (repeatable; also KSERDE_PLUGIN_PATH)
  --no-bundled-plugins do not use the plugins installed with kserde (<libdir>/kserde/plugins)
  --unsafe             disable safe mode (still refuses to run Python code)
  --help, --version
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Options of every command may come before it too (kserde --plugin x.so predict ...), as git and
  // docker take them: they are moved behind the command for the one parser.
  std::vector<std::string> global;
  std::size_t at = 0;
  try {
    for (; at < args.size() && kserde::cli::is_global_option(args[at]); ++at) {
      global.push_back(args[at]);
      if (kserde::cli::global_option_takes_value(args[at])) {
        if (at + 1 >= args.size()) throw kserde::cli::UsageError{args[at] + " needs a value"};
        global.push_back(args[++at]);
      }
    }
    if (at < args.size() && args[at].size() > 1 && args[at][0] == '-' && args[at] != "--help" &&
        args[at] != "-h" && args[at] != "--version") {
      throw kserde::cli::UsageError{"option '" + args[at] +
                                    "' goes after the command (only --plugin, --plugin-dir, "
                                    "--no-bundled-plugins and --unsafe may come before it)"};
    }
  } catch (const kserde::cli::UsageError& e) {
    std::cerr << "kserde: " << e.message << "\n" << kUsage;
    return 2;
  }
  if (at >= args.size()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = args[at];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command == "--version") {
    std::cout << "kserde " << kserde::registry::library_version()
              << " (kernels: " << kserde::kernel_isa_name(kserde::kernel_isa()) << ")\n";
    return 0;
  }
  std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(at) + 1, args.end());
  rest.insert(rest.end(), global.begin(), global.end());
  try {
    if (command == "fit") return kserde::cli::run_fit(rest);
    const kserde::cli::Args parsed = kserde::cli::parse(rest);
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
