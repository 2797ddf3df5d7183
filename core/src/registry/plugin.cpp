// Plugins in terms of kserde's tables: the registrar, load_plugin / unload_plugin, discovery and
// on-demand loading. The C boundary and the library handles live in kserde::registry.
#include "kserde/plugin.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "kserde/layer.hpp"
#include "kserde/model.hpp"
#include "kserde/object_registry.hpp"

namespace kserde {

namespace fs = std::filesystem;
using registry::NameTable;
using registry::OnClash;
using registry::PluginLibrary;

namespace {

using Keepalive = std::shared_ptr<const void>;

// Objects made by a plugin are wrapped by host code: the outer shared_ptr's control block and
// deleter live in kserde_core, release the plugin's object first and the library last.
struct LayerKeepalive {
  std::shared_ptr<Layer> inner;
  Keepalive library;
  void operator()(Layer*) {
    inner.reset();
    library.reset();
  }
};

struct ModelKeepalive {
  std::shared_ptr<Model> inner;
  Keepalive library;
  void operator()(Model*) {
    inner.reset();
    library.reset();
  }
};

// The plugin's own factory (a std::function whose code is in the plugin) with its library.
// Members are destroyed in reverse order: the factory before the library.
struct FactoryHolder {
  Keepalive library;
  LayerFactory factory;
  std::string plugin;
  std::string key;
};

std::string plugin_where(const std::string& plugin, const fs::path& lib) {
  return "plugin '" + plugin + "' (" + lib.string() + ")";
}

// A serializer from a plugin, seen through host code.
class PluginSerializer final : public Serializer {
 public:
  PluginSerializer(Keepalive library, SerializerPtr inner, std::string plugin)
      : library_(std::move(library)), inner_(std::move(inner)), plugin_(std::move(plugin)) {}
  ~PluginSerializer() override {
    inner_.reset();
    library_.reset();
  }
  PluginSerializer(const PluginSerializer&) = delete;
  PluginSerializer& operator=(const PluginSerializer&) = delete;

  std::string name() const override { return inner_->name(); }
  std::vector<std::string> extensions() const override { return inner_->extensions(); }
  bool sniff(const fs::path& path, std::span<const std::byte> head, bool is_directory) const override {
    return inner_->sniff(path, head, is_directory);
  }
  bool weights_only() const override { return inner_->weights_only(); }
  bool can_load() const override { return inner_->can_load(); }
  bool can_save() const override { return inner_->can_save(); }
  std::shared_ptr<Model> load(const fs::path& path, const LoadOptions& options) const override {
    std::shared_ptr<Model> m = inner_->load(path, options);
    if (!m) throw PluginError(plugin_ + ": format '" + name() + "' returned no model for '" + path.string() + "'");
    Model* raw = m.get();
    return std::shared_ptr<Model>(raw, ModelKeepalive{std::move(m), library_});
  }
  void save(const Model& model, const fs::path& path, const SaveOptions& options) const override {
    inner_->save(model, path, options);
  }
  void load_weights(Model& model, const fs::path& path, const LoadOptions& options) const override {
    inner_->load_weights(model, path, options);
  }

 private:
  Keepalive library_;
  SerializerPtr inner_;
  std::string plugin_;
};

template <class T>
struct Overridden {
  NameTable<T>* table;
  typename NameTable<T>::Entry entry;
};

struct LoadedPlugin {
  PluginInfo info;
  std::shared_ptr<PluginLibrary> library;
  std::string provider;
  std::vector<Overridden<LayerFactory>> overridden_layers;
  std::vector<Overridden<Activation>> overridden_functions;
  std::vector<Overridden<SerializerPtr>> overridden_formats;
};

std::mutex g_load_mutex;  // loading and unloading are serialized
std::map<std::string, LoadedPlugin, std::less<>> g_loaded;

bool is_live_provider(const std::string& provider) {
  if (provider.rfind("plugin '", 0) != 0) return true;  // "kserde", "application"
  return std::any_of(g_loaded.begin(), g_loaded.end(),
                     [&](const auto& kv) { return kv.second.provider == provider; });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PluginRegistrar

struct PluginRegistrar::Staged {
  std::shared_ptr<PluginLibrary> library;
  Keepalive keepalive;
  std::string provider;
  const PluginInfo* info = nullptr;
  std::vector<NameTable<LayerFactory>::Entry> builtin_layers;
  std::vector<NameTable<LayerFactory>::Entry> registered_layers;
  std::vector<NameTable<Activation>::Entry> functions;
  std::vector<NameTable<SerializerPtr>::Entry> formats;
  std::set<std::string> layer_names, function_names, format_names;
};

PluginRegistrar::PluginRegistrar(Staged& staged) : KserdePluginRegistrar{}, staged_(staged) {
  abi_version = KSERDE_PLUGIN_ABI_VERSION;
}

const std::string& PluginRegistrar::plugin_name() const { return staged_.info->name; }

std::shared_ptr<const void> PluginRegistrar::keepalive() const { return staged_.keepalive; }

PluginRegistrar& PluginRegistrar::add_layer(std::string name, LayerFactory factory) {
  if (!staged_.info->provides_layer(name)) {
    throw PluginError("plugin '" + plugin_name() + "' registers the layer '" + name +
                      "' without declaring it; add it to KSERDE_LAYERS(...) and PROVIDES_LAYERS");
  }
  if (!factory) throw PluginError("plugin '" + plugin_name() + "' registers an empty factory for '" + name + "'");
  if (!staged_.layer_names.insert(name).second) {
    throw PluginError("plugin '" + plugin_name() + "' registers the layer '" + name + "' twice");
  }
  auto holder = std::make_shared<const FactoryHolder>(
      FactoryHolder{staged_.keepalive, std::move(factory), plugin_where(plugin_name(), staged_.info->library), name});
  LayerFactory wrapped = [holder](std::shared_ptr<JsonDocument> d, Deserializer& c) -> std::shared_ptr<Layer> {
    std::shared_ptr<Layer> inner;
    try {
      inner = holder->factory(std::move(d), c);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw PluginError(holder->plugin + ": creating '" + holder->key + "' failed: " + e.what());
    } catch (...) {
      throw PluginError(holder->plugin + ": creating '" + holder->key + "' threw a non-standard exception");
    }
    if (!inner) throw PluginError(holder->plugin + ": the factory of '" + holder->key + "' returned no layer");
    Layer* raw = inner.get();
    return std::shared_ptr<Layer>(raw, LayerKeepalive{std::move(inner), holder->library});
  };
  auto& target = name.find('>') == std::string::npos ? staged_.builtin_layers : staged_.registered_layers;
  target.push_back({std::move(name), std::move(wrapped), staged_.provider});
  return *this;
}

PluginRegistrar& PluginRegistrar::add_function(std::string name, ActivationFn fn) {
  if (!staged_.info->provides_function(name)) {
    throw PluginError("plugin '" + plugin_name() + "' registers the function '" + name +
                      "' without declaring it; add it to KSERDE_FUNCTIONS(...) and PROVIDES_FUNCTIONS");
  }
  if (fn == nullptr) throw PluginError("plugin '" + plugin_name() + "' registers a null function '" + name + "'");
  if (!staged_.function_names.insert(name).second) {
    throw PluginError("plugin '" + plugin_name() + "' registers the function '" + name + "' twice");
  }
  Activation a{name, fn, staged_.keepalive, false};
  staged_.functions.push_back({std::move(name), std::move(a), staged_.provider});
  return *this;
}

PluginRegistrar& PluginRegistrar::add_format(SerializerPtr serializer) {
  if (!serializer) throw PluginError("plugin '" + plugin_name() + "' registers a null format");
  const std::string name = serializer->name();
  const auto& decls = staged_.info->formats;
  auto decl = std::find_if(decls.begin(), decls.end(), [&](const auto& f) { return f.name == name; });
  if (decl == decls.end()) {
    throw PluginError("plugin '" + plugin_name() + "' registers the format '" + name +
                      "' without declaring it; add it to KSERDE_FORMAT(...) and PROVIDES_FORMATS");
  }
  std::vector<std::string> have = serializer->extensions();
  std::vector<std::string> want = decl->extensions;
  std::sort(have.begin(), have.end());
  std::sort(want.begin(), want.end());
  if (have != want) {
    throw PluginError("plugin '" + plugin_name() + "': format '" + name +
                      "' claims other file extensions than it declares in KSERDE_FORMAT");
  }
  if (!staged_.format_names.insert(name).second) {
    throw PluginError("plugin '" + plugin_name() + "' registers the format '" + name + "' twice");
  }
  SerializerPtr wrapped = std::make_shared<const PluginSerializer>(
      staged_.keepalive, std::move(serializer), plugin_where(plugin_name(), staged_.info->library));
  staged_.formats.push_back({name, std::move(wrapped), staged_.provider});
  return *this;
}

// ---------------------------------------------------------------------------------------------
// Loading

namespace {

template <class T>
void remember_overridden(NameTable<T>& table, const std::vector<typename NameTable<T>::Entry>& staged,
                         std::vector<Overridden<T>>& out) {
  for (const auto& e : staged) {
    auto value = table.find(e.key);
    auto provider = table.provider_of(e.key);
    if (value && provider) out.push_back({&table, {e.key, std::move(*value), std::move(*provider)}});
  }
}

template <class T>
void restore(std::vector<Overridden<T>>& saved, bool only_live) {
  for (auto& o : saved) {
    if (o.table->contains(o.entry.key)) continue;
    if (only_live && !is_live_provider(o.entry.provider)) continue;
    o.table->add(o.entry.key, o.entry.value, o.entry.provider, OnClash::Override);
  }
}

PluginInfo load_plugin_locked(const fs::path& path, const PluginLoadOptions& options) {
  std::error_code ec;
  const fs::path canon = fs::canonical(path, ec);
  if (!ec) {
    for (const auto& [name, p] : g_loaded) {
      if (p.info.library == canon) return p.info;
    }
  }
  std::shared_ptr<PluginLibrary> library = PluginLibrary::open(path);
  const PluginInfo& info = library->info();
  if (auto it = g_loaded.find(info.name); it != g_loaded.end()) {
    throw PluginError("'" + info.library.string() + "': a plugin named '" + info.name +
                      "' is already loaded from '" + it->second.info.library.string() +
                      "'; unload_plugin(\"" + info.name + "\") first");
  }
  const std::string provider = plugin_where(info.name, info.library);
  LoadedPlugin loaded{info, library, provider, {}, {}, {}};
  {
    PluginRegistrar::Staged staged;
    staged.library = library;
    staged.keepalive = Keepalive(library, library.get());
    staged.provider = provider;
    staged.info = &info;
    PluginRegistrar registrar(staged);
    library->run_registration(registrar);

    // Every declared name must have been registered.
    std::vector<std::string> missing;
    for (const auto& n : info.layers) {
      if (staged.layer_names.count(n) == 0) missing.push_back("layer '" + n + "'");
    }
    for (const auto& n : info.functions) {
      if (staged.function_names.count(n) == 0) missing.push_back("function '" + n + "'");
    }
    for (const auto& f : info.formats) {
      if (staged.format_names.count(f.name) == 0) missing.push_back("format '" + f.name + "'");
    }
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
      throw PluginError("'" + info.library.string() + "': plugin '" + info.name +
                        "' declares but does not register: " + list +
                        "; nothing it provides was registered");
    }

    // Commit table by table; undo the earlier tables when a later one refuses.
    const OnClash clash = options.on_clash;
    if (clash == OnClash::Override) {
      remember_overridden(builtin_layers(), staged.builtin_layers, loaded.overridden_layers);
      remember_overridden(registered_layers(), staged.registered_layers, loaded.overridden_layers);
      remember_overridden(registered_functions(), staged.functions, loaded.overridden_functions);
      remember_overridden(formats(), staged.formats, loaded.overridden_formats);
    }
    int step = 0;
    try {
      builtin_layers().add_all(std::move(staged.builtin_layers), clash);
      ++step;
      registered_layers().add_all(std::move(staged.registered_layers), clash);
      ++step;
      registered_functions().add_all(std::move(staged.functions), clash);
      ++step;
      formats().add_all(std::move(staged.formats), clash);
      ++step;
    } catch (const std::exception& e) {
      if (step > 0) builtin_layers().remove_provider(provider);
      if (step > 1) registered_layers().remove_provider(provider);
      if (step > 2) registered_functions().remove_provider(provider);
      restore(loaded.overridden_layers, false);
      restore(loaded.overridden_functions, false);
      restore(loaded.overridden_formats, false);
      throw PluginError("'" + info.library.string() + "': plugin '" + info.name +
                        "' cannot be registered: " + e.what() +
                        " (nothing it provides was registered)");
    }
  }
  PluginInfo out = info;
  g_loaded.emplace(out.name, std::move(loaded));
  return out;
}

}  // namespace

PluginInfo load_plugin(const fs::path& path, const PluginLoadOptions& options) {
  std::lock_guard lock(g_load_mutex);
  return load_plugin_locked(path, options);
}

bool unload_plugin(std::string_view name) {
  std::lock_guard lock(g_load_mutex);
  auto it = g_loaded.find(name);
  if (it == g_loaded.end()) return false;
  LoadedPlugin p = std::move(it->second);
  g_loaded.erase(it);
  builtin_layers().remove_provider(p.provider);
  registered_layers().remove_provider(p.provider);
  registered_functions().remove_provider(p.provider);
  formats().remove_provider(p.provider);
  restore(p.overridden_layers, true);
  restore(p.overridden_functions, true);
  restore(p.overridden_formats, true);
  // `p` goes out of scope here: the loader's reference to the library is dropped. Objects the
  // plugin made keep it mapped until they are gone.
  return true;
}

std::vector<PluginInfo> loaded_plugins() {
  std::lock_guard lock(g_load_mutex);
  std::vector<PluginInfo> out;
  for (const auto& [name, p] : g_loaded) out.push_back(p.info);
  return out;
}

std::vector<fs::path> plugin_search_path(const LoadOptions& options) {
  std::vector<fs::path> dirs = registry::plugin_path_from_env();
  dirs.insert(dirs.end(), options.plugin_dirs.begin(), options.plugin_dirs.end());
  if (options.bundled_plugins) {
    const fs::path bundled = registry::bundled_plugin_dir();
    if (!bundled.empty()) dirs.push_back(bundled);
  }
  return dirs;
}

std::string_view plugin_origin_name(PluginOrigin origin) {
  switch (origin) {
    case PluginOrigin::Bundled:
      return "bundled";
    case PluginOrigin::Environment:
      return "KSERDE_PLUGIN_PATH";
    case PluginOrigin::Directory:
      return "plugin directory";
    case PluginOrigin::Explicit:
      break;
  }
  return "loaded by path";
}

namespace {

std::vector<fs::path> unique_dirs(std::vector<fs::path> dirs) {
  std::vector<fs::path> out;
  std::set<fs::path> seen;
  for (const fs::path& d : dirs) {
    std::error_code ec;
    fs::path key = fs::weakly_canonical(d, ec);
    if (ec) key = d;
    if (seen.insert(key).second) out.push_back(d);
  }
  return out;
}

const LoadedPlugin* loaded_from(const fs::path& library) {
  std::error_code ec;
  const fs::path canon = fs::canonical(library, ec);
  if (ec) return nullptr;
  for (const auto& [name, p] : g_loaded) {
    if (p.info.library == canon) return &p;
  }
  return nullptr;
}

}  // namespace

std::vector<AvailablePlugin> available_plugins(const std::vector<fs::path>& dirs, bool include_env,
                                               bool probe, bool include_bundled) {
  std::vector<std::pair<fs::path, PluginOrigin>> all;
  if (include_env) {
    for (const fs::path& d : registry::plugin_path_from_env()) {
      all.emplace_back(d, PluginOrigin::Environment);
    }
  }
  for (const fs::path& d : dirs) all.emplace_back(d, PluginOrigin::Directory);
  if (include_bundled && !registry::bundled_plugin_dir().empty()) {
    all.emplace_back(registry::bundled_plugin_dir(), PluginOrigin::Bundled);
  }
  std::lock_guard lock(g_load_mutex);
  std::vector<AvailablePlugin> out;
  std::set<fs::path> listed, seen_dirs;
  for (const auto& [dir, origin] : all) {
    std::error_code dir_ec;
    const fs::path key = fs::weakly_canonical(dir, dir_ec);
    if (!seen_dirs.insert(dir_ec ? dir : key).second) continue;
    for (registry::PluginCandidate& c : registry::scan_plugin_dir(dir)) {
      AvailablePlugin a;
      a.origin = origin;
      a.library = c.library;
      a.info = std::move(c.manifest);
      a.problem = std::move(c.problem);
      if (const LoadedPlugin* p = loaded_from(a.library)) {
        a.loaded = a.loadable = true;
        a.info = p->info;
        a.problem.clear();
      } else if (probe && a.problem.empty()) {
        try {
          a.info = load_plugin_locked(a.library, {});
          a.loaded = a.loadable = true;
        } catch (const std::exception& e) {
          a.problem = e.what();
        }
      }
      std::error_code ec;
      fs::path canon = fs::canonical(a.library, ec);
      listed.insert(ec ? a.library : canon);
      out.push_back(std::move(a));
    }
  }
  // Plugins loaded explicitly from elsewhere.
  for (const auto& [name, p] : g_loaded) {
    if (listed.count(p.info.library) != 0) continue;
    AvailablePlugin a;
    a.origin = PluginOrigin::Explicit;
    a.library = p.info.library;
    a.info = p.info;
    a.loaded = a.loadable = true;
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<PluginInfo> load_plugins_in(const fs::path& dir, const PluginLoadOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw PluginError("'" + dir.string() + "': plugin directory does not exist");
  }
  std::lock_guard lock(g_load_mutex);
  std::vector<PluginInfo> out;
  for (const registry::PluginCandidate& c : registry::scan_plugin_dir(dir)) {
    if (!c.problem.empty()) throw PluginError(c.problem);
    out.push_back(load_plugin_locked(c.library, options));
  }
  return out;
}

bool load_plugin_providing(PluginObjectKind kind, std::string_view name, const LoadOptions& options) {
  const std::vector<fs::path> dirs = unique_dirs(plugin_search_path(options));
  if (dirs.empty() || name.empty()) return false;
  auto declares = [&](const PluginInfo& info) {
    switch (kind) {
      case PluginObjectKind::Layer:
        return info.provides_layer(name);
      case PluginObjectKind::Function:
        if (info.provides_function(name)) return true;
        if (name.find('>') == std::string_view::npos) {  // Keras <= 3.6 bare function name
          const std::string suffix = ">" + std::string(name);
          return std::any_of(info.functions.begin(), info.functions.end(), [&](const std::string& f) {
            return f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0;
          });
        }
        return false;
      case PluginObjectKind::Format:
        return info.provides_format(name);
    }
    return false;
  };
  std::lock_guard lock(g_load_mutex);
  for (const fs::path& dir : dirs) {
    for (const registry::PluginCandidate& c : registry::scan_plugin_dir(dir)) {
      if (!c.manifest || !declares(*c.manifest)) continue;
      // Already loaded (perhaps by another thread just now): the caller looks the name up again.
      if (loaded_from(c.library) != nullptr) return true;
      if (!c.problem.empty()) throw PluginError(c.problem);
      load_plugin_locked(c.library, {options.plugin_override ? OnClash::Override : OnClash::Error});
      return true;
    }
  }
  return false;
}

}  // namespace kserde
