// The Keras "Saving & serialization" workflow, in C++:
//   model = Sequential([Input((784,)), Dense(32, relu), Dense(10, softmax)])
//   model.save("my_model.keras"); reloaded = load_model("my_model.keras")
//   assert predictions (and every weight) of both models are identical
// then a real file written by Python Keras: its summary and its predictions against Keras's own;
// then training: a small CNN on scikit-learn's 8x8 digits (the data file Debian's python3-sklearn
// ships, read here without Python), saved, loaded, evaluated, resumed, evaluated again.
//
// usage: kserde_seed_workflow OUTPUT_DIR GOLDEN_DIR [DIGITS_CSV_GZ]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kserde/error.hpp"
#include "kserde/initializers.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "kserde/saving.hpp"
#include "kserde/summary.hpp"
#include "kserde/training.hpp"

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

// scikit-learn's digits: 1797 rows of 64 pixel values (0..16) and the digit, comma-separated, in
// a gzip file (decompressed by the system's gzip).
std::pair<Tensor, Tensor> read_digits(const fs::path& csv_gz) {
  const std::string cmd = "gzip -dc '" + csv_gz.string() + "'";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) throw IoError(csv_gz.string() + ": cannot run gzip to read it");
  std::vector<float> pixels;
  std::vector<std::int32_t> labels;
  std::string text;
  char buf[1 << 16];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe.get())) > 0;) text.append(buf, n);
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    std::vector<float> row;
    for (std::size_t p = pos; p < end;) {
      std::size_t used = 0;
      row.push_back(std::stof(text.substr(p, end - p), &used));
      p += used + 1;
    }
    if (row.size() == 65) {
      pixels.insert(pixels.end(), row.begin(), row.begin() + 64);
      labels.push_back(static_cast<std::int32_t>(row[64]));
    } else if (!row.empty()) {
      throw FormatError(csv_gz.string() + ": a row has " + std::to_string(row.size()) +
                        " values, 65 expected (64 pixels and the digit)");
    }
    pos = end + 1;
  }
  const auto n = static_cast<std::int64_t>(labels.size());
  if (n == 0) throw FormatError(csv_gz.string() + ": no digits read");
  Tensor x({n, 8, 8, 1}, DType::Float32);
  for (std::size_t i = 0; i < pixels.size(); ++i) x.f32_mut()[i] = pixels[i] / 16.0f;
  Tensor y({n}, DType::Int32);
  std::copy(labels.begin(), labels.end(), y.mutable_values<std::int32_t>().begin());
  return {x, y};
}

Tensor rows_of(const Tensor& t, const std::vector<std::int64_t>& idx) {
  Shape s = t.shape();
  s[0] = static_cast<std::int64_t>(idx.size());
  Tensor out(s, t.dtype());
  const std::size_t row = t.nbytes() / static_cast<std::size_t>(t.dim(0));
  for (std::size_t i = 0; i < idx.size(); ++i) {
    std::copy_n(t.bytes().data() + static_cast<std::size_t>(idx[i]) * row, row,
                out.mutable_bytes().data() + i * row);
  }
  return out;
}

int digits_training(const fs::path& out_dir, const fs::path& csv_gz) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::cout << "\n== 6. Train a CNN on scikit-learn's 8x8 digits (" << csv_gz.string() << ")\n";
  if (!fs::exists(csv_gz)) {
    std::cout << "  " << csv_gz.string()
              << " is missing (apt-get install python3-sklearn); skipped\n";
    return 0;
  }
  auto [x, y] = read_digits(csv_gz);
  // A fixed shuffle, then 80% to train and 20% to test (as train_test_split(test_size=0.2)).
  std::vector<std::int64_t> order(static_cast<std::size_t>(x.dim(0)));
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  const auto n_test = static_cast<std::ptrdiff_t>(order.size() / 5);
  const std::vector<std::int64_t> test_idx(order.begin(), order.begin() + n_test);
  const std::vector<std::int64_t> train_idx(order.begin() + n_test, order.end());
  const Tensor x_train = rows_of(x, train_idx), y_train = rows_of(y, train_idx);
  const Tensor x_test = rows_of(x, test_idx), y_test = rows_of(y, test_idx);
  std::cout << "  " << x_train.dim(0) << " training and " << x_test.dim(0) << " test images\n";

  Sequential model("digits_cnn");
  model.add(layers::Input({8, 8, 1}));
  model.add(layers::from_config("Conv2D", R"({"filters": 16, "kernel_size": 3,
                                              "padding": "same", "activation": "relu"})"));
  model.add(layers::from_config("MaxPooling2D", R"({"pool_size": 2})"));
  model.add(layers::Flatten());
  model.add(layers::Dense(64, "relu"));
  model.add(layers::Dense(10, "softmax"));
  initialize_weights(model, 7);
  compile(model, R"({"class_name": "Adam", "config": {"learning_rate": 0.003}})",
          "sparse_categorical_crossentropy", {"accuracy"});
  std::cout << summary(model);
  FitOptions options;
  options.batch_size = 32;
  options.seed = 1;
  int epochs_before = 0;  // epochs are numbered on across the resumed run
  options.on_epoch_end = [&epochs_before](int epoch, const EvaluateResult& logs) {
    std::cout << "  epoch " << (epochs_before + epoch + 1);
    for (const auto& [name, value] : logs) {
      std::cout << " - " << name << ": " << std::fixed << std::setprecision(4) << value;
    }
    std::cout << std::defaultfloat << "\n";
  };
  options.epochs = 10;
  std::cout << "  model.fit(epochs=10, batch_size=32)\n";
  fit(model, {x_train}, {y_train}, options);
  const double acc = evaluate(model, {x_test}, {y_test})[1].second;
  std::cout << "  test accuracy: " << std::fixed << std::setprecision(4) << acc << "\n";

  const fs::path file = out_dir / "digits_cnn.keras";
  save_model(model, file);
  auto reloaded = load_model(file);
  const double acc_reloaded = evaluate(*reloaded, {x_test}, {y_test})[1].second;
  std::cout << "  saved " << file.string() << ", loaded it back: test accuracy " << acc_reloaded
            << " (optimizer iterations " << optimizer_iterations(*reloaded->optimizer()) << ")\n";

  options.epochs = 5;
  epochs_before = 10;
  std::cout << "  resume training from the file: fit(epochs=5)\n";
  fit(*reloaded, {x_train}, {y_train}, options);
  const double acc_resumed = evaluate(*reloaded, {x_test}, {y_test})[1].second;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << "  test accuracy after resuming: " << acc_resumed << " (optimizer iterations "
            << optimizer_iterations(*reloaded->optimizer()) << ")" << std::defaultfloat << "\n";
  std::cout << "  digits story took " << std::setprecision(3) << seconds << " s\n";
  const bool ok = acc >= 0.95 && acc_reloaded == acc && acc_resumed >= 0.95;
  std::cout << "  accuracy >= 0.95 before and after resuming, and unchanged by save/load: "
            << (ok ? "yes" : "NO") << "\n";
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: kserde_seed_workflow OUTPUT_DIR GOLDEN_DIR [DIGITS_CSV_GZ]\n";
    return 2;
  }
  const fs::path digits = argc == 4 ? fs::path(argv[3])
                                    : fs::path(
                                          "/usr/lib/python3/dist-packages/sklearn/datasets/"
                                          "data/digits.csv.gz");
  try {
    fs::create_directories(argv[1]);
    const int a = seed_workflow(argv[1]);
    const int b = keras_file(argv[2]);
    const int c = digits_training(argv[1], digits);
    std::cout << "\n"
              << (a == 0 && b == 0 && c == 0 ? "All checks passed." : "Some checks FAILED.")
              << "\n";
    return a | b | c;
  } catch (const Error& e) {
    std::cerr << "kserde_seed_workflow: " << e.what() << "\n";
    return 1;
  }
}
