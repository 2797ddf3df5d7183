#include <iomanip>
#include <iostream>
#include <set>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli.hpp"
#include "kserde/error.hpp"
#include "kserde/evaluate.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/layer.hpp"
#include "kserde/model.hpp"
#include "kserde/plugin.hpp"
#include "kserde/saving.hpp"
#include "kserde/serializer.hpp"
#include "kserde/summary.hpp"

namespace kserde::cli {

namespace {

void expect_positional(const Args& a, std::size_t n, const char* what) {
  if (a.positional.size() != n) throw UsageError{std::string("expected ") + what};
}

// Layers carried through without an implementation (UnknownLayers::PassThrough), depth first,
// each once.
void collect_opaque(const Layer& layer, std::set<const Layer*>& seen,
                    std::vector<const Layer*>& out) {
  if (!seen.insert(&layer).second) return;
  if (layer.accepts_any_weights()) out.push_back(&layer);
  for (const TrackedChild& c : layer.tracked_children()) {
    for (const Layer* child : c.layers) {
      if (child != nullptr) collect_opaque(*child, seen, out);
    }
  }
}

}  // namespace

int run_inspect(const Args& a) {
  expect_positional(a, 1, "inspect MODEL");
  auto model = load_model(a.positional[0], load_options(a, true));
  std::cout << (a.json ? summary_json(*model) + "\n" : summary(*model));
  return 0;
}

int run_evaluate(const Args& a) {
  expect_positional(a, 1, "evaluate MODEL --input X.npy --target Y.npy");
  if (a.inputs.empty() || a.targets.empty()) {
    throw UsageError{"evaluate needs --input and --target"};
  }
  auto model = load_model(a.positional[0], load_options(a, false));
  TensorList inputs;
  for (const std::string& in : a.inputs) inputs.push_back(io::read_npy(in));
  TensorList targets;
  for (const std::string& t : a.targets) targets.push_back(io::read_npy(t));
  const auto result = evaluate(*model, inputs, targets, a.batch_size);
  for (const auto& [name, value] : result) {
    std::cout << name << ": " << std::setprecision(10) << value << "\n";
  }
  return 0;
}

int run_convert(const Args& a) {
  expect_positional(a, 2, "convert IN OUT");
  const std::filesystem::path in = a.positional[0];
  const std::filesystem::path out = a.positional[1];
  // Plugins first: they may provide the formats of IN and OUT.
  const LoadOptions options = load_options(a, true);
  SerializerPtr target = serializer_for_save(out, options);
  SerializerPtr source = serializer_for_load(in, options);
  if (source->weights_only()) {
    throw UnsupportedError(in.string() +
                           ": holds weights only; convert from a file that holds "
                           "the architecture (.keras, a model directory, .h5)");
  }
  auto model = source->load(in, options);
  // An opaque layer is copied as data: kserde cannot check it, and Keras loads the result only
  // where the layer's class exists. Say so for each; --strict refuses before writing anything.
  std::set<const Layer*> seen;
  std::vector<const Layer*> opaque;
  collect_opaque(*model, seen, opaque);
  for (const Layer* l : opaque) {
    const std::string what = "layer '" + l->name() + "' (" + l->class_name() + ")";
    if (a.strict) {
      throw UnsupportedError(in.string() + ": " + what +
                             " has no implementation in kserde; --strict refuses to convert a "
                             "model with layers it can only copy (" +
                             std::to_string(opaque.size()) + " in all)");
    }
    std::cerr << "kserde: warning: " << in.string() << ": " << what
              << " has no implementation in kserde; it is copied to " << out.string()
              << " unchecked, and Keras can load the result only where '" << l->class_name()
              << "' is provided\n";
  }
  save_model(*model, out);
  return 0;
}

int run_plugins(const Args& a) {
  if (!a.positional.empty()) throw UsageError{"plugins takes no positional arguments"};
  // --plugin files are reported like the others instead of failing the listing.
  std::vector<AvailablePlugin> explicit_failures;
  for (const std::filesystem::path& p : a.plugins) {
    try {
      load_plugin(p);
    } catch (const std::exception& e) {
      AvailablePlugin f;
      f.origin = PluginOrigin::Explicit;
      f.library = p;
      f.problem = e.what();
      explicit_failures.push_back(std::move(f));
    }
  }
  std::vector<AvailablePlugin> found =
      available_plugins(a.plugin_dirs, true, true, a.bundled_plugins);
  found.insert(found.end(), explicit_failures.begin(), explicit_failures.end());
  auto one_line = [](std::string s) {
    for (char& c : s) {
      if (c == '\n') c = ' ';
    }
    return s;
  };
  if (a.json) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    auto list = [&](const std::vector<std::string>& v) {
      w.StartArray();
      for (const std::string& s : v) w.String(s);
      w.EndArray();
    };
    w.StartArray();
    for (const AvailablePlugin& p : found) {
      w.StartObject();
      w.Key("path");
      w.String(p.library.string());
      w.Key("origin");
      w.String(std::string(plugin_origin_name(p.origin)));
      w.Key("name");
      p.info ? w.String(p.info->name) : w.Null();
      w.Key("version");
      p.info ? w.String(p.info->version) : w.Null();
      w.Key("layers");
      list(p.info ? p.info->layers : std::vector<std::string>{});
      w.Key("functions");
      list(p.info ? p.info->functions : std::vector<std::string>{});
      w.Key("formats");
      w.StartArray();
      if (p.info) {
        for (const auto& f : p.info->formats) {
          w.StartObject();
          w.Key("name");
          w.String(f.name);
          w.Key("extensions");
          list(f.extensions);
          w.Key("magic");
          w.String(f.magic_hex);
          w.EndObject();
        }
      }
      w.EndArray();
      w.Key("loads");
      w.Bool(p.loadable);
      w.Key("error");
      p.problem.empty() ? w.Null() : w.String(one_line(p.problem));
      w.EndObject();
    }
    w.EndArray();
    std::cout << sb.GetString() << "\n";
    return 0;
  }
  if (found.empty()) {
    std::cout << "no plugins found (none installed with kserde in "
              << (registry::bundled_plugin_dir().empty() ? std::string("<unknown>")
                                                         : registry::bundled_plugin_dir().string())
              << "; use --plugin FILE, --plugin-dir DIR or KSERDE_PLUGIN_PATH)\n";
    return 0;
  }
  auto joined = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
    return s.empty() ? std::string("-") : s;
  };
  for (const AvailablePlugin& p : found) {
    std::cout << p.library.string() << "\n";
    std::cout << "  from:      " << plugin_origin_name(p.origin) << "\n";
    if (p.info) {
      std::cout << "  name:      " << p.info->name << " " << p.info->version << "\n";
      std::cout << "  layers:    " << joined(p.info->layers) << "\n";
      std::cout << "  functions: " << joined(p.info->functions) << "\n";
      std::vector<std::string> fmts;
      for (const auto& f : p.info->formats)
        fmts.push_back(f.name + " (" + joined(f.extensions) + ")");
      std::cout << "  formats:   " << joined(fmts) << "\n";
    }
    std::cout << "  status:    "
              << (p.loadable ? std::string("loads") : "does not load: " + one_line(p.problem))
              << "\n";
  }
  return 0;
}

}  // namespace kserde::cli
