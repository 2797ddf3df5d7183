// libFuzzer target for the .keras zip reader: the input is written to a file, opened with
// kserde::io::ArchiveReader under tight ArchiveLimits, and every member is read (inflated and
// CRC-checked) and touched. kserde::Error is the expected outcome for bad input; anything else is
// a bug.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "kserde/error.hpp"
#include "kserde/io/archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = kserde::fuzz::write_input("fuzz.keras", data, size);
  kserde::io::ArchiveLimits limits;
  limits.max_members = 1000;
  limits.max_member_bytes = 32u << 20;
  limits.max_total_bytes = 64u << 20;
  limits.max_name_length = 1024;
  try {
    const auto archive = kserde::io::ArchiveReader::open(path, limits);
    for (const auto& m : archive.members()) {
      (void)archive.contains(m.name);
      const auto bytes = archive.member(m.name);
      unsigned sum = 0;
      for (std::byte b : bytes.bytes) sum += static_cast<unsigned>(b);
      (void)sum;
    }
  } catch (const kserde::Error&) {
  }
  return 0;
}
