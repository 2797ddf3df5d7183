// libFuzzer target for config.json -> model construction: kserde::model_from_json with default
// LoadOptions (safe mode on), except a 256 MiB weight budget so that a config asking for huge
// variables is refused with LimitError instead of exceeding the fuzzer's RSS limit (the default
// 64 GiB budget is tested by tests/hardening). A model that builds is serialized again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kserde/error.hpp"
#include "kserde/saving.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  kserde::LoadOptions options;
  options.max_weight_bytes = 256u << 20;
  try {
    auto model = kserde::model_from_json(json, options);
    (void)kserde::to_json(*model);
  } catch (const kserde::Error&) {
  }
  return 0;
}
