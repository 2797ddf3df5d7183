// Which zip member names kserde accepts (internal; shared by the reader and the writer so that
// kserde never writes an archive it would refuse to read).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kserde::io::detail {

// Empty when `name` is acceptable; otherwise why not. A name must be a relative '/'-separated
// path that cannot escape an extraction directory: not empty, no leading '/', no drive letter,
// no "." or ".." component, no backslash, no NUL or other control character.
inline std::string zip_name_problem(std::string_view name, std::size_t max_length) {
  if (name.empty()) return "the member name is empty";
  if (name.size() > max_length) {
    return "the member name is " + std::to_string(name.size()) + " bytes long (limit " +
           std::to_string(max_length) + ")";
  }
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "the member name contains a NUL or control character";
    if (c == '\\') return "the member name contains a backslash";
  }
  if (name.front() == '/') return "the member name is an absolute path";
  if (name.size() >= 2 && name[1] == ':') return "the member name starts with a drive letter";
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    if (part == "..") return "the member name contains a '..' component";
    if (part == ".") return "the member name contains a '.' component";
    // An empty component is only allowed as the trailing '/' of a directory entry.
    if (part.empty() && end != name.size()) return "the member name contains '//'";
    start = end + 1;
  }
  return {};
}

}  // namespace kserde::io::detail
