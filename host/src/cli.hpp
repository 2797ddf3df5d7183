// The `kserde` command: argument handling shared by its subcommands.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "kserde/options.hpp"

namespace kserde::cli {

// Thrown for command-line mistakes (exit status 2, with usage).
struct UsageError {
  std::string message;
};

struct Args {
  std::vector<std::string> positional;
  std::vector<std::string> inputs;   // --input (repeatable)
  std::vector<std::string> targets;  // --target (repeatable)
  std::string output;               // --output
  std::int64_t batch_size = 32;
  bool json = false;
  bool unsafe = false;
  bool bundled_plugins = true;                     // --no-bundled-plugins turns it off
  bool strict = false;  // convert: refuse layers that can only be copied through
  std::vector<std::filesystem::path> plugins;      // --plugin FILE
  std::vector<std::filesystem::path> plugin_dirs;  // --plugin-dir DIR
};

Args parse(const std::vector<std::string>& argv);
// The options every command takes, which may also come before the command.
bool is_global_option(const std::string& arg);
bool global_option_takes_value(const std::string& arg);
// Loads requested plugins and builds the load options every command uses.
LoadOptions load_options(const Args& args, bool pass_through_unknown);

int run_inspect(const Args& args);
int run_predict(const Args& args);
int run_convert(const Args& args);
int run_evaluate(const Args& args);
int run_plugins(const Args& args);

}  // namespace kserde::cli
