// The unzipped model directory (save(..., zipped=False), spec §1.3): metadata.json, config.json,
// model.weights.h5 and an assets/ folder, as plain files.
#include "formats/model_io.hpp"
#include "formats/weight_store.hpp"
#include "kserde/error.hpp"
#include "kserde/hdf5/writer.hpp"
#include "kserde/io/atomic_file.hpp"
#include "kserde/io/mapped_file.hpp"
#include "kserde/serializer.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace kserde {

namespace {

class KerasDirectoryFormat final : public Serializer {
 public:
  std::string name() const override { return "keras-dir"; }
  std::vector<std::string> extensions() const override { return {}; }
  bool sniff(const std::filesystem::path& path, std::span<const std::byte>,
             bool is_directory) const override {
    std::error_code ec;
    return is_directory && std::filesystem::is_regular_file(path / "config.json", ec);
  }

  std::shared_ptr<Model> load(const std::filesystem::path& path,
                              const LoadOptions& options) const override {
    const auto config = path / "config.json";
    auto model = model_io::model_from_config_text(
        io::read_text_file(config, options.json_limits.max_bytes), options, config.string());
    load_weights(*model, path, options);
    std::error_code ec;
    if (std::filesystem::is_regular_file(path / "metadata.json", ec)) {
      model_io::read_metadata(*model, io::read_text_file(path / "metadata.json", 1 << 20));
    }
    return model;
  }

  void load_weights(Model& model, const std::filesystem::path& path,
                    const LoadOptions& options) const override {
    const auto weights = path / "model.weights.h5";
    std::error_code ec;
    if (!std::filesystem::is_regular_file(weights, ec)) {
      throw FormatError(path.string() + ": Expected a model.weights.h5 file in the model directory");
    }
    auto src = io::map_file(weights);
    src.file_name = weights.string();
    auto store = weights::open_h5(std::move(src), options);
    weights::load_into(model, *store, options.compile);
  }

  void save(const Model& model, const std::filesystem::path& path,
            const SaveOptions&) const override {
    if (path.extension() == ".keras") {
      throw ConfigError(path.string() + ": When using zipped=False, the path should not end in "
                                        "`.keras`");
    }
    const std::string config = model_io::config_json(model);
    hdf5::Writer h5;
    weights::describe_into(model, h5, true);
    std::filesystem::create_directories(path / "assets");
    {
      io::AtomicFile out(path / "model.weights.h5");
      {
        io::FileSink sink(out.temp_path().string());
        h5.write(sink);
      }
      out.commit();
    }
    io::write_file_atomic(path / "config.json", config);
    io::write_file_atomic(path / "metadata.json", model_io::metadata_json());
  }
};

const bool kRegistered = [] {
  formats().add("keras-dir", std::make_shared<KerasDirectoryFormat>(), "kserde");
  return true;
}();

}  // namespace

}  // namespace kserde
