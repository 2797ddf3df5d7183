// Weights only: ".weights.h5" (save_weights / load_weights), the layout of model.weights.h5.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "formats/weight_store.hpp"
#include "kserde/error.hpp"
#include "kserde/hdf5/reader.hpp"
#include "kserde/hdf5/writer.hpp"
#include "kserde/io/atomic_file.hpp"
#include "kserde/io/mapped_file.hpp"
#include "kserde/model.hpp"
#include "kserde/serializer.hpp"

namespace kserde {

namespace {

class WeightsH5Format final : public Serializer {
 public:
  std::string name() const override { return "weights-h5"; }
  std::vector<std::string> extensions() const override { return {".weights.h5"}; }
  bool weights_only() const override { return true; }
  bool sniff(const std::filesystem::path& path, std::span<const std::byte> head,
             bool is_directory) const override {
    const std::string n = path.filename().string();
    return !is_directory && hdf5::has_signature(head) && n.size() > 11 &&
           n.compare(n.size() - 11, 11, ".weights.h5") == 0;
  }

  void load_weights(Model& model, const std::filesystem::path& path,
                    const LoadOptions& options) const override {
    auto src = io::map_file(path);
    src.file_name = path.string();
    if (!hdf5::superblock_offset(src.bytes)) {
      throw FormatError(path.string() +
                        ": not an HDF5 file (no HDF5 signature at offset 0 or past a user block)");
    }
    auto store = weights::open_h5(std::move(src), options);
    weights::load_into(model, *store, options.compile);
  }

  void save(const Model& model, const std::filesystem::path& path,
            const SaveOptions&) const override {
    if (!model.built()) {
      throw ConfigError(path.string() + ": You are saving a model that has not yet been built; "
                                        "build it (or give it an Input) first");
    }
    hdf5::Writer h5;
    weights::describe_into(model, h5, true);
    io::AtomicFile out(path);
    {
      io::FileSink sink(out.temp_path().string());
      h5.write(sink);
    }
    out.commit();
  }
};

class ShardedWeightsFormat final : public Serializer {
 public:
  std::string name() const override { return "weights-json"; }
  std::vector<std::string> extensions() const override { return {".weights.json"}; }
  bool weights_only() const override { return true; }
  bool sniff(const std::filesystem::path& path, std::span<const std::byte>,
             bool is_directory) const override {
    const std::string n = path.filename().string();
    return !is_directory && n.size() > 13 && n.compare(n.size() - 13, 13, ".weights.json") == 0;
  }
  void load_weights(Model& model, const std::filesystem::path& path,
                    const LoadOptions& options) const override {
    auto store = weights::open_sharded(path, options);
    weights::load_into(model, *store, options.compile);
  }
  void save(const Model& model, const std::filesystem::path& path,
            const SaveOptions& options) const override {
    weights::save_sharded(model, path, options);
  }
};

const bool kRegistered = [] {
  formats().add("weights-h5", std::make_shared<WeightsH5Format>(), "kserde");
  formats().add("weights-json", std::make_shared<ShardedWeightsFormat>(), "kserde");
  return true;
}();

}  // namespace

}  // namespace kserde
