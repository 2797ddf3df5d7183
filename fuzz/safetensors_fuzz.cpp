// libFuzzer target for the safetensors plugin's parser: kserde_plugins::safetensors::parse on the
// input bytes, then every listed tensor is looked up again by name.
#include <cstddef>
#include <cstdint>
#include <span>

#include "kserde/error.hpp"
#include "kserde_plugins/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kserde::io::ByteSource src;
  src.bytes = std::as_bytes(std::span(data, size));
  src.file_name = "fuzz.safetensors";
  try {
    const auto contents = kserde::safetensors::parse(src);
    for (const auto& t : contents.tensors) {
      const auto* again = contents.find(t.name);
      if (again == nullptr || again->end < again->begin) __builtin_trap();
    }
  } catch (const kserde::Error&) {
  }
  return 0;
}
