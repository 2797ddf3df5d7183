// libFuzzer target for the legacy_h5 plugin's format (Keras 2 full-model .h5): the input is
// written to a .h5 file and loaded through kserde::legacy_h5::make_format()->load with a
// 256 MiB weight budget and tight HDF5 limits.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "kserde/error.hpp"
#include "kserde/saving.hpp"
#include "kserde_plugins/legacy_h5.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto format = kserde::legacy_h5::make_format();
  const auto path = kserde::fuzz::write_input("fuzz_model.h5", data, size);
  kserde::LoadOptions options;
  options.max_weight_bytes = 256u << 20;
  options.hdf5_limits.max_objects_visited = 5000;
  options.hdf5_limits.max_dataset_bytes = 16u << 20;
  options.hdf5_limits.max_attribute_bytes = 4u << 20;
  try {
    auto model = format->load(path, options);
    (void)kserde::to_json(*model);
  } catch (const kserde::Error&) {
  }
  return 0;
}
