#include "kserde/serializer.hpp"

#include <fstream>

#include "kserde/error.hpp"
#include "kserde/plugin.hpp"

namespace kserde {

std::shared_ptr<Model> Serializer::load(const std::filesystem::path& path,
                                        const LoadOptions&) const {
  throw UnsupportedError(path.string() + ": the " + name() + " format holds no full model; " +
                         "load the model from its .keras file and use load_weights");
}

void Serializer::save(const Model&, const std::filesystem::path& path, const SaveOptions&) const {
  throw UnsupportedError(path.string() + ": the " + name() + " format cannot be written");
}

void Serializer::load_weights(Model&, const std::filesystem::path& path,
                              const LoadOptions&) const {
  throw UnsupportedError(path.string() + ": the " + name() + " format holds no weights");
}

registry::NameTable<SerializerPtr>& formats() {
  static registry::NameTable<SerializerPtr> table("file format");
  return table;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ".h5" / ".hdf5": HDF5 names, claimed by the legacy plugin even when it is not loaded.
bool names_hdf5(const std::filesystem::path& path) {
  const std::string name = lower(path.filename().string());
  return ends_with(name, ".h5") || ends_with(name, ".hdf5");
}

std::string content_kind(const Serializer& s) {
  if (s.name() == "keras") return "a .keras zip archive";
  return "a file of the " + s.name() + " format";
}

SerializerPtr by_extension(const std::filesystem::path& path) {
  const std::string name = lower(path.filename().string());
  SerializerPtr best;
  std::size_t best_len = 0;
  for (const std::string& key : formats().keys()) {
    auto s = formats().find(key);
    if (!s) continue;
    for (const std::string& ext : (*s)->extensions()) {
      if (ext.size() > best_len && ends_with(name, lower(ext))) {
        best = *s;
        best_len = ext.size();
      }
    }
  }
  return best;
}

std::string known_formats() {
  std::string out;
  for (const std::string& key : formats().keys()) {
    auto s = formats().find(key);
    if (!s) continue;
    for (const std::string& ext : (*s)->extensions()) out += (out.empty() ? "" : ", ") + ext;
  }
  return out;
}

// A format plugin in plugin_search_path(options) whose manifest claims the file (by name ending,
// or by magic bytes when `head` is given) is loaded on demand; true when one was loaded.
bool load_format_plugin_for(const std::filesystem::path& path, std::span<const std::byte> head,
                            bool use_magic, const LoadOptions& options) {
  const std::string name = lower(path.filename().string());
  std::string head_hex;
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::byte b : head) {
    head_hex += kHex[std::to_integer<unsigned>(b) >> 4];
    head_hex += kHex[std::to_integer<unsigned>(b) & 15];
  }
  for (const AvailablePlugin& p :
       available_plugins(options.plugin_dirs, true, false, options.bundled_plugins)) {
    if (p.loaded || !p.info) continue;
    for (const auto& f : p.info->formats) {
      bool claims = false;
      for (const std::string& ext : f.extensions) claims = claims || ends_with(name, lower(ext));
      if (use_magic && !f.magic_hex.empty() && head_hex.rfind(f.magic_hex, 0) == 0) claims = true;
      if (claims) {
        load_plugin(p.library);
        return true;
      }
    }
  }
  return false;
}

}  // namespace

SerializerPtr serializer_for_load(const std::filesystem::path& path, const LoadOptions& options) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (!exists) throw IoError(path.string() + ": no such file or directory");
  const bool is_dir = std::filesystem::is_directory(path, ec);
  std::vector<std::byte> head(64);
  std::size_t got = 0;
  if (!is_dir) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(path.string() + ": cannot open for reading");
    in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    got = static_cast<std::size_t>(in.gcount());
  }
  head.resize(got);
  SerializerPtr named;  // the format the file's name claims, if any
  if (!is_dir) {
    named = by_extension(path);
    if (named && named->sniff(path, head, false)) return named;
  }
  for (const std::string& key : formats().keys()) {
    auto s = formats().find(key);
    if (!s || !(*s)->sniff(path, head, is_dir)) continue;
    // The bytes are another format than the name says (a .keras zip named .h5 or .weights.h5):
    // loading it anyway would hide a mix-up, and Keras refuses such a file too.
    if (!is_dir && (named || names_hdf5(path))) {
      const auto exts = (*s)->extensions();
      throw FormatError(path.string() + ": the file is " + content_kind(**s) +
                        ", not what its name says" +
                        (named ? " (" + named->name() + ")" : std::string(" (HDF5)")) +
                        (exts.empty() ? std::string("; refusing it")
                                      : "; refusing it (rename it to end in " + exts.front() +
                                            " if it is meant to be one)"));
    }
    return *s;
  }
  if (!is_dir) {
    if (auto s = by_extension(path)) return s;  // its loader gives the precise error
    if (load_format_plugin_for(path, head, true, options)) return serializer_for_load(path, options);
  }
  throw UnsupportedError(path.string() + ": File format not supported (known formats: " +
                         known_formats() + "; a plugin may add more)");
}

SerializerPtr serializer_for_save(const std::filesystem::path& path, const LoadOptions& options) {
  if (auto s = by_extension(path)) return s;
  if (load_format_plugin_for(path, {}, false, options)) {
    if (auto s = by_extension(path)) return s;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec) || !path.has_extension()) {
    if (auto s = formats().find("keras-dir")) return *s;
  }
  throw UnsupportedError(path.string() + ": cannot tell which format to save from the name " +
                         "(known formats: " + known_formats() + ")");
}

}  // namespace kserde
