// The instruction sets kserde's matrix-product kernels (Dense, convolutions, recurrent cells,
// attention, ...) are compiled for, and which one runs.
//
// On x86-64 every build carries three kernel sets, baseline (SSE2), AVX2+FMA and AVX-512, and uses
// the widest one the CPU has, whatever the rest of the library was compiled for: a binary built
// once runs fast on every x86-64 machine. Results are bitwise reproducible for any batch size and
// thread count within one set; between sets they differ in the last bits (the baseline set rounds
// each multiply and add separately, the others fuse them). The environment variable
// KSERDE_KERNEL_ISA=baseline|avx2|avx512 chooses a set for the whole process (a set the CPU cannot
// run is refused with a warning on stderr, and the widest available is used).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace kserde {

enum class KernelIsa { Baseline, Avx2, Avx512 };

// "baseline", "avx2", "avx512".
std::string_view kernel_isa_name(KernelIsa isa);
// The inverse of kernel_isa_name; std::nullopt for any other text.
std::optional<KernelIsa> parse_kernel_isa(std::string_view name);

// The sets compiled into this build that this CPU can run, widest first.
std::vector<KernelIsa> available_kernel_isas();
// The set in use.
KernelIsa kernel_isa();
// Makes `isa` the set in use; std::nullopt restores the default (KSERDE_KERNEL_ISA, else the
// widest available). UnsupportedError when this build or CPU cannot run it. Not to be called
// while a prediction runs on another thread.
void set_kernel_isa(std::optional<KernelIsa> isa);

}  // namespace kserde
