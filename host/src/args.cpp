#include <cstdlib>

#include "cli.hpp"
#include "kserde/plugin.hpp"

namespace kserde::cli {

bool is_global_option(const std::string& arg) {
  return arg == "--plugin" || arg == "--plugin-dir" || arg == "--unsafe" ||
         arg == "--no-bundled-plugins";
}

bool global_option_takes_value(const std::string& arg) {
  return arg == "--plugin" || arg == "--plugin-dir";
}

Args parse(const std::vector<std::string>& argv) {
  Args a;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= argv.size()) throw UsageError{s + " needs a value"};
      return argv[++i];
    };
    if (s == "--input" || s == "-i") {
      a.inputs.push_back(value());
    } else if (s == "--target" || s == "-t") {
      a.targets.push_back(value());
    } else if (s == "--output" || s == "-o") {
      a.output = value();
    } else if (s == "--batch-size") {
      const std::string& v = value();
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n <= 0) {
        throw UsageError{"--batch-size needs a positive integer"};
      }
      a.batch_size = n;
    } else if (s == "--json") {
      a.json = true;
    } else if (s == "--unsafe") {
      a.unsafe = true;
    } else if (s == "--no-bundled-plugins") {
      a.bundled_plugins = false;
    } else if (s == "--strict") {
      a.strict = true;
    } else if (s == "--plugin") {
      a.plugins.emplace_back(value());
    } else if (s == "--plugin-dir") {
      a.plugin_dirs.emplace_back(value());
    } else if (s.size() > 1 && s[0] == '-') {
      throw UsageError{"unknown option '" + s + "'"};
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

LoadOptions load_options(const Args& args, bool pass_through_unknown) {
  LoadOptions o;
  o.safe_mode = !args.unsafe;
  o.unknown_layers = pass_through_unknown ? UnknownLayers::PassThrough : UnknownLayers::Error;
  // Plugins the user named are loaded before the command runs (an error names the file); the
  // directories also stay available for on-demand loading, as KSERDE_PLUGIN_PATH is.
  for (const std::filesystem::path& p : args.plugins) load_plugin(p);
  for (const std::filesystem::path& d : args.plugin_dirs) load_plugins_in(d);
  o.plugin_dirs = args.plugin_dirs;
  o.bundled_plugins = args.bundled_plugins;
  return o;
}

}  // namespace kserde::cli
