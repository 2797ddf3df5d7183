// libFuzzer target for the .npy reader: kserde::io::parse_npy on the input (64 MiB data limit),
// then a conversion of the tensor to float64.
#include <cstddef>
#include <cstdint>
#include <span>

#include "kserde/error.hpp"
#include "kserde/io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kserde::io::NpyLimits limits;
  limits.max_bytes = 64u << 20;
  try {
    const kserde::Tensor t = kserde::io::parse_npy(std::as_bytes(std::span(data, size)), "fuzz.npy", limits);
    if (t.num_elements() < (1 << 20)) (void)t.to(kserde::DType::Float64);
  } catch (const kserde::Error&) {
  }
  return 0;
}
