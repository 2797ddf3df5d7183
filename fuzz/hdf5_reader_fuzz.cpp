// libFuzzer target for kserde's HDF5 reader: opens the input as an HDF5 file, walks every group,
// decodes every attribute and reads every numeric dataset (capped by ReadLimits). kserde::Error is
// the expected outcome for bad input; anything else (a crash, a sanitizer report, another
// exception, a hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/hdf5/reader.hpp"

namespace {

void walk(const kserde::hdf5::File& f) {
  std::vector<kserde::hdf5::Group> stack{f.root()};
  while (!stack.empty()) {
    const kserde::hdf5::Group g = stack.back();
    stack.pop_back();
    for (const auto& n : g.attribute_names()) {
      const auto a = g.attribute(n);
      if (a.is_string()) (void)a.as_strings();
    }
    for (const auto& name : g.member_names()) {
      const auto kind = g.member_kind(name);
      if (!kind) continue;
      if (*kind == kserde::hdf5::ObjectKind::Group) {
        stack.push_back(g.group(name));
        continue;
      }
      const auto d = g.dataset(name);
      for (const auto& n : d.attribute_names()) (void)d.attribute(n);
      (void)d.extent();
      if (!d.datatype().dtype) continue;
      std::vector<std::byte> out(static_cast<std::size_t>(d.num_elements() * kserde::dtype_size(d.dtype())));
      d.read(out, d.dtype());
      std::vector<std::byte> as_f64(static_cast<std::size_t>(d.num_elements() * 8));
      d.read(as_f64, kserde::DType::Float64);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kserde::hdf5::ReadLimits limits;
  limits.max_objects_visited = 5000;
  limits.max_dataset_bytes = 16u << 20;
  limits.max_attribute_bytes = 1u << 20;
  limits.max_depth = 64;
  kserde::io::ByteSource src;
  src.bytes = std::as_bytes(std::span(data, size));
  src.file_name = "fuzz.h5";
  try {
    walk(kserde::hdf5::File::open(src, limits));
  } catch (const kserde::Error&) {
  }
  return 0;
}
