#include "kserde/registry/plugin_loader.hpp"

#include <dlfcn.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <boost/dll/library_info.hpp>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "kserde/error.hpp"
#include "kserde/registry/keras_name.hpp"

namespace kserde::registry {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestSuffix = KSERDE_PLUGIN_MANIFEST_SUFFIX;

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

std::pair<int, int> major_minor(std::string_view v) {
  int major = -1;
  int minor = -1;
  std::size_t dot = v.find('.');
  try {
    major = std::stoi(std::string(v.substr(0, dot)));
    if (dot != std::string_view::npos) {
      std::string_view rest = v.substr(dot + 1);
      minor = std::stoi(std::string(rest.substr(0, rest.find('.'))));
    }
  } catch (const std::exception&) {
    return {-1, -1};
  }
  return {major, minor};
}

bool valid_plugin_name(std::string_view n) {
  if (n.empty() || n.size() > 128) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

std::vector<std::string> c_list(const char* const* list) {
  std::vector<std::string> out;
  if (list == nullptr) return out;
  for (std::size_t i = 0; list[i] != nullptr && i < 100000; ++i) out.emplace_back(list[i]);
  return out;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end(), [](const T& a, const T& b) {
    if constexpr (std::is_same_v<T, PluginFormatInfo>) {
      return a.name < b.name;
    } else {
      return a < b;
    }
  });
  return v;
}

// A minimal sanity check of the ELF header before Boost.DLL parses section tables (so a
// truncated or hostile file cannot make it read garbage sizes).
void check_elf(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw PluginError(quoted(file) + ": cannot be opened to read as a plugin library");
  std::array<unsigned char, 64> h{};
  in.read(reinterpret_cast<char*>(h.data()), h.size());
  const auto got = static_cast<std::size_t>(in.gcount());
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(file, ec);
  const bool elf = got == h.size() && h[0] == 0x7f && h[1] == 'E' && h[2] == 'L' && h[3] == 'F';
  if (!elf) {
    throw PluginError(quoted(file) + ": is not a shared library (no ELF header); a kserde plugin is "
                                     "a shared library built with kserde_add_plugin");
  }
  if (h[4] != 2 || h[5] != 1) {
    throw PluginError(quoted(file) + ": is an ELF file for another architecture (not 64-bit "
                                     "little-endian), so it cannot be loaded as a plugin");
  }
  auto u16 = [&](std::size_t o) { return static_cast<std::uint64_t>(h[o] | (h[o + 1] << 8)); };
  std::uint64_t shoff = 0;
  for (int i = 7; i >= 0; --i) shoff = (shoff << 8) | h[static_cast<std::size_t>(40 + i)];
  const std::uint64_t type = u16(16);
  const std::uint64_t shentsize = u16(58);
  const std::uint64_t shnum = u16(60);
  if (type != 3 /* ET_DYN */) {
    throw PluginError(quoted(file) + ": is an ELF file but not a shared library");
  }
  if (ec || shentsize != 64 || shoff > size || shnum * shentsize > size - shoff) {
    throw PluginError(quoted(file) + ": is a truncated or damaged shared library");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PluginInfo

bool PluginInfo::provides_layer(std::string_view key) const {
  return std::find(layers.begin(), layers.end(), key) != layers.end();
}
bool PluginInfo::provides_function(std::string_view key) const {
  return std::find(functions.begin(), functions.end(), key) != functions.end();
}
bool PluginInfo::provides_format(std::string_view format_name) const {
  return std::any_of(formats.begin(), formats.end(),
                     [&](const PluginFormatInfo& f) { return f.name == format_name; });
}

PluginInfo info_from_descriptor(const KserdePluginDescriptor& d, const fs::path& lib) {
  PluginInfo info;
  info.library = lib;
  info.abi_version = d.abi_version;
  info.kserde_version = d.kserde_version != nullptr ? d.kserde_version : "";
  info.name = d.name != nullptr ? d.name : "";
  info.version = d.version != nullptr ? d.version : "";
  info.layers = c_list(d.layers);
  info.functions = c_list(d.functions);
  for (std::uint32_t i = 0; d.formats != nullptr && i < d.format_count; ++i) {
    const KserdePluginFormat& f = d.formats[i];
    PluginFormatInfo fi;
    fi.name = f.name != nullptr ? f.name : "";
    fi.extensions = split(f.extensions != nullptr ? f.extensions : "", ';');
    fi.magic_hex = f.magic != nullptr ? f.magic : "";
    std::transform(fi.magic_hex.begin(), fi.magic_hex.end(), fi.magic_hex.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    info.formats.push_back(std::move(fi));
  }
  return info;
}

std::string descriptor_problem(const KserdePluginDescriptor& d) {
  if (d.abi_version != KSERDE_PLUGIN_ABI_VERSION) {
    return "is built for plugin ABI version " + std::to_string(d.abi_version) +
           ", but this kserde supports plugin ABI version " +
           std::to_string(KSERDE_PLUGIN_ABI_VERSION) + "; rebuild the plugin against kserde " +
           std::string(library_version());
  }
  if (d.struct_size < sizeof(KserdePluginDescriptor)) {
    return "has a descriptor of " + std::to_string(d.struct_size) + " bytes, expected at least " +
           std::to_string(sizeof(KserdePluginDescriptor));
  }
  const std::string built = d.kserde_version != nullptr ? d.kserde_version : "";
  const auto [pmaj, pmin] = major_minor(built);
  const auto [hmaj, hmin] = major_minor(library_version());
  if (pmaj < 0 || pmaj != hmaj || pmin != hmin) {
    return "was built against kserde " + (built.empty() ? std::string("(unknown)") : built) +
           ", but this is kserde " + std::string(library_version()) +
           "; plugins must be built against the same kserde major.minor version";
  }
  if (d.name == nullptr || !valid_plugin_name(d.name)) {
    return "has an invalid plugin name (expected 1-128 characters of [A-Za-z0-9_.-])";
  }
  if (d.version == nullptr) return "has no version string";
  if (d.register_fn == nullptr) return "has no registration function";
  if (d.format_count > 0 && d.formats == nullptr) return "declares formats but lists none";
  for (std::uint32_t i = 0; i < d.format_count; ++i) {
    if (d.formats[i].name == nullptr || *d.formats[i].name == '\0') return "declares a format without a name";
  }
  return {};
}

std::string manifest_mismatch(const PluginInfo& m, const PluginInfo& d) {
  std::vector<std::string> diffs;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
    return "[" + s + "]";
  };
  if (m.name != d.name) diffs.push_back("name '" + m.name + "' vs '" + d.name + "'");
  if (m.version != d.version) diffs.push_back("version '" + m.version + "' vs '" + d.version + "'");
  if (sorted(m.layers) != sorted(d.layers)) {
    diffs.push_back("layers " + join(sorted(m.layers)) + " vs " + join(sorted(d.layers)));
  }
  if (sorted(m.functions) != sorted(d.functions)) {
    diffs.push_back("functions " + join(sorted(m.functions)) + " vs " + join(sorted(d.functions)));
  }
  auto fmt_names = [](const std::vector<PluginFormatInfo>& v) {
    std::vector<std::string> out;
    for (const auto& f : v) {
      std::vector<std::string> exts = f.extensions;
      std::sort(exts.begin(), exts.end());
      std::string ext;
      for (const auto& e : exts) ext += (ext.empty() ? "" : ",") + e;
      out.push_back(f.name + ":" + ext + ":" + f.magic_hex);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  if (fmt_names(m.formats) != fmt_names(d.formats)) {
    diffs.push_back("formats " + join(fmt_names(m.formats)) + " vs " + join(fmt_names(d.formats)));
  }
  std::string out;
  for (const std::string& s : diffs) out += (out.empty() ? "" : "; ") + s;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Manifests

fs::path manifest_path_for(const fs::path& library) {
  std::string stem = library.filename().string();
  for (const char* suffix : {".so", ".dylib", ".dll"}) {
    const std::size_t at = stem.find(suffix);
    if (at != std::string::npos && at > 0) {
      stem.resize(at);
      break;
    }
  }
  if (stem.rfind("lib", 0) == 0 && stem.size() > 3) stem.erase(0, 3);
  return library.parent_path() / (stem + kManifestSuffix);
}

PluginInfo read_manifest(const fs::path& manifest) {
  std::ifstream in(manifest, std::ios::binary);
  if (!in) throw PluginError(quoted(manifest) + ": plugin manifest cannot be read");
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > (1u << 20)) throw PluginError(quoted(manifest) + ": plugin manifest is larger than 1 MiB");
  }
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  auto bad = [&](const std::string& why) {
    return PluginError(quoted(manifest) + ": invalid plugin manifest: " + why);
  };
  if (doc.HasParseError()) {
    throw bad(std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at offset " +
              std::to_string(doc.GetErrorOffset()));
  }
  if (!doc.IsObject()) throw bad("not a JSON object");
  auto str = [&](const char* key, bool required) -> std::string {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd()) {
      if (required) throw bad(std::string("missing \"") + key + "\"");
      return {};
    }
    if (!it->value.IsString()) throw bad(std::string("\"") + key + "\" is not a string");
    return it->value.GetString();
  };
  auto list = [&](const rapidjson::Value& obj, const char* key) {
    std::vector<std::string> out;
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd()) return out;
    if (!it->value.IsArray()) throw bad(std::string("\"") + key + "\" is not an array");
    for (const auto& v : it->value.GetArray()) {
      if (!v.IsString()) throw bad(std::string("\"") + key + "\" holds a non-string");
      out.emplace_back(v.GetString());
    }
    return out;
  };
  PluginInfo info;
  if (auto it = doc.FindMember("abi_version"); it != doc.MemberEnd() && it->value.IsUint()) {
    info.abi_version = it->value.GetUint();
  }
  info.name = str("name", true);
  info.version = str("version", false);
  const std::string lib = str("library", true);
  const fs::path lib_path(lib);
  // A manifest may only describe a library beside it: never a path elsewhere.
  if (lib.empty() || lib_path.filename() != lib_path || lib == "." || lib == "..") {
    throw bad("\"library\" must be a file name in the manifest's own directory, not '" + lib + "'");
  }
  info.library = manifest.parent_path() / lib_path;
  info.layers = list(doc, "layers");
  info.functions = list(doc, "functions");
  if (auto it = doc.FindMember("formats"); it != doc.MemberEnd()) {
    if (!it->value.IsArray()) throw bad("\"formats\" is not an array");
    for (const auto& f : it->value.GetArray()) {
      if (!f.IsObject() || !f.HasMember("name") || !f["name"].IsString()) {
        throw bad("a format entry needs a \"name\"");
      }
      PluginFormatInfo fi;
      fi.name = f["name"].GetString();
      fi.extensions = list(f, "extensions");
      if (f.HasMember("magic") && f["magic"].IsString()) fi.magic_hex = f["magic"].GetString();
      info.formats.push_back(std::move(fi));
    }
  }
  return info;
}

std::string manifest_json(const PluginInfo& info) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto list = [&](const std::vector<std::string>& v) {
    w.StartArray();
    for (const std::string& s : v) w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
    w.EndArray();
  };
  w.StartObject();
  w.Key("kserde_plugin_manifest");
  w.Uint(1);
  w.Key("abi_version");
  w.Uint(info.abi_version != 0 ? info.abi_version : KSERDE_PLUGIN_ABI_VERSION);
  w.Key("name");
  w.String(info.name.c_str());
  w.Key("version");
  w.String(info.version.c_str());
  w.Key("library");
  w.String(info.library.filename().string().c_str());
  w.Key("layers");
  list(info.layers);
  w.Key("functions");
  list(info.functions);
  w.Key("formats");
  w.StartArray();
  for (const PluginFormatInfo& f : info.formats) {
    w.StartObject();
    w.Key("name");
    w.String(f.name.c_str());
    w.Key("extensions");
    list(f.extensions);
    w.Key("magic");
    w.String(f.magic_hex.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

// ---------------------------------------------------------------------------------------------
// Inspecting files

EntryPoint inspect_entry_point(const fs::path& library) {
  check_elf(library);
  try {
    boost::dll::library_info li(boost::dll::fs::path(library.string()));
    const std::vector<std::string> sections = li.sections();
    if (std::find(sections.begin(), sections.end(), ".symtab") == sections.end()) {
      return EntryPoint::Unknown;  // stripped: only loading can tell
    }
    const std::vector<std::string> symbols = li.symbols();
    return std::find(symbols.begin(), symbols.end(), KSERDE_PLUGIN_ENTRY_SYMBOL) != symbols.end()
               ? EntryPoint::Present
               : EntryPoint::Missing;
  } catch (const std::exception& e) {
    throw PluginError(quoted(library) + ": is not a shared library kserde can read: " + e.what());
  }
}

bool looks_like_shared_library(const fs::path& file) {
  const std::string name = file.filename().string();
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0) return true;
  if (name.find(".so.") != std::string::npos) return true;
  for (const char* ext : {".dylib", ".dll"}) {
    const std::size_t n = std::strlen(ext);
    if (name.size() > n && name.compare(name.size() - n, n, ext) == 0) return true;
  }
  return false;
}

bool is_library_mapped(const fs::path& library) {
  void* h = ::dlopen(library.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (h == nullptr) return false;
  ::dlclose(h);
  return true;
}

// ---------------------------------------------------------------------------------------------
// PluginLibrary

struct PluginLibrary::Impl {
  boost::dll::shared_library lib;
};

PluginLibrary::~PluginLibrary() = default;

std::shared_ptr<PluginLibrary> PluginLibrary::open(const fs::path& library) {
  std::error_code ec;
  if (!fs::is_regular_file(library, ec)) {
    throw PluginError(quoted(library) + ": no such plugin file");
  }
  const fs::path path = fs::canonical(library, ec);
  if (ec) throw PluginError(quoted(library) + ": cannot resolve the plugin path: " + ec.message());
  if (inspect_entry_point(path) == EntryPoint::Missing) {
    throw PluginError(quoted(path) + ": is not a kserde plugin: it does not export the entry point " +
                      KSERDE_PLUGIN_ENTRY_SYMBOL + " (define it with KSERDE_PLUGIN)");
  }
  std::shared_ptr<PluginLibrary> out(new PluginLibrary());
  out->impl_ = std::make_unique<Impl>();
  try {
    out->impl_->lib.load(boost::dll::fs::path(path.string()),
                         boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw PluginError(quoted(path) + ": cannot be loaded as a plugin: " + e.what());
  }
  if (!out->impl_->lib.has(KSERDE_PLUGIN_ENTRY_SYMBOL)) {
    throw PluginError(quoted(path) + ": is not a kserde plugin: it does not export the entry point " +
                      KSERDE_PLUGIN_ENTRY_SYMBOL + " (define it with KSERDE_PLUGIN)");
  }
  auto& entry = out->impl_->lib.get<const KserdePluginDescriptor*()>(KSERDE_PLUGIN_ENTRY_SYMBOL);
  const KserdePluginDescriptor* d = entry();
  if (d == nullptr) {
    throw PluginError(quoted(path) + ": the plugin's entry point returned no descriptor");
  }
  const std::string problem = descriptor_problem(*d);
  if (!problem.empty()) {
    const std::string who = d->abi_version == KSERDE_PLUGIN_ABI_VERSION && d->name != nullptr
                                ? "plugin '" + std::string(d->name) + "' "
                                : std::string("the plugin ");
    throw PluginError(quoted(path) + ": " + who + problem);
  }
  out->descriptor_ = d;
  out->info_ = info_from_descriptor(*d, path);
  const fs::path manifest = manifest_path_for(path);
  if (fs::exists(manifest, ec)) {
    PluginInfo m = read_manifest(manifest);
    if (m.library.filename() == path.filename()) {
      const std::string diff = manifest_mismatch(m, out->info_);
      if (!diff.empty()) {
        throw PluginError(quoted(path) + ": plugin '" + out->info_.name +
                          "' disagrees with its manifest " + quoted(manifest) + " (manifest vs "
                          "library: " + diff + "); rebuild it so both come from the same "
                          "kserde_add_plugin() call");
      }
    }
  }
  return out;
}

void PluginLibrary::run_registration(KserdePluginRegistrar& registrar) const {
  std::array<char, KSERDE_PLUGIN_ERROR_BUFFER_SIZE> buffer{};
  const int status = descriptor_->register_fn(&registrar, buffer.data(), buffer.size());
  if (status == KSERDE_PLUGIN_OK) return;
  buffer.back() = '\0';
  std::string msg = buffer.data();
  if (msg.empty()) msg = "(no message)";
  const char* kind = status == KSERDE_PLUGIN_STD_EXCEPTION       ? "threw"
                     : status == KSERDE_PLUGIN_UNKNOWN_EXCEPTION ? "threw"
                                                                 : "failed";
  throw PluginError(quoted(path()) + ": plugin '" + info_.name + "' " + kind +
                    " while registering (status " + std::to_string(status) + "): " + msg +
                    "; nothing it provides was registered");
}

// ---------------------------------------------------------------------------------------------
// Scanning directories

namespace {

struct FileStamp {
  fs::file_time_type mtime{};
  std::uintmax_t size = 0;
  bool operator==(const FileStamp&) const = default;
};

struct DirCache {
  fs::file_time_type dir_mtime{};
  std::map<fs::path, FileStamp> stamps;  // every file the result depends on
  std::vector<PluginCandidate> result;
};

std::mutex g_scan_mutex;
std::map<fs::path, DirCache> g_scan_cache;

FileStamp stamp(const fs::path& p) {
  std::error_code ec;
  FileStamp s;
  s.mtime = fs::last_write_time(p, ec);
  s.size = fs::file_size(p, ec);
  if (ec) s.size = static_cast<std::uintmax_t>(-1);
  return s;
}

std::vector<PluginCandidate> scan_uncached(const fs::path& dir, std::map<fs::path, FileStamp>& stamps) {
  std::vector<fs::path> manifests;
  std::vector<fs::path> libraries;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::error_code e2;
    if (!entry.is_regular_file(e2)) continue;
    const fs::path& p = entry.path();
    const std::string name = p.filename().string();
    const std::string suffix = kManifestSuffix;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      manifests.push_back(p);
    } else if (looks_like_shared_library(p)) {
      libraries.push_back(p);
    }
  }
  std::sort(manifests.begin(), manifests.end());
  std::sort(libraries.begin(), libraries.end());
  std::vector<PluginCandidate> out;
  std::set<fs::path> described;
  for (const fs::path& m : manifests) {
    stamps[m] = stamp(m);
    PluginCandidate c;
    try {
      PluginInfo info = read_manifest(m);
      c.library = info.library;
      described.insert(info.library.filename());
      if (!fs::exists(info.library, ec)) {
        c.problem = quoted(m) + ": the manifest names the library " + quoted(info.library) +
                    ", which does not exist";
      } else if (info.abi_version != 0 && info.abi_version != KSERDE_PLUGIN_ABI_VERSION) {
        c.problem = quoted(info.library) + ": the manifest says plugin ABI version " +
                    std::to_string(info.abi_version) + ", this kserde supports " +
                    std::to_string(KSERDE_PLUGIN_ABI_VERSION);
      }
      c.manifest = std::move(info);
    } catch (const Error& e) {
      c.library = m;
      c.problem = e.what();
    }
    out.push_back(std::move(c));
  }
  for (const fs::path& lib : libraries) {
    if (described.count(lib.filename()) != 0) {
      stamps[lib] = stamp(lib);
      continue;
    }
    stamps[lib] = stamp(lib);
    PluginCandidate c;
    c.library = lib;
    try {
      if (inspect_entry_point(lib) == EntryPoint::Missing) continue;  // some other library
    } catch (const Error& e) {
      c.problem = e.what();
    }
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(),
            [](const PluginCandidate& a, const PluginCandidate& b) { return a.library < b.library; });
  return out;
}

}  // namespace

std::vector<PluginCandidate> scan_plugin_dir(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  fs::path key = fs::weakly_canonical(dir, ec);
  if (ec) key = fs::absolute(dir);
  std::lock_guard lock(g_scan_mutex);
  const fs::file_time_type dir_mtime = fs::last_write_time(key, ec);
  auto it = g_scan_cache.find(key);
  if (it != g_scan_cache.end() && !ec && it->second.dir_mtime == dir_mtime) {
    bool fresh = true;
    for (const auto& [file, s] : it->second.stamps) {
      if (!(stamp(file) == s)) {
        fresh = false;
        break;
      }
    }
    if (fresh) return it->second.result;
  }
  DirCache c;
  c.dir_mtime = dir_mtime;
  c.result = scan_uncached(key, c.stamps);
  g_scan_cache[key] = c;
  return c.result;
}

fs::path bundled_plugin_dir() {
  static const fs::path dir = [] {
    boost::system::error_code ec;
    const boost::dll::fs::path self = boost::dll::this_line_location(ec);
    if (ec || self.empty()) return fs::path();
    return fs::path(self.parent_path().string()) / "kserde" / "plugins";
  }();
  return dir;
}

std::vector<fs::path> plugin_path_from_env() {
  std::vector<fs::path> out;
  const char* env = std::getenv("KSERDE_PLUGIN_PATH");
  if (env == nullptr) return out;
  for (const std::string& d : split(env, ':')) out.emplace_back(d);
  return out;
}

}  // namespace kserde::registry
