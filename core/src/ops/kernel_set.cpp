#include "ops/kernel_set.hpp"

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "kserde/cpu.hpp"
#include "kserde/error.hpp"

// One table per compiled set (ops/isa/gemm_kernels.cpp). KSERDE_KERNELS_X86 is defined by the
// build when the three x86-64 sets are compiled; otherwise the one generic set stands in for
// "baseline".
namespace kserde::ops {
namespace kernels_baseline {
const KernelSet& table();
}
#if defined(KSERDE_KERNELS_X86)
namespace kernels_avx2 {
const KernelSet& table();
}
namespace kernels_avx512 {
const KernelSet& table();
}
#endif
}  // namespace kserde::ops

namespace kserde {

namespace {

const ops::KernelSet& table_of(KernelIsa isa) {
#if defined(KSERDE_KERNELS_X86)
  if (isa == KernelIsa::Avx512) return ops::kernels_avx512::table();
  if (isa == KernelIsa::Avx2) return ops::kernels_avx2::table();
#endif
  (void)isa;
  return ops::kernels_baseline::table();
}

bool cpu_runs(KernelIsa isa) {
#if defined(KSERDE_KERNELS_X86)
  __builtin_cpu_init();
  // The AVX-512 set is compiled with -mavx512f on top of AVX2+FMA (core/CMakeLists.txt). The
  // checks include the operating system's support for the registers (XCR0).
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == KernelIsa::Avx512) return avx2 && __builtin_cpu_supports("avx512f");
  if (isa == KernelIsa::Avx2) return avx2;
  return true;
#else
  return isa == KernelIsa::Baseline;
#endif
}

KernelIsa widest_available() {
  return available_kernel_isas().front();
}

// The default: KSERDE_KERNEL_ISA when it names a set this CPU runs, else the widest.
KernelIsa default_isa() {
  const char* env = std::getenv("KSERDE_KERNEL_ISA");
  if (env == nullptr || *env == '\0' || std::string_view(env) == "auto") return widest_available();
  const std::optional<KernelIsa> wanted = parse_kernel_isa(env);
  if (!wanted) {
    std::cerr << "kserde: warning: KSERDE_KERNEL_ISA='" << env
              << "' is not baseline, avx2, avx512 or auto; using "
              << kernel_isa_name(widest_available()) << "\n";
    return widest_available();
  }
  if (!cpu_runs(*wanted)) {
    std::cerr << "kserde: warning: KSERDE_KERNEL_ISA=" << env
              << " but this CPU or build cannot run those kernels; using "
              << kernel_isa_name(widest_available()) << "\n";
    return widest_available();
  }
  return *wanted;
}

std::atomic<const ops::KernelSet*> g_active{nullptr};

}  // namespace

std::string_view kernel_isa_name(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::Avx512:
      return "avx512";
    case KernelIsa::Avx2:
      return "avx2";
    case KernelIsa::Baseline:
      break;
  }
  return "baseline";
}

std::optional<KernelIsa> parse_kernel_isa(std::string_view name) {
  for (KernelIsa isa : {KernelIsa::Baseline, KernelIsa::Avx2, KernelIsa::Avx512}) {
    if (name == kernel_isa_name(isa)) return isa;
  }
  return std::nullopt;
}

std::vector<KernelIsa> available_kernel_isas() {
  std::vector<KernelIsa> out;
  for (KernelIsa isa : {KernelIsa::Avx512, KernelIsa::Avx2, KernelIsa::Baseline}) {
    if (cpu_runs(isa)) out.push_back(isa);
  }
  return out;
}

KernelIsa kernel_isa() {
  const std::string_view name = ops::active_kernels().name;
  return parse_kernel_isa(name).value_or(KernelIsa::Baseline);
}

void set_kernel_isa(std::optional<KernelIsa> isa) {
  if (!isa) {
    g_active.store(&table_of(default_isa()), std::memory_order_release);
    return;
  }
  if (!cpu_runs(*isa)) {
    throw UnsupportedError("kernel set '" + std::string(kernel_isa_name(*isa)) +
                           "' cannot run here: this build or CPU lacks it (available: " +
                           std::string(kernel_isa_name(widest_available())) +
                           " and narrower); choose one of available_kernel_isas()");
  }
  g_active.store(&table_of(*isa), std::memory_order_release);
}

namespace ops {

const KernelSet& active_kernels() {
  const KernelSet* k = g_active.load(std::memory_order_acquire);
  if (k != nullptr) return *k;
  // First use: several threads may get here at once; they all compute the same choice.
  static const KernelSet* const initial = &table_of(default_isa());
  const KernelSet* expected = nullptr;
  g_active.compare_exchange_strong(expected, initial, std::memory_order_acq_rel);
  return *g_active.load(std::memory_order_acquire);
}

float* thread_scratch(ScratchSlot slot, std::int64_t floats) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot == ScratchSlot::A ? 0 : 1];
  if (static_cast<std::int64_t>(b.size()) < floats) b.resize(static_cast<std::size_t>(floats));
  return b.data();
}

}  // namespace ops
}  // namespace kserde
