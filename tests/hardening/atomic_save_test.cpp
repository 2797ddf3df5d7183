// Atomic, durable save: a child process saves two different models (a few MB each) over the same
// path, alternately and without pause, and is SIGKILLed at random moments; after every kill the
// path holds one of the two complete models (loaded and compared bitwise), never a torn file.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <random>
#include <thread>

#include "kserde/initializers.hpp"
#include "kserde/layers.hpp"
#include "kserde/model.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<Sequential> mlp(std::int64_t hidden, std::uint64_t seed) {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({784}));
  m->add(layers::Dense(hidden, "relu"));
  m->add(layers::Dense(10, "softmax"));
  initialize_weights(*m, seed);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(atomic_save)

BOOST_AUTO_TEST_CASE(sigkill_during_save_leaves_the_old_or_the_new_complete_file) {
  test::TempDir tmp;
  auto a = mlp(1000, 1);  // 3.2 MB of float32 weights
  auto b = mlp(700, 2);   // 2.2 MB
  auto a2 = mlp(1000, 3);  // A's architecture, other weights (for weights files)
  const Tensor x = test::random_tensor({4, 784}, 7);
  const Tensor ya = a->predict(x);
  const Tensor yb = b->predict(x);
  const Tensor ya2 = a2->predict(x);
  for (const char* ext : {".keras", ".weights.h5"}) {
    const fs::path target = tmp / (std::string("model") + ext);
    const bool weights_only = std::string(ext) == ".weights.h5";
    if (weights_only) {
      save_weights(*a, target);
    } else {
      save_model(*a, target);
    }
    std::mt19937 rng(12345);
    int seen_a = 0;
    int seen_b = 0;
    for (int round = 0; round < 40; ++round) {
      const pid_t pid = ::fork();
      BOOST_REQUIRE(pid >= 0);
      if (pid == 0) {
        try {
          for (unsigned i = static_cast<unsigned>(round);; ++i) {
            // Weights files need one architecture: A and A2; whole models alternate A and B.
            const Model& m = i % 2 == 0 ? *a : weights_only ? *a2 : *b;
            if (weights_only) {
              save_weights(m, target);
            } else {
              save_model(m, target);
            }
          }
        } catch (...) {
        }
        ::_exit(3);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(1, 120)(rng)));
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      BOOST_TEST(WIFSIGNALED(status), "round " << round << ": the saver stopped by itself");
      BOOST_REQUIRE(fs::exists(target));
      if (weights_only) {
        auto fresh = mlp(1000, 99);
        BOOST_REQUIRE_NO_THROW(load_weights(*fresh, target));
        const Tensor y = fresh->predict(x);
        const bool is_a = y.bitwise_equal(ya);
        const bool is_a2 = y.bitwise_equal(ya2);
        BOOST_TEST((is_a || is_a2), "round " << round << ": the weights are neither A's nor A2's");
        seen_a += is_a;
        seen_b += is_a2;
        continue;
      }
      std::shared_ptr<Model> loaded;
      BOOST_REQUIRE_NO_THROW(loaded = load_model(target));
      const Tensor y = loaded->predict(x);
      const bool is_a = y.shape() == ya.shape() && y.bitwise_equal(ya) && loaded->count_params() == a->count_params();
      const bool is_b = y.shape() == yb.shape() && y.bitwise_equal(yb) && loaded->count_params() == b->count_params();
      BOOST_TEST((is_a || is_b), "round " << round << ": the file is neither model");
      seen_a += is_a;
      seen_b += is_b;
    }
    std::size_t leftovers = 0;
    for (const auto& e : fs::directory_iterator(tmp.path())) leftovers += e.path() != target;
    BOOST_TEST_MESSAGE(ext << ": 40 kills; the file held the first model " << seen_a
                           << " times, the second " << seen_b << " times; " << leftovers
                           << " other files (abandoned temp files) in the directory");
    for (const auto& e : fs::directory_iterator(tmp.path())) {
      if (e.path() != target) fs::remove_all(e.path());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
