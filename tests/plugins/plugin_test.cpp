// The plugin system: the contract a loader enforces, transactional registration, lifetimes,
// on-demand loading from allowed directories only, threads, and the MyLayers plugin end to end.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <sys/wait.h>

#include "kserde/error.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/model.hpp"
#include "kserde/object_registry.hpp"
#include "kserde/plugin.hpp"
#include "kserde/registry/keras_name.hpp"
#include "kserde/registry/plugin_loader.hpp"
#include "kserde/saving.hpp"
#include "kserde/serializer.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace kserde;

namespace {

const fs::path kMyLayersDir = KSERDE_MY_LAYERS_DIR;
const fs::path kFixtures = KSERDE_PLUGIN_FIXTURES_DIR;
const fs::path kMyLayers = kMyLayersDir / "libkserde_my_layers.so";

fs::path fixture(const std::string& name) { return kFixtures / name / ("libkserde_" + name + ".so"); }
fs::path golden_model() { return test::golden_dir() / "custom_layer" / "model.keras"; }

// Every test starts and ends with no plugin loaded and no KSERDE_PLUGIN_PATH.
struct Clean {
  Clean() { reset(); }
  ~Clean() { reset(); }
  static void reset() {
    ::unsetenv("KSERDE_PLUGIN_PATH");
    for (const PluginInfo& p : loaded_plugins()) unload_plugin(p.name);
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const PluginError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("NOT A PluginError: ") + e.what();
  }
  return "no error";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

template <class T>
std::vector<std::pair<std::string, std::string>> snapshot(registry::NameTable<T>& t) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& k : t.keys()) out.emplace_back(k, t.provider_of(k).value_or("?"));
  return out;
}

struct AllTables {
  std::vector<std::pair<std::string, std::string>> builtin, layers, functions, fmts;
  static AllTables now() {
    return {snapshot(builtin_layers()), snapshot(registered_layers()), snapshot(registered_functions()),
            snapshot(formats())};
  }
  bool operator==(const AllTables&) const = default;
};

void check_golden_prediction(Model& model) {
  const fs::path dir = test::golden_dir() / "custom_layer";
  const Tensor out = model.predict(io::read_npy(dir / "input.npy"));
  std::string detail;
  BOOST_TEST(test::allclose(out, io::read_npy(dir / "expected.npy"), 1e-5, 1e-6, &detail), detail);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the kserde CLI; returns the exit status, stdout and stderr in `out`/`err`.
int run_cli(const std::string& args, std::string& out, std::string& err) {
  test::TempDir tmp;
  const std::string cmd = std::string("env -u KSERDE_PLUGIN_PATH '") + KSERDE_CLI + "' " + args + " >'" +
                          (tmp / "out").string() + "' 2>'" + (tmp / "err").string() + "'";
  const int rc = std::system(cmd.c_str());
  out = read_file(tmp / "out");
  err = read_file(tmp / "err");
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(plugins, Clean)

BOOST_AUTO_TEST_CASE(plugin_headers_belong_to_this_kserde) {
  BOOST_TEST(std::string(KSERDE_PLUGIN_KSERDE_VERSION) == std::string(registry::library_version()));
}

// ---- the loader refuses, naming the file, leaving the host unharmed

BOOST_AUTO_TEST_CASE(refuses_a_file_that_is_not_a_shared_library) {
  test::TempDir tmp;
  const fs::path fake = tmp / "libkserde_fake.so";
  std::ofstream(fake) << "this is text, not a library\n";
  const AllTables before = AllTables::now();
  const std::string e = error_of([&] { load_plugin(fake); });
  BOOST_TEST(contains(e, fake.filename().string()), e);
  BOOST_TEST(contains(e, "not a shared library"), e);
  BOOST_TEST((AllTables::now() == before));
  const std::string missing = error_of([&] { load_plugin(tmp / "nope.so"); });
  BOOST_TEST(contains(missing, "nope.so"), missing);
}

BOOST_AUTO_TEST_CASE(refuses_a_library_without_the_entry_point) {
  const fs::path lib = kFixtures / "no_entry" / "libfixture_no_entry.so";
  BOOST_TEST((registry::inspect_entry_point(lib) == registry::EntryPoint::Missing));
  BOOST_TEST((registry::inspect_entry_point(kMyLayers) == registry::EntryPoint::Present));
  const std::string e = error_of([&] { load_plugin(lib); });
  BOOST_TEST(contains(e, "libfixture_no_entry.so"), e);
  BOOST_TEST(contains(e, KSERDE_PLUGIN_ENTRY_SYMBOL), e);
  BOOST_TEST(!registry::is_library_mapped(lib));
}

BOOST_AUTO_TEST_CASE(refuses_another_abi_version_saying_found_and_supported) {
  const std::string e = error_of([&] { load_plugin(fixture("fixture_bad_abi")); });
  BOOST_TEST(contains(e, "libkserde_fixture_bad_abi.so"), e);
  BOOST_TEST(contains(e, "plugin ABI version 99"), e);
  BOOST_TEST(contains(e, "supports plugin ABI version 1"), e);
  BOOST_TEST(!registry::is_library_mapped(fs::canonical(fixture("fixture_bad_abi"))));
}

BOOST_AUTO_TEST_CASE(refuses_a_plugin_built_against_another_kserde_minor) {
  const std::string e = error_of([&] { load_plugin(fixture("fixture_other_version")); });
  BOOST_TEST(contains(e, "libkserde_fixture_other_version.so"), e);
  BOOST_TEST(contains(e, "built against kserde 0.99.0"), e);
  BOOST_TEST(contains(e, std::string(registry::library_version())), e);
}

BOOST_AUTO_TEST_CASE(a_plugin_that_throws_while_registering_registers_nothing) {
  const AllTables before = AllTables::now();
  const std::string e = error_of([&] { load_plugin(fixture("fixture_throws")); });
  BOOST_TEST(contains(e, "libkserde_fixture_throws.so"), e);
  BOOST_TEST(contains(e, "deliberate failure in fixture_throws"), e);
  BOOST_TEST((AllTables::now() == before));
  BOOST_TEST(!registered_layers().contains("Fixture>Thrower"));
  BOOST_TEST(loaded_plugins().empty());

  const std::string u = error_of([&] { load_plugin(fixture("fixture_throws_unknown")); });
  BOOST_TEST(contains(u, "not a std::exception"), u);
  BOOST_TEST((AllTables::now() == before));
}

BOOST_AUTO_TEST_CASE(refuses_a_plugin_that_disagrees_with_its_manifest) {
  const std::string e = error_of([&] { load_plugin(fixture("fixture_mismatch")); });
  BOOST_TEST(contains(e, "manifest"), e);
  BOOST_TEST(contains(e, "Fixture>A"), e);
  BOOST_TEST(contains(e, "Fixture>B"), e);
  BOOST_TEST(!registered_layers().contains("Fixture>B"));
}

BOOST_AUTO_TEST_CASE(refuses_names_the_plugin_did_not_declare) {
  const std::string e = error_of([&] { load_plugin(fixture("fixture_undeclared")); });
  BOOST_TEST(contains(e, "Fixture>Sneaky"), e);
  BOOST_TEST(!registered_layers().contains("Fixture>Declared"));
}

BOOST_AUTO_TEST_CASE(registration_failing_half_way_leaves_every_table_as_it_was) {
  load_plugin(kMyLayers);
  const AllTables before = AllTables::now();
  const std::string e = error_of([&] { load_plugin(fixture("fixture_half_way")); });
  // The function table refused after the layer table accepted Fixture>Fresh: rolled back.
  BOOST_TEST(contains(e, "MyLayers>scaled_tanh"), e);
  BOOST_TEST(contains(e, "my_layers"), e);
  BOOST_TEST(contains(e, "fixture_half_way"), e);
  BOOST_TEST(!registered_layers().contains("Fixture>Fresh"));
  BOOST_TEST((AllTables::now() == before));
  BOOST_TEST(loaded_plugins().size() == 1u);
}

BOOST_AUTO_TEST_CASE(two_providers_of_one_name_is_an_error_naming_both_unless_overridden) {
  load_plugin(kMyLayers);
  const std::string e = error_of([&] { load_plugin(fixture("fixture_twin")); });
  BOOST_TEST(contains(e, "MyLayers>ScaledDense"), e);
  BOOST_TEST(contains(e, "plugin 'my_layers'"), e);
  BOOST_TEST(contains(e, "plugin 'fixture_twin'"), e);

  PluginLoadOptions o;
  o.on_clash = registry::OnClash::Override;
  load_plugin(fixture("fixture_twin"), o);
  BOOST_TEST(contains(registered_layers().provider_of("MyLayers>ScaledDense").value_or(""), "fixture_twin"));
  BOOST_TEST(unload_plugin("fixture_twin"));
  // The overridden entry comes back.
  BOOST_TEST(contains(registered_layers().provider_of("MyLayers>ScaledDense").value_or(""), "my_layers"));
  auto model = load_model(golden_model());
  check_golden_prediction(*model);
}

BOOST_AUTO_TEST_CASE(loading_the_same_file_twice_is_a_no_op) {
  const PluginInfo a = load_plugin(kMyLayers);
  const PluginInfo b = load_plugin(kMyLayersDir / "." / kMyLayers.filename());
  BOOST_TEST(a.name == "my_layers");
  BOOST_TEST(b.name == "my_layers");
  BOOST_TEST(loaded_plugins().size() == 1u);
  BOOST_TEST(a.version == "1.0.0");
}

// ---- the MyLayers plugin

BOOST_AUTO_TEST_CASE(golden_custom_layer_predicts_through_the_explicitly_loaded_plugin) {
  const PluginInfo info = load_plugin(kMyLayers);
  BOOST_TEST(info.layers == std::vector<std::string>{"MyLayers>ScaledDense"});
  BOOST_TEST(info.functions == std::vector<std::string>{"MyLayers>scaled_tanh"});
  auto model = load_model(golden_model());
  check_golden_prediction(*model);
  // The registered function is usable, with the plugin as its keepalive.
  auto f = registered_functions().find("MyLayers>scaled_tanh");
  BOOST_TEST_REQUIRE(f.has_value());
  BOOST_TEST(f->keepalive != nullptr);
  std::vector<float> v{0.0f, 1.5f};
  f->fn(v, 2);
  BOOST_TEST(v[0] == 0.0f);
  BOOST_TEST(std::abs(v[1] - 1.7159f * std::tanh(1.0f)) < 1e-6f);
}

BOOST_AUTO_TEST_CASE(golden_custom_layer_loads_the_plugin_on_demand_from_an_allowed_dir) {
  LoadOptions o;
  o.plugin_dirs = {kMyLayersDir};
  auto model = load_model(golden_model(), o);
  check_golden_prediction(*model);
  const auto loaded = loaded_plugins();
  BOOST_TEST_REQUIRE(loaded.size() == 1u);  // that plugin only
  BOOST_TEST(loaded[0].name == "my_layers");
}

BOOST_AUTO_TEST_CASE(on_demand_through_kserde_plugin_path) {
  const std::string path = "/nonexistent/dir:" + kMyLayersDir.string();
  ::setenv("KSERDE_PLUGIN_PATH", path.c_str(), 1);
  auto model = load_model(golden_model());
  check_golden_prediction(*model);
  BOOST_TEST(loaded_plugins().size() == 1u);
}

BOOST_AUTO_TEST_CASE(safe_mode_never_loads_a_plugin_from_a_place_the_user_did_not_allow) {
  // The plugin sits right beside the model file: still not loaded without permission.
  test::TempDir tmp;
  fs::copy_file(golden_model(), tmp / "model.keras");
  fs::copy_file(kMyLayers, tmp / kMyLayers.filename());
  fs::copy_file(registry::manifest_path_for(kMyLayers), tmp / registry::manifest_path_for(kMyLayers).filename());
  for (bool safe : {true, false}) {
    LoadOptions o;
    o.safe_mode = safe;
    BOOST_CHECK_THROW(load_model(tmp / "model.keras", o), UnknownObjectError);
  }
  BOOST_TEST(loaded_plugins().empty());
  // A manifest cannot point outside its directory.
  std::ofstream(tmp / "evil.kserde-plugin.json")
      << R"({"name": "evil", "library": "../../usr/lib/libevil.so", "layers": ["MyLayers>ScaledDense"]})";
  const std::string e = error_of([&] { registry::read_manifest(tmp / "evil.kserde-plugin.json"); });
  BOOST_TEST(contains(e, "own directory"), e);
}

BOOST_AUTO_TEST_CASE(convert_round_trip_keeps_registered_name_module_config_and_weights) {
  load_plugin(kMyLayers);
  auto model = load_model(golden_model());
  test::TempDir tmp;
  save_model(*model, tmp / "copy.keras");
  auto again = load_model(tmp / "copy.keras");
  auto a = model->get_layer("scaled_dense");
  auto b = again->get_layer("scaled_dense");
  BOOST_TEST_REQUIRE(a != nullptr);
  BOOST_TEST_REQUIRE(b != nullptr);
  BOOST_TEST(b->registered_name().value_or("") == "MyLayers>ScaledDense");
  BOOST_TEST(b->module() == "custom_layers");
  BOOST_TEST(b->class_name() == "ScaledDense");
  for (const char* key : {"units", "scale", "activation", "name", "trainable", "dtype"}) {
    BOOST_TEST(b->config().HasMember(key), key);
  }
  BOOST_TEST(b->config()["units"].GetInt64() == 5);
  BOOST_TEST(b->config()["scale"].GetDouble() == 0.5);
  BOOST_TEST(std::string(b->config()["activation"].GetString()) == "relu");
  BOOST_TEST_REQUIRE(a->variables().size() == 2u);
  BOOST_TEST_REQUIRE(b->variables().size() == 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    BOOST_TEST(a->variables()[i].name == b->variables()[i].name);
    BOOST_TEST(test::allclose(a->variables()[i].value, b->variables()[i].value, 0, 0));
  }
  check_golden_prediction(*again);
}

// ---- lifetime

BOOST_AUTO_TEST_CASE(objects_a_plugin_made_keep_its_library_loaded_after_unload) {
  const fs::path lib = fs::canonical(kMyLayers);
  BOOST_TEST_REQUIRE(!registry::is_library_mapped(lib));
  load_plugin(lib);
  BOOST_TEST(registry::is_library_mapped(lib));
  auto model = load_model(golden_model());
  auto fn = registered_functions().find("MyLayers>scaled_tanh");
  BOOST_TEST(unload_plugin("my_layers"));
  BOOST_TEST(!unload_plugin("my_layers"));
  BOOST_TEST(!registered_layers().contains("MyLayers>ScaledDense"));
  BOOST_TEST(!registered_functions().contains("MyLayers>scaled_tanh"));
  BOOST_TEST(loaded_plugins().empty());
  // Still mapped: the layer and the function hold it.
  BOOST_TEST(registry::is_library_mapped(lib));
  check_golden_prediction(*model);
  model.reset();
  BOOST_TEST(registry::is_library_mapped(lib));  // the activation still holds it
  std::vector<float> v{3.0f};
  fn->fn(v, 1);
  BOOST_TEST(std::abs(v[0] - 1.7159f * std::tanh(2.0f)) < 1e-6f);
  fn.reset();
  BOOST_TEST(!registry::is_library_mapped(lib));  // the last object is gone: dlclose'd
  // And it loads again.
  load_plugin(lib);
  check_golden_prediction(*load_model(golden_model()));
}

BOOST_AUTO_TEST_CASE(a_format_from_a_plugin_and_its_models_keep_the_library) {
  const fs::path lib = fs::canonical(fixture("fixture_format"));
  load_plugin(kMyLayers);
  load_plugin(lib);
  BOOST_TEST(formats().contains("fixture-json"));
  auto model = load_model(golden_model());
  test::TempDir tmp;
  std::ofstream(tmp / "arch.fixturejson") << to_json(*model);
  auto via_plugin = load_model(tmp / "arch.fixturejson");
  BOOST_TEST(via_plugin->layers().size() == model->layers().size());
  BOOST_TEST(unload_plugin("fixture_format"));
  BOOST_TEST(!formats().contains("fixture-json"));
  BOOST_TEST(registry::is_library_mapped(lib));
  via_plugin.reset();
  BOOST_TEST(!registry::is_library_mapped(lib));
}

// ---- finding plugins

BOOST_AUTO_TEST_CASE(available_plugins_lists_and_probes_without_throwing) {
  auto found = available_plugins({kMyLayersDir, kFixtures / "fixture_bad_abi", kFixtures / "no_entry"},
                                 false, false, /*include_bundled=*/false);
  BOOST_TEST_REQUIRE(found.size() == 2u);  // the library without entry point is not a plugin
  BOOST_TEST(found[0].info.has_value());
  BOOST_TEST(!found[0].loaded);
  BOOST_TEST(loaded_plugins().empty());  // reading manifests runs no plugin code
  found = available_plugins({kMyLayersDir, kFixtures / "fixture_bad_abi"}, false, true, false);
  BOOST_TEST_REQUIRE(found.size() == 2u);
  for (const AvailablePlugin& p : found) {
    if (p.info && p.info->name == "my_layers") {
      BOOST_TEST(p.loadable);
      BOOST_TEST(p.info->layers == std::vector<std::string>{"MyLayers>ScaledDense"});
    } else {
      BOOST_TEST(!p.loadable);
      BOOST_TEST(contains(p.problem, "ABI version 99"), p.problem);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_plugins_built_with_kserde_are_found_beside_its_libraries) {
  // The build tree lays out <libdir>/kserde/plugins as an install does; the library finds that
  // directory from its own location, not from the working directory or a model file.
  const fs::path bundled = registry::bundled_plugin_dir();
  BOOST_TEST_REQUIRE(!bundled.empty());
  BOOST_TEST(fs::exists(bundled / "libkserde_legacy_h5.so"), bundled);
  BOOST_TEST(fs::exists(bundled / "libkserde_safetensors.so"), bundled);
  const auto found = available_plugins({kMyLayersDir}, false, false, true);
  std::map<std::string, PluginOrigin> origin;
  for (const AvailablePlugin& p : found) {
    if (p.info) origin[p.info->name] = p.origin;
  }
  BOOST_TEST((origin.at("legacy_h5") == PluginOrigin::Bundled));
  BOOST_TEST((origin.at("safetensors") == PluginOrigin::Bundled));
  BOOST_TEST((origin.at("my_layers") == PluginOrigin::Directory));
  LoadOptions with, without;
  without.bundled_plugins = false;
  const auto has_bundled = [&](const LoadOptions& o) {
    const auto dirs = plugin_search_path(o);
    return std::find(dirs.begin(), dirs.end(), bundled) != dirs.end();
  };
  BOOST_TEST(has_bundled(with));
  BOOST_TEST(!has_bundled(without));
}

BOOST_AUTO_TEST_CASE(directory_scans_are_cached_and_invalidated_by_mtime) {
  test::TempDir tmp;
  const fs::path manifest = tmp / registry::manifest_path_for(kMyLayers).filename();
  fs::copy_file(kMyLayers, tmp / kMyLayers.filename());
  fs::copy_file(registry::manifest_path_for(kMyLayers), manifest);
  auto first = registry::scan_plugin_dir(tmp.path());
  BOOST_TEST_REQUIRE(first.size() == 1u);
  BOOST_TEST_REQUIRE(first[0].manifest.has_value());
  BOOST_TEST(first[0].manifest->provides_layer("MyLayers>ScaledDense"));
  // Rewrite the manifest in place (the directory's mtime does not change).
  registry::PluginInfo changed = *first[0].manifest;
  changed.layers = {"MyLayers>Changed"};
  std::ofstream(manifest, std::ios::trunc) << registry::manifest_json(changed);
  fs::last_write_time(manifest, fs::last_write_time(manifest) + std::chrono::seconds(5));
  auto second = registry::scan_plugin_dir(tmp.path());
  BOOST_TEST_REQUIRE(second.size() == 1u);
  BOOST_TEST(second[0].manifest->provides_layer("MyLayers>Changed"));
  // ... and loading it is refused: the manifest disagrees with the descriptor.
  const std::string e = error_of([&] { load_plugin(tmp / kMyLayers.filename()); });
  BOOST_TEST(contains(e, "manifest"), e);
  // A new file is seen too.
  fs::copy_file(fixture("fixture_format"), tmp / "libkserde_fixture_format.so");
  BOOST_TEST(registry::scan_plugin_dir(tmp.path()).size() == 2u);
}

// ---- threads

BOOST_AUTO_TEST_CASE(lookups_and_loads_from_many_threads) {
  std::atomic<bool> stop{false};
  std::atomic<int> lookups{0};
  std::atomic<int> loads_ok{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        (void)registered_layers().find("MyLayers>ScaledDense");
        (void)registered_functions().contains("MyLayers>scaled_tanh");
        if (!builtin_layers().contains("Dense")) ++bad;
        ++lookups;
      }
    });
  }
  readers.emplace_back([&] {
    LoadOptions o;
    o.plugin_dirs = {kMyLayersDir};
    const fs::path dir = test::golden_dir() / "custom_layer";
    const Tensor x = io::read_npy(dir / "input.npy");
    const Tensor want = io::read_npy(dir / "expected.npy");
    while (!stop) {
      try {
        auto m = load_model(golden_model(), o);
        if (!test::allclose(m->predict(x), want, 1e-5, 1e-6)) ++bad;
        ++loads_ok;
      } catch (const Error&) {
        // The main thread may unload between the on-demand load and the lookup.
      }
    }
  });
  for (int i = 0; i < 30; ++i) {
    load_plugin(kMyLayers);
    std::this_thread::yield();
    unload_plugin("my_layers");
  }
  // Several threads loading the same plugin at once: one load, every caller gets its info.
  std::vector<std::thread> loaders;
  std::atomic<int> same{0};
  for (int t = 0; t < 4; ++t) {
    loaders.emplace_back([&] {
      if (load_plugin(kMyLayers).name == "my_layers") ++same;
    });
  }
  for (auto& t : loaders) t.join();
  BOOST_TEST(same == 4);
  BOOST_TEST(loaded_plugins().size() == 1u);
  for (int i = 0; i < 200 && loads_ok < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop = true;
  for (auto& t : readers) t.join();
  BOOST_TEST(bad == 0);
  BOOST_TEST(lookups > 0);
  BOOST_TEST(loads_ok > 0);
}

// ---- the CLI

BOOST_AUTO_TEST_CASE(cli_lists_plugins_and_predicts_through_them) {
  std::string out, err;
  BOOST_TEST(run_cli("plugins --json --plugin-dir '" + kMyLayersDir.string() + "' --plugin-dir '" +
                         (kFixtures / "fixture_bad_abi").string() + "'",
                     out, err) == 0,
             err);
  BOOST_TEST(contains(out, "\"name\":\"my_layers\""), out);
  BOOST_TEST(contains(out, "\"layers\":[\"MyLayers>ScaledDense\"]"), out);
  BOOST_TEST(contains(out, "\"loads\":true"), out);
  BOOST_TEST(contains(out, "\"loads\":false"), out);
  BOOST_TEST(contains(out, "ABI version 99"), out);
  BOOST_TEST(run_cli("plugins --plugin '" + kMyLayers.string() + "'", out, err) == 0, err);
  BOOST_TEST(contains(out, "my_layers 1.0.0"), out);
  BOOST_TEST(contains(out, "status:    loads"), out);

  test::TempDir tmp;
  const fs::path dir = test::golden_dir() / "custom_layer";
  const std::string predict = "predict '" + golden_model().string() + "' --input '" + (dir / "input.npy").string() +
                              "' --output '" + (tmp / "y.npy").string() + "'";
  BOOST_TEST(run_cli(predict, out, err) == 1);  // no plugin: names the class
  BOOST_TEST(contains(err, "ScaledDense"), err);
  BOOST_TEST(run_cli(predict + " --plugin-dir '" + kMyLayersDir.string() + "'", out, err) == 0, err);
  std::string detail;
  BOOST_TEST(test::allclose(io::read_npy(tmp / "y.npy"), io::read_npy(dir / "expected.npy"), 1e-5, 1e-6, &detail),
             detail);
  BOOST_TEST(run_cli(predict + " --plugin '" + kMyLayers.string() + "'", out, err) == 0, err);
  BOOST_TEST(run_cli(predict + " --plugin '" + fixture("fixture_bad_abi").string() + "'", out, err) == 1);
  BOOST_TEST(contains(err, "libkserde_fixture_bad_abi.so"), err);
}

BOOST_AUTO_TEST_SUITE_END()
