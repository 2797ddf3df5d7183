#include "kserde/io/byte_source.hpp"

#include <cstring>
#include <vector>

#include "kserde/io/byte_sink.hpp"

namespace kserde::io {

ByteSource bytes_from_copy(std::span<const std::byte> data, std::string file_name) {
  auto buffer = std::make_shared<std::vector<std::byte>>(data.begin(), data.end());
  ByteSource src;
  src.bytes = {buffer->data(), buffer->size()};
  src.owner = std::move(buffer);
  src.file_name = std::move(file_name);
  return src;
}

void MemorySink::write(std::span<const std::byte> data) {
  buffer_.append(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace kserde::io
