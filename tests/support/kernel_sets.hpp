// Runs a test body once per kernel set the CPU can run (see kserde/cpu.hpp).
#pragma once

#include <boost/test/unit_test.hpp>

#include "kserde/cpu.hpp"

namespace kserde::test {

// Runs body once on every kernel set this CPU can run, each forced in turn, then restores the
// default: one machine checks every lane width it has (16, 8 and 4 lanes on an AVX-512 machine).
template <class Body>
void on_every_kernel_set(Body body) {
  for (KernelIsa isa : available_kernel_isas()) {
    set_kernel_isa(isa);
    BOOST_TEST_CONTEXT("kernels " << kernel_isa_name(isa)) {
      body();
    }
  }
  set_kernel_isa(std::nullopt);
}

}  // namespace kserde::test
