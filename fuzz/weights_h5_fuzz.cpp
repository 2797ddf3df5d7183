// libFuzzer target for .weights.h5 loading: the input is written to a .weights.h5 file and loaded
// with kserde::load_weights into the golden MLP (tests/golden/mlp), exercising the weight store on
// top of the HDF5 reader (vars groups, dataset shapes and dtypes against the model's variables).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fuzz_support.hpp"
#include "kserde/error.hpp"
#include "kserde/saving.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::shared_ptr<kserde::Model> model =
      kserde::load_model(kserde::fuzz::source_dir() / "tests/golden/mlp/model.keras");
  const auto path = kserde::fuzz::write_input("fuzz.weights.h5", data, size);
  kserde::LoadOptions options;
  options.max_weight_bytes = 256u << 20;
  options.hdf5_limits.max_objects_visited = 5000;
  options.hdf5_limits.max_dataset_bytes = 16u << 20;
  try {
    kserde::load_weights(*model, path, options);
  } catch (const kserde::Error&) {
  }
  return 0;
}
