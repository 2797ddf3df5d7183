// The Boost.Test entry point shared by every kserde test executable.
//
// KSERDE_KERNEL_ISA=<set> runs the whole executable on one kernel set (ctest does so for every
// set, see tests/CMakeLists.txt); when this CPU cannot run that set the executable reports itself
// skipped (exit 77) instead of quietly testing another one.
#define BOOST_TEST_MODULE kserde
#define BOOST_TEST_NO_MAIN
#define BOOST_TEST_ALTERNATIVE_INIT_API
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <iostream>
#include <string_view>

#include "kserde/cpu.hpp"

int main(int argc, char* argv[]) {
  const char* wanted = std::getenv("KSERDE_KERNEL_ISA");
  if (wanted != nullptr && *wanted != '\0' && std::string_view(wanted) != "auto" &&
      kserde::kernel_isa_name(kserde::kernel_isa()) != wanted) {
    std::cout << "skipped: KSERDE_KERNEL_ISA=" << wanted << " but this CPU runs "
              << kserde::kernel_isa_name(kserde::kernel_isa()) << " kernels at most\n";
    return 77;
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
