// HDF5 object paths, shared by the reader and the writer.
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

namespace kserde::hdf5::detail {

// Splits "a/b/c" into components; empty components (leading, doubled or trailing '/') are skipped,
// as HDF5's path lookup skips them.
inline std::vector<std::string_view> path_components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i <= path.size()) {
    const std::size_t j = std::min(path.find('/', i), path.size());
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace kserde::hdf5::detail
