// libFuzzer target for sharded weights indexes (.weights.json): the input becomes the index in a
// scratch directory holding the golden shards (tests/golden/sharded_weights/sharded), and is
// loaded with kserde::load_weights into the golden model. Shards may only be named beside the
// index; anything else must be refused with kserde::Error.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "fuzz_support.hpp"
#include "kserde/error.hpp"
#include "kserde/saving.hpp"

namespace {

kserde::Model& golden_model() {
  static std::shared_ptr<kserde::Model> model = [] {
    const auto dir = kserde::fuzz::source_dir() / "tests/golden/sharded_weights";
    for (const auto& e : std::filesystem::directory_iterator(dir / "sharded")) {
      if (e.path().extension() == ".h5") {
        std::filesystem::copy_file(e.path(), kserde::fuzz::scratch_dir() / e.path().filename(),
                                   std::filesystem::copy_options::overwrite_existing);
      }
    }
    return kserde::load_model(dir / "model.keras");
  }();
  return *model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kserde::Model& model = golden_model();
  const auto path = kserde::fuzz::write_input("model.weights.json", data, size);
  kserde::LoadOptions options;
  options.max_weight_bytes = 256u << 20;
  try {
    kserde::load_weights(model, path, options);
  } catch (const kserde::Error&) {
  }
  return 0;
}
