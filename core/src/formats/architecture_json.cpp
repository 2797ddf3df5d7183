// Architecture only: model.to_json() / model_from_json() — the config.json object dict alone.
// Loading gives a built model with zero-initialized weights (fill them with load_weights).
#include "formats/model_io.hpp"
#include "kserde/error.hpp"
#include "kserde/io/atomic_file.hpp"
#include "kserde/io/mapped_file.hpp"
#include "kserde/serializer.hpp"

namespace kserde {

namespace {

class ArchitectureJsonFormat final : public Serializer {
 public:
  std::string name() const override { return "json"; }
  std::vector<std::string> extensions() const override { return {".json"}; }
  bool sniff(const std::filesystem::path& path, std::span<const std::byte> head,
             bool is_directory) const override {
    if (is_directory || path.extension() != ".json") return false;
    for (std::byte b : head) {
      const char c = static_cast<char>(b);
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
      return c == '{';
    }
    return false;
  }
  std::shared_ptr<Model> load(const std::filesystem::path& path,
                              const LoadOptions& options) const override {
    return model_io::model_from_config_text(
        io::read_text_file(path, options.json_limits.max_bytes), options, path.string());
  }
  void save(const Model& model, const std::filesystem::path& path,
            const SaveOptions&) const override {
    io::write_file_atomic(path, model_io::config_json(model));
  }
};

const bool kRegistered = [] {
  formats().add("json", std::make_shared<ArchitectureJsonFormat>(), "kserde");
  return true;
}();

}  // namespace

}  // namespace kserde
