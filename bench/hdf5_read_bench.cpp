// Reading speed of kserde's HDF5 reader against the floor: writes a ~256 MB weights-like file with
// kserde's writer (many float32 datasets of layer-like shapes), then times reading every dataset
// into fresh buffers with kserde (File::open over a read-only mmap of the file, Dataset::read)
// versus a raw pread of the same file into a fresh buffer. Prints medians and the ratio
// (goal <= 1.2x). The file is in the page cache for both after the first run.
//   usage: hdf5_read_bench [directory for the temporary file]
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kserde/hdf5/reader.hpp"
#include "kserde/hdf5/writer.hpp"
#include "kserde/io/byte_sink.hpp"

namespace {

class FileSink final : public kserde::io::ByteSink {
 public:
  explicit FileSink(const std::string& path) : f_(std::fopen(path.c_str(), "wb")) {}
  ~FileSink() override {
    if (f_) std::fclose(f_);
  }
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  void write(std::span<const std::byte> d) override {
    if (std::fwrite(d.data(), 1, d.size(), f_) != d.size())
      throw std::runtime_error("write failed");
    pos_ += d.size();
  }
  std::uint64_t position() const override { return pos_; }

 private:
  std::FILE* f_;
  std::uint64_t pos_ = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<std::byte> pread_all(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("open failed");
  const auto size = static_cast<std::size_t>(::lseek(fd, 0, SEEK_END));
  std::vector<std::byte> buf(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, buf.data() + done, size - done, static_cast<off_t>(done));
    if (n <= 0) throw std::runtime_error("pread failed");
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return buf;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : std::filesystem::temp_directory_path();
  const std::string path = (dir / "kserde_hdf5_bench.weights.h5").string();
  // ~256 MB: 64 "layers" of a 1024x960 kernel plus bias, like a large MLP.
  std::vector<std::vector<float>> data;
  {
    kserde::hdf5::Writer w;
    for (int l = 0; l < 64; ++l) {
      auto& g = w.root().group("layers/dense_" + std::to_string(l) + "/vars");
      g.attribute_string("name", "dense_" + std::to_string(l));
      data.emplace_back(1024 * 960, static_cast<float>(l));
      g.dataset("0", kserde::DType::Float32, {1024, 960}, std::as_bytes(std::span(data.back())));
      data.emplace_back(960, 1.0f);
      g.dataset("1", kserde::DType::Float32, {960}, std::as_bytes(std::span(data.back())));
    }
    FileSink sink(path);
    w.write(sink);
    std::printf("wrote %s: %.1f MB\n", path.c_str(), static_cast<double>(w.file_size()) / 1e6);
  }
  data.clear();

  std::vector<double> raw, ks;
  for (int run = 0; run < 7; ++run) {
    auto t0 = std::chrono::steady_clock::now();
    { const auto buf = pread_all(path); }
    raw.push_back(seconds_since(t0));

    t0 = std::chrono::steady_clock::now();
    {
      const int fd = ::open(path.c_str(), O_RDONLY);
      const auto size = static_cast<std::size_t>(::lseek(fd, 0, SEEK_END));
      void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      ::close(fd);
      if (map == MAP_FAILED) return 1;
      std::shared_ptr<const void> owner(
          map, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
      kserde::io::ByteSource src{{static_cast<const std::byte*>(map), size}, owner, 0, path};
      const auto root = kserde::hdf5::File::open(std::move(src)).root().group("layers");
      std::size_t total = 0;
      for (const auto& layer : root.member_names()) {
        const auto vars = root.group(layer + "/vars");
        for (const auto& n : vars.member_names()) {
          const auto d = vars.dataset(n);
          std::vector<std::byte> out(static_cast<std::size_t>(d.num_elements() * 4));
          d.read(out, kserde::DType::Float32);
          total += out.size();
        }
      }
      if (total == 0) return 1;
    }
    ks.push_back(seconds_since(t0));
  }
  std::filesystem::remove(path);
  const double r = median(raw), k = median(ks);
  std::printf(
      "raw pread: %.3f s   kserde (mmap + open + read every dataset): %.3f s   ratio %.2fx (goal "
      "<= 1.2x)\n",
      r, k, k / r);
  return 0;
}
