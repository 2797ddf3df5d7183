// Concurrency: many threads load, predict and save different models at once, and all share one
// loaded model for predict. Run under ThreadSanitizer with the tsan preset.
#include <boost/test/unit_test.hpp>
#include <atomic>
#include <mutex>
#include <thread>

#include "kserde/error.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(concurrency)

BOOST_AUTO_TEST_CASE(threads_load_predict_and_save_while_sharing_one_model) {
  test::TempDir tmp;
  const fs::path g = test::golden_dir();
  auto shared = load_model(g / "mlp" / "model.keras");
  const Tensor shared_x = io::read_npy(g / "mlp" / "input.npy");
  const Tensor shared_expected = io::read_npy(g / "mlp" / "expected.npy");
  const std::vector<std::string> cases = {"mlp", "cnn", "embedding", "norm", "nested", "sharded_weights"};
  constexpr int kThreads = 8;
  constexpr int kRounds = 3;
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(failures_mutex);
    failures.push_back(what);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int r = 0; r < kRounds; ++r) {
          const std::string name = cases[static_cast<std::size_t>(t + r) % cases.size()];
          // Its own model: load, predict, save, load again, predict again.
          auto model = load_model(g / name / "model.keras");
          const Tensor x = io::read_npy(g / name / "input.npy");
          const Tensor y = model->predict(x);
          std::string detail;
          if (!test::allclose(y, io::read_npy(g / name / "expected.npy"), 1e-4, 1e-5, &detail)) {
            fail(name + ": " + detail);
          }
          const fs::path out = tmp / ("t" + std::to_string(t) + "_" + name + ".keras");
          save_model(*model, out);
          if (!load_model(out)->predict(x).bitwise_equal(y)) fail(name + ": reloaded copy differs");
          // The shared model.
          if (!test::allclose(shared->predict(shared_x), shared_expected, 1e-5, 1e-6, &detail)) {
            fail("shared mlp: " + detail);
          }
          (void)to_json(*shared);
        }
      } catch (const std::exception& e) {
        fail(std::string("thread ") + std::to_string(t) + ": " + e.what());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& f : failures) BOOST_ERROR(f);
  BOOST_TEST(failures.empty());
}

BOOST_AUTO_TEST_CASE(threads_save_the_same_path_atomically) {
  test::TempDir tmp;
  auto model = load_model(test::golden_dir() / "mlp" / "model.keras");
  const fs::path out = tmp / "same.keras";
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      try {
        for (int i = 0; i < 3; ++i) save_model(*model, out);
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  BOOST_TEST(errors.load() == 0);
  const Tensor x = io::read_npy(test::golden_dir() / "mlp" / "input.npy");
  BOOST_TEST(load_model(out)->predict(x).bitwise_equal(model->predict(x)));
}

BOOST_AUTO_TEST_SUITE_END()
