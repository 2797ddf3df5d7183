// The native ".keras" format (spec §1): a zip with metadata.json, config.json and
// model.weights.h5, every member STORED. Weights are read straight from the weights member's
// byte range in the mapped archive and written by streaming the HDF5 image into the member.
#include <cstring>

#include "formats/model_io.hpp"
#include "formats/weight_store.hpp"
#include "kserde/error.hpp"
#include "kserde/hdf5/writer.hpp"
#include "kserde/io/archive.hpp"
#include "kserde/io/atomic_file.hpp"
#include "kserde/serializer.hpp"

namespace kserde {

namespace {

constexpr const char* kWeightsMember = "model.weights.h5";

std::string member_text(const io::ArchiveReader& zip, const std::string& name,
                        std::uint64_t max_bytes) {
  io::ByteSource src = zip.member(name);
  if (src.bytes.size() > max_bytes) {
    throw LimitError(zip.path().string() + "!" + name + ": " + std::to_string(src.bytes.size()) +
                     " bytes exceeds the limit of " + std::to_string(max_bytes));
  }
  return {reinterpret_cast<const char*>(src.bytes.data()), src.bytes.size()};
}

class KerasArchiveFormat final : public Serializer {
 public:
  std::string name() const override { return "keras"; }
  std::vector<std::string> extensions() const override { return {".keras"}; }
  bool sniff(const std::filesystem::path&, std::span<const std::byte> head,
             bool is_directory) const override {
    return !is_directory && head.size() >= 4 && std::memcmp(head.data(), "PK\x03\x04", 4) == 0;
  }

  std::shared_ptr<Model> load(const std::filesystem::path& path,
                              const LoadOptions& options) const override {
    io::ArchiveReader zip = open(path, options);
    const std::string where = path.string() + "!config.json";
    if (!zip.contains("config.json")) {
      throw FormatError(path.string() + ": the archive has no config.json; is it a Keras model?");
    }
    auto model = model_io::model_from_config_text(
        member_text(zip, "config.json", options.json_limits.max_bytes), options, where);
    read_weights(zip, *model, options);
    if (zip.contains("metadata.json")) {
      model_io::read_metadata(*model, member_text(zip, "metadata.json", 1 << 20));
    }
    return model;
  }

  void load_weights(Model& model, const std::filesystem::path& path,
                    const LoadOptions& options) const override {
    io::ArchiveReader zip = open(path, options);
    read_weights(zip, model, options);
  }

  void save(const Model& model, const std::filesystem::path& path,
            const SaveOptions&) const override {
    // Everything that can fail on the model is computed before the target is touched.
    std::string config = model_io::config_json(model);
    hdf5::Writer h5;
    weights::describe_into(model, h5, true);
    const std::string metadata = model_io::metadata_json();
    io::AtomicFile out(path);
    // Dataset data is 64-byte aligned inside the HDF5 image; padding config.json with trailing
    // spaces (valid JSON) puts the weights member itself on a 64-byte boundary of the file, so
    // a mapped load can borrow every tensor. A dry run with an empty member finds the offset.
    {
      io::ArchiveWriter probe(out.temp_path());
      probe.add("metadata.json", metadata);
      probe.add("config.json", config);
      probe.add(kWeightsMember, std::string_view());
      probe.finish();
    }
    const std::uint64_t offset =
        io::ArchiveReader::open(out.temp_path()).member(kWeightsMember).file_offset;
    config.append(static_cast<std::size_t>((64 - offset % 64) % 64), ' ');
    {
      io::ArchiveWriter zip(out.temp_path());
      zip.add("metadata.json", metadata);
      zip.add("config.json", config);
      zip.add_streamed(kWeightsMember, h5.file_size(), [&](io::ByteSink& sink) { h5.write(sink); });
      zip.finish();
    }
    out.commit();
  }

 private:
  static io::ArchiveReader open(const std::filesystem::path& path, const LoadOptions& options) {
    try {
      return io::ArchiveReader::open(path, options.archive_limits, options.verify_checksums);
    } catch (const FormatError& e) {
      throw FormatError(std::string(e.what()) +
                        " (a .keras file must be the zip archive Keras writes)");
    }
  }

  static void read_weights(const io::ArchiveReader& zip, Model& model, const LoadOptions& options) {
    if (!zip.contains(kWeightsMember)) {
      if (zip.contains("model.weights.npz")) {
        throw UnsupportedError(zip.path().string() +
                               ": model.weights.npz (pickled NumPy weights) is not supported; "
                               "re-save the model with Keras's default h5 weights");
      }
      throw FormatError(zip.path().string() + ": Expected a model.weights.h5 file in the archive");
    }
    io::ByteSource src = zip.member(kWeightsMember);
    src.file_name = zip.path().string() + "!" + kWeightsMember;
    auto store = weights::open_h5(std::move(src), options);
    weights::load_into(model, *store, options.compile);
  }
};

const bool kRegistered = [] {
  formats().add("keras", std::make_shared<KerasArchiveFormat>(), "kserde");
  return true;
}();

}  // namespace

}  // namespace kserde
