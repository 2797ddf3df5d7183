// libFuzzer target for the whole .keras load path: the input is written to a .keras file and
// loaded with kserde::load_model (default LoadOptions, except a 256 MiB weight budget to stay
// under the fuzzer's RSS limit, and no CRC-32 check); a loaded model is then saved back to JSON.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "kserde/error.hpp"
#include "kserde/saving.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = kserde::fuzz::write_input("fuzz_model.keras", data, size);
  kserde::LoadOptions options;
  options.max_weight_bytes = 256u << 20;
  // Random mutations of a member would almost all stop at its CRC-32 (archive_reader_fuzz covers
  // that check); without it they reach the JSON, config and HDF5 code behind it.
  options.verify_checksums = false;
  try {
    auto model = kserde::load_model(path, options);
    (void)kserde::to_json(*model);
  } catch (const kserde::Error&) {
  }
  return 0;
}
