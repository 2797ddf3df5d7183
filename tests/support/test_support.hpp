// Helpers shared by kserde's test suites: paths to the golden corpus, temporary directories,
// and an allclose comparison with NumPy's formula.
#pragma once

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "kserde/tensor.hpp"

namespace kserde::test {

inline std::filesystem::path data_dir() { return KSERDE_TEST_DATA_DIR; }
inline std::filesystem::path golden_dir() { return data_dir() / "golden"; }

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    static std::mt19937_64 rng(std::random_device{}());
    path_ = std::filesystem::temp_directory_path() / ("kserde-test-" + std::to_string(rng()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// numpy.allclose(actual, expected, rtol, atol); `detail` receives the worst element on failure.
inline bool allclose(const Tensor& actual, const Tensor& expected, double rtol, double atol,
                     std::string* detail = nullptr) {
  if (actual.shape() != expected.shape()) {
    if (detail) *detail = "shape " + shape_to_string(actual.shape()) + " vs " + shape_to_string(expected.shape());
    return false;
  }
  const Tensor a = actual.to(DType::Float64);
  const Tensor e = expected.to(DType::Float64);
  auto av = a.values<double>();
  auto ev = e.values<double>();
  double worst = 0;
  bool ok = true;
  for (std::size_t i = 0; i < av.size(); ++i) {
    const double diff = std::abs(av[i] - ev[i]);
    if (!(diff <= atol + rtol * std::abs(ev[i]))) ok = false;
    worst = std::max(worst, diff);
  }
  if (detail) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "max abs diff %.3g", worst);
    *detail = buf;
  }
  return ok;
}

// Deterministic pseudo-random float32 values in [-1, 1).
inline Tensor random_tensor(const Shape& shape, unsigned seed) {
  Tensor t(shape, DType::Float32);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : t.mutable_values<float>()) v = dist(rng);
  return t;
}

}  // namespace kserde::test
