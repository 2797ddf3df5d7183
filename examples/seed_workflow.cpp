// The Keras "Saving & serialization" workflow, in C++:
//   model = Sequential([Input((784,)), Dense(32, relu), Dense(10, softmax)])
//   model.save("my_model.keras"); reloaded = load_model("my_model.keras")
//   assert predictions (and every weight) of both models are identical
// then a real file written by Python Keras: its summary and its predictions against Keras's own.
//
// usage: kserde_seed_workflow OUTPUT_DIR GOLDEN_DIR
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <random>

#include "kserde/error.hpp"
#include "kserde/initializers.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "kserde/saving.hpp"
#include "kserde/summary.hpp"

namespace fs = std::filesystem;
using namespace kserde;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to(DType::Float64);
  const auto y = b.to(DType::Float64);
  double m = 0;
  for (std::size_t i = 0; i < x.values<double>().size(); ++i) {
    m = std::max(m, std::abs(x.values<double>()[i] - y.values<double>()[i]));
  }
  return m;
}

void print_rows(const char* label, const Tensor& t, std::int64_t rows) {
  const std::int64_t cols = t.dim(1);
  const auto v = t.to(DType::Float32).values<float>();
  for (std::int64_t r = 0; r < rows && r < t.dim(0); ++r) {
    std::cout << "  " << label << "[" << r << "] =";
    for (std::int64_t c = 0; c < cols; ++c) {
      std::cout << " " << std::fixed << std::setprecision(5) << v[static_cast<std::size_t>(r * cols + c)];
    }
    std::cout << "\n";
  }
}

int seed_workflow(const fs::path& out_dir) {
  std::cout << "== 1. Build Sequential([Input((784,)), Dense(32, relu), Dense(10, softmax)])\n";
  Sequential model("sequential");
  model.add(layers::Input({784}));
  model.add(layers::Dense(32, "relu"));
  model.add(layers::Dense(10, "softmax"));
  initialize_weights(model, 2026);  // Keras's default initializers: GlorotUniform kernels, zero biases
  std::cout << summary(model);

  Tensor x({16, 784}, DType::Float32);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (float& v : x.mutable_values<float>()) v = u(rng);
  const Tensor before = model.predict(x);

  const fs::path file = out_dir / "my_model.keras";
  std::cout << "\n== 2. model.save(\"" << file.string() << "\")\n";
  save_model(model, file);
  std::cout << "  wrote " << fs::file_size(file) << " bytes\n";

  std::cout << "\n== 3. reloaded = load_model(\"" << file.string() << "\")\n";
  auto reloaded = load_model(file);
  const Tensor after = reloaded->predict(x);

  std::cout << "\n== 4. Proof: predictions and every weight are identical\n";
  print_rows("original", before, 2);
  print_rows("reloaded", after, 2);
  const bool same_predictions = before.bitwise_equal(after);
  std::cout << "  predictions bitwise equal: " << (same_predictions ? "yes" : "NO")
            << " (max abs diff " << std::defaultfloat << max_abs_diff(before, after) << ")\n";
  bool same_weights = true;
  const auto a = model.layers();
  const auto b = reloaded->layers();
  same_weights = a.size() == b.size();
  for (std::size_t i = 0; same_weights && i < a.size(); ++i) {
    const auto& va = a[i]->variables();
    const auto& vb = b[i]->variables();
    same_weights = va.size() == vb.size();
    for (std::size_t k = 0; same_weights && k < va.size(); ++k) {
      same_weights = va[k].value.bitwise_equal(vb[k].value);
      std::cout << "  " << a[i]->name() << "/" << va[k].name << " "
                << shape_to_string(va[k].value.shape()) << ": "
                << (same_weights ? "identical" : "DIFFERENT") << "\n";
    }
  }
  std::cout << "  every weight bitwise equal: " << (same_weights ? "yes" : "NO") << "\n";
  return same_predictions && same_weights ? 0 : 1;
}

int keras_file(const fs::path& golden) {
  const fs::path dir = golden / "mlp";
  std::cout << "\n== 5. A file written by Python Keras: " << (dir / "model.keras").string() << "\n";
  auto model = load_model(dir / "model.keras");
  std::cout << summary(*model);
  const Tensor x = io::read_npy(dir / "input.npy");
  const Tensor expected = io::read_npy(dir / "expected.npy");
  const Tensor y = model->predict(x);
  print_rows("kserde", y, 2);
  print_rows("keras ", expected, 2);
  const double diff = max_abs_diff(y, expected);
  const bool ok = diff <= 1e-5;
  std::cout << "  max abs diff vs Keras's own predictions: " << std::defaultfloat << diff << (ok ? " (<= 1e-5: match)" : " (MISMATCH)")
            << "\n";
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: kserde_seed_workflow OUTPUT_DIR GOLDEN_DIR\n";
    return 2;
  }
  try {
    fs::create_directories(argv[1]);
    const int a = seed_workflow(argv[1]);
    const int b = keras_file(argv[2]);
    std::cout << "\n" << (a == 0 && b == 0 ? "All checks passed." : "Some checks FAILED.") << "\n";
    return a | b;
  } catch (const Error& e) {
    std::cerr << "kserde_seed_workflow: " << e.what() << "\n";
    return 1;
  }
}
