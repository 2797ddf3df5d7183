// fit(): learning a known function, Keras's logs and validation entries, refusals, and resuming
// from a saved file continuing bitwise as if training had not stopped.
#include <boost/test/unit_test.hpp>
#include <cmath>

#include "kserde/error.hpp"
#include "kserde/initializers.hpp"
#include "kserde/layers.hpp"
#include "kserde/saving.hpp"
#include "kserde/training.hpp"
#include "ops/thread_pool.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

// y = 2 x0 - x1 + 0.5: a linear target a Dense layer can fit exactly.
std::pair<Tensor, Tensor> linear_data(std::int64_t n, unsigned seed) {
  Tensor x = test::random_tensor({n, 2}, seed);
  Tensor y({n, 1}, DType::Float32);
  for (std::int64_t r = 0; r < n; ++r) {
    y.f32_mut()[r] = 2.0f * x.f32()[r * 2] - x.f32()[r * 2 + 1] + 0.5f;
  }
  return {x, y};
}

std::shared_ptr<Sequential> classifier(std::uint64_t seed) {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({6}));
  m->add(layers::Dense(16, "relu"));
  m->add(layers::Dropout(0.25));
  m->add(layers::Dense(3, "softmax"));
  initialize_weights(*m, seed);
  return m;
}

// Three classes by which of the first three features is largest.
std::pair<Tensor, Tensor> class_data(std::int64_t n, unsigned seed) {
  Tensor x = test::random_tensor({n, 6}, seed);
  Tensor y({n}, DType::Int32);
  for (std::int64_t r = 0; r < n; ++r) {
    const float* p = x.f32() + r * 6;
    y.mutable_values<std::int32_t>()[r] = p[0] >= p[1] && p[0] >= p[2] ? 0 : p[1] >= p[2] ? 1 : 2;
  }
  return {x, y};
}

void require_same_state(Model& a, Model& b) {
  const auto va = trainable_variables(a);
  const auto vb = trainable_variables(b);
  BOOST_TEST_REQUIRE(va.size() == vb.size());
  for (std::size_t i = 0; i < va.size(); ++i) {
    BOOST_TEST(va[i]->value.bitwise_equal(vb[i]->value), "variable " << i);
  }
  BOOST_TEST_REQUIRE(a.optimizer().has_value());
  BOOST_TEST_REQUIRE(b.optimizer().has_value());
  const auto& oa = a.optimizer()->variables;
  const auto& ob = b.optimizer()->variables;
  BOOST_TEST_REQUIRE(oa.size() == ob.size());
  for (std::size_t i = 0; i < oa.size(); ++i) {
    BOOST_TEST(oa[i].value.bitwise_equal(ob[i].value), "optimizer variable " << i);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fit_model)

BOOST_AUTO_TEST_CASE(fits_a_linear_function) {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({2}));
  m->add(layers::Dense(1));
  initialize_weights(*m, 1);
  compile(*m, R"({"class_name": "SGD", "config": {"name": "sgd", "learning_rate": 0.1}})", "mse",
          {"mae"});
  auto [x, y] = linear_data(64, 3);
  FitOptions o;
  o.epochs = 60;
  o.batch_size = 16;
  const History h = fit(*m, {x}, {y}, o);
  BOOST_TEST(h["loss"].size() == 60u);
  BOOST_TEST(h["mae"].size() == 60u);
  BOOST_TEST(h["loss"].back() < 1e-4);
  BOOST_TEST(h["loss"].back() < h["loss"].front());
  const float* k = m->layers()[0]->variables()[0].value.f32();
  BOOST_TEST(std::abs(k[0] - 2.0f) < 0.02f);
  BOOST_TEST(std::abs(k[1] + 1.0f) < 0.02f);
  BOOST_TEST(std::abs(m->layers()[0]->variables()[1].value.f32()[0] - 0.5f) < 0.02f);
  BOOST_TEST(optimizer_iterations(*m->optimizer()) == 60 * 4);
}

BOOST_AUTO_TEST_CASE(logs_are_kerass_sample_weighted_epoch_means_and_validation) {
  // Learning rate 0: every batch sees the same weights, so the epoch's loss and accuracy equal
  // evaluate() over all samples (no Dropout here: the training pass equals inference).
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({6}));
  m->add(layers::Dense(3, "softmax"));
  initialize_weights(*m, 2);
  compile(*m, R"({"class_name": "SGD", "config": {"name": "sgd", "learning_rate": 0.0}})",
          "sparse_categorical_crossentropy", {"accuracy"});
  auto [x, y] = class_data(50, 4);  // batches of 16, 16, 16, 2
  auto [vx, vy] = class_data(20, 5);
  FitOptions o;
  o.batch_size = 16;
  o.validation = std::make_pair(TensorList{vx}, TensorList{vy});
  int batches_seen = 0;
  o.on_batch_end = [&](int, std::int64_t, std::int64_t total, const EvaluateResult&) {
    ++batches_seen;
    BOOST_TEST(total == 4);
  };
  const History h = fit(*m, {x}, {y}, o);
  BOOST_TEST(batches_seen == 4);
  const EvaluateResult all = evaluate(*m, {x}, {y});
  const EvaluateResult val = evaluate(*m, {vx}, {vy});
  BOOST_TEST(h["loss"][0] == all[0].second, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(h["accuracy"][0] == all[1].second, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(h["val_loss"][0] == val[0].second, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(h["val_accuracy"][0] == val[1].second, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(learns_a_classification_with_dropout) {
  auto m = classifier(5);
  compile(*m, "adam", "sparse_categorical_crossentropy", {"accuracy"});
  auto [x, y] = class_data(256, 6);
  FitOptions o;
  o.epochs = 100;
  o.batch_size = 32;
  o.seed = 9;
  const History h = fit(*m, {x}, {y}, o);
  const EvaluateResult r = evaluate(*m, {x}, {y});
  BOOST_TEST(r[1].second > 0.9, "accuracy " << r[1].second);
  BOOST_TEST(h["loss"].back() < h["loss"].front());
}

BOOST_AUTO_TEST_CASE(resuming_from_a_saved_file_is_bitwise_the_same_as_not_stopping) {
  test::TempDir tmp;
  auto [x, y] = class_data(100, 7);  // 4 batches of 32 (the last of 4) per epoch
  {
    auto m = classifier(11);
    compile(*m, R"({"class_name": "Adam", "config": {"name": "adam", "learning_rate": 0.01,
                   "amsgrad": true, "clipnorm": 1.0}})",
            "sparse_categorical_crossentropy", {"accuracy"});
    save_model(*m, tmp / "start.keras");
  }
  FitOptions o;
  o.batch_size = 32;
  o.seed = 77;
  // Without stopping: 5 epochs.
  auto straight = load_model(tmp / "start.keras");
  o.epochs = 5;
  fit(*straight, {x}, {y}, o);
  // Stopping after 2 epochs, saving, continuing from the file in a fresh model for 3 more.
  {
    auto first = load_model(tmp / "start.keras");
    o.epochs = 2;
    fit(*first, {x}, {y}, o);
    BOOST_TEST(optimizer_iterations(*first->optimizer()) == 8);
    save_model(*first, tmp / "after2.keras");
  }
  auto resumed = load_model(tmp / "after2.keras");
  BOOST_TEST(optimizer_iterations(*resumed->optimizer()) == 8);
  o.epochs = 3;
  fit(*resumed, {x}, {y}, o);
  BOOST_TEST(optimizer_iterations(*resumed->optimizer()) == 20);
  require_same_state(*straight, *resumed);
  // And through a file once more: what is saved is what was trained.
  save_model(*resumed, tmp / "after5.keras");
  auto reloaded = load_model(tmp / "after5.keras");
  require_same_state(*reloaded, *straight);
}

BOOST_AUTO_TEST_CASE(training_is_bitwise_the_same_for_any_thread_count) {
  auto [x, y] = class_data(96, 8);
  auto run = [&](std::size_t threads) {
    ops::set_num_threads(threads);
    auto m = classifier(12);
    compile(*m, "rmsprop", "sparse_categorical_crossentropy");
    FitOptions o;
    o.epochs = 2;
    o.batch_size = 48;
    fit(*m, {x}, {y}, o);
    return m;
  };
  const std::size_t before = ops::num_threads();
  auto one = run(1);
  auto two = run(2);
  auto four = run(4);
  ops::set_num_threads(before);
  require_same_state(*one, *two);
  require_same_state(*one, *four);
}

BOOST_AUTO_TEST_CASE(refusals) {
  auto [x, y] = linear_data(8, 1);
  auto plain = std::make_shared<Sequential>("sequential");
  plain->add(layers::Input({2}));
  plain->add(layers::Dense(1));
  initialize_weights(*plain, 1);
  BOOST_CHECK_THROW(fit(*plain, {x}, {y}), ConfigError);  // not compiled
  compile(*plain, "sgd", "mse");
  FitOptions bad;
  bad.batch_size = 0;
  BOOST_CHECK_THROW(fit(*plain, {x}, {y}, bad), ConfigError);
  BOOST_CHECK_THROW(fit(*plain, {x}, {y.slice_rows(0, 4)}), ShapeError);
  BOOST_CHECK_THROW(compile(*plain, "sgd", "no_such_loss");
                    fit(*plain, {x}, {y}), UnsupportedError);
  // Optimizer state saved for another model does not silently apply.
  auto adam = load_model(test::golden_dir() / "trained_adam" / "model.keras");
  compile(*plain, "adam", "mse");
  plain->optimizer()->variables = adam->optimizer()->variables;
  BOOST_CHECK_THROW(fit(*plain, {x}, {y}), ConfigError);
}

BOOST_AUTO_TEST_SUITE_END()
