// Optimizers: hand-worked single steps, Keras's variable layout, a naive float32 Adam written
// from Keras's equations applied to the genuine Keras Adam state in golden/trained_adam, clipping,
// weight decay, schedules, and state that does not fit the model.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <cmath>

#include "kserde/error.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/saving.hpp"
#include "kserde/training.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace tt = boost::test_tools;

namespace {

Optimizer make_opt(const std::string& json) {
  Optimizer o;
  o.object_dict = parse_json(json, "test optimizer");
  return o;
}

Variable var(std::vector<float> v, Shape s = {}) {
  if (s.empty()) s = {static_cast<std::int64_t>(v.size())};
  return Variable{"w", Tensor::from_floats(s, v), true};
}

Tensor vec(std::vector<float> v) {
  return Tensor::from_floats({static_cast<std::int64_t>(v.size())}, v);
}

float at(const Tensor& t, std::size_t i) {
  return t.f32()[i];
}

// One step of `opt` on a single variable w with gradient g.
void step(Optimizer& opt, Variable& w, std::vector<float> g) {
  apply_gradients(opt, {&w}, {vec(std::move(g))});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(optimizers)

BOOST_AUTO_TEST_CASE(sgd_plain_momentum_and_nesterov_by_hand) {
  Optimizer plain =
      make_opt(R"({"class_name": "SGD", "config": {"name": "sgd", "learning_rate": 0.1}})");
  Variable w = var({1.0f});
  step(plain, w, {0.5f});
  BOOST_TEST(at(w.value, 0) == 0.95f, tt::tolerance(1e-6f));  // 1 - 0.1 * 0.5
  BOOST_TEST(plain.variables.size() == 2u);                   // iteration, learning_rate; no slots
  BOOST_TEST(optimizer_iterations(plain) == 1);

  Optimizer mom = make_opt(
      R"({"class_name": "SGD", "config": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9}})");
  Variable m = var({1.0f});
  step(mom, m, {0.5f});  // m1 = -0.05, w = 0.95
  step(mom, m, {0.5f});  // m2 = 0.9 * -0.05 - 0.05 = -0.095, w = 0.855
  BOOST_TEST(at(m.value, 0) == 0.855f, tt::tolerance(1e-6f));
  BOOST_TEST_REQUIRE(mom.variables.size() == 3u);
  BOOST_TEST(at(mom.variables[2].value, 0) == -0.095f, tt::tolerance(1e-6f));

  Optimizer nag = make_opt(R"({"class_name": "SGD", "config": {"name": "sgd", "learning_rate": 0.1,
                                "momentum": 0.9, "nesterov": true}})");
  Variable n = var({1.0f});
  step(nag, n, {0.5f});  // m1 = -0.05; w += 0.9 * m1 - 0.1 * 0.5 = -0.095
  BOOST_TEST(at(n.value, 0) == 0.905f, tt::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(adam_first_step_moves_each_weight_by_about_the_learning_rate) {
  // Step 1: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1, so the update is
  // lr * |g| sqrt(0.001) / (|g| sqrt(0.001) + eps) * sign(g).
  Optimizer adam =
      make_opt(R"({"class_name": "Adam", "config": {"name": "adam", "learning_rate": 0.01}})");
  Variable w = var({1.0f, -2.0f});
  step(adam, w, {0.5f, -4.0f});
  const double r = std::sqrt(0.001);
  BOOST_TEST(at(w.value, 0) == 1.0 - 0.01 * 0.5 * r / (0.5 * r + 1e-7), tt::tolerance(1e-6));
  BOOST_TEST(at(w.value, 1) == -2.0 + 0.01 * 4.0 * r / (4.0 * r + 1e-7), tt::tolerance(1e-6));
  BOOST_TEST_REQUIRE(adam.variables.size() == 4u);  // iteration, lr, momentum, velocity
  BOOST_TEST(at(adam.variables[2].value, 1) == -0.4f, tt::tolerance(1e-6f));
  BOOST_TEST(at(adam.variables[3].value, 1) == 0.016f, tt::tolerance(1e-5f));
}

BOOST_AUTO_TEST_CASE(slots_follow_keras_layout) {
  // Two variables with distinct gradients; each slot's value after one step says what it is.
  auto one_step = [](const std::string& json) {
    Optimizer o = make_opt(json);
    Variable a = var({1.0f, 1.0f});
    Variable b = var({1.0f});
    apply_gradients(o, {&a, &b}, {vec({2.0f, 2.0f}), vec({3.0f})});
    return o;
  };
  // Adam: momentum/velocity interleaved per variable, then velocity_hat per variable (amsgrad).
  Optimizer adam = one_step(
      R"({"class_name": "Adam", "config": {"name": "adam", "learning_rate": 0.01, "amsgrad": true}})");
  BOOST_TEST_REQUIRE(adam.variables.size() == 8u);
  BOOST_TEST(adam.variables[0].value.dtype() == DType::Int32);
  BOOST_TEST(at(adam.variables[2].value, 0) == 0.2f, tt::tolerance(1e-6f));    // m(a) = 0.1 * 2
  BOOST_TEST(at(adam.variables[3].value, 0) == 0.004f, tt::tolerance(1e-5f));  // v(a) = 0.001 * 4
  BOOST_TEST(at(adam.variables[4].value, 0) == 0.3f, tt::tolerance(1e-6f));    // m(b)
  BOOST_TEST(at(adam.variables[5].value, 0) == 0.009f, tt::tolerance(1e-5f));  // v(b)
  BOOST_TEST(at(adam.variables[6].value, 0) == 0.004f, tt::tolerance(1e-5f));  // vhat(a)
  BOOST_TEST(at(adam.variables[7].value, 0) == 0.009f, tt::tolerance(1e-5f));  // vhat(b)
  BOOST_TEST(adam.variables[2].value.shape() == Shape{2});
  BOOST_TEST(adam.variables[4].value.shape() == Shape{1});
  // RMSprop: every velocity, then every momentum, then every average gradient.
  Optimizer rms = one_step(R"({"class_name": "RMSprop", "config": {"name": "rmsprop",
      "learning_rate": 0.01, "rho": 0.9, "momentum": 0.5, "centered": true}})");
  BOOST_TEST_REQUIRE(rms.variables.size() == 8u);
  BOOST_TEST(at(rms.variables[2].value, 0) == 0.4f, tt::tolerance(1e-5f));  // vel(a) = 0.1 * 4
  BOOST_TEST(at(rms.variables[3].value, 0) == 0.9f, tt::tolerance(1e-5f));  // vel(b) = 0.1 * 9
  BOOST_TEST(at(rms.variables[6].value, 0) == 0.2f, tt::tolerance(1e-5f));  // avg(a) = 0.1 * 2
  BOOST_TEST(at(rms.variables[7].value, 0) == 0.3f, tt::tolerance(1e-5f));  // avg(b)
  // momentum(a) = lr g / sqrt(vel - avg^2 + eps) = 0.02 / sqrt(0.36)
  BOOST_TEST(at(rms.variables[4].value, 0) == 0.02 / std::sqrt(0.36), tt::tolerance(1e-5));
  // Adagrad: accumulators start at initial_accumulator_value.
  Optimizer ada = one_step(R"({"class_name": "Adagrad", "config": {"name": "adagrad",
      "learning_rate": 0.1, "initial_accumulator_value": 0.5}})");
  BOOST_TEST_REQUIRE(ada.variables.size() == 4u);
  BOOST_TEST(at(ada.variables[2].value, 0) == 4.5f, tt::tolerance(1e-6f));
  BOOST_TEST(at(ada.variables[3].value, 0) == 9.5f, tt::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(rmsprop_and_adagrad_updates_by_hand) {
  Optimizer rms = make_opt(
      R"({"class_name": "RMSprop", "config": {"name": "rmsprop", "learning_rate": 0.01}})");
  Variable w = var({1.0f});
  step(rms, w, {2.0f});  // vel = 0.1 * 4 = 0.4; w -= 0.01 * 2 / sqrt(0.4 + 1e-7)
  BOOST_TEST(at(w.value, 0) == 1.0 - 0.02 / std::sqrt(0.4 + 1e-7), tt::tolerance(1e-6));
  Optimizer ada =
      make_opt(R"({"class_name": "Adagrad", "config": {"name": "adagrad", "learning_rate": 0.1}})");
  Variable u = var({1.0f});
  step(ada, u, {2.0f});  // acc = 0.1 + 4; w -= 0.1 * 2 / sqrt(4.1 + 1e-7)
  BOOST_TEST(at(u.value, 0) == 1.0 - 0.2 / std::sqrt(4.1 + 1e-7), tt::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(adamw_decays_weights_before_the_adam_step) {
  // A zero gradient leaves Adam's step at 0 / (0 + eps) = 0: only w - w * wd * lr remains.
  Optimizer o = make_opt(R"({"class_name": "AdamW", "config": {"name": "adamw",
      "learning_rate": 0.1, "weight_decay": 0.5}})");
  Variable w = var({2.0f, -4.0f});
  step(o, w, {0.0f, 0.0f});
  BOOST_TEST(at(w.value, 0) == 1.9f, tt::tolerance(1e-6f));
  BOOST_TEST(at(w.value, 1) == -3.8f, tt::tolerance(1e-6f));
  // weight_decay also applies to the other optimizers (BaseOptimizer._apply_weight_decay).
  Optimizer sgd = make_opt(R"({"class_name": "SGD", "config": {"name": "sgd",
      "learning_rate": 0.1, "weight_decay": 0.5}})");
  Variable v = var({2.0f});
  step(sgd, v, {1.0f});  // 2 - 2 * 0.05 = 1.9, then - 0.1
  BOOST_TEST(at(v.value, 0) == 1.8f, tt::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(gradient_clipping_options) {
  // clipnorm: each gradient scaled to norm <= clipnorm; [3, 4] has norm 5.
  Optimizer by_norm = make_opt(R"({"class_name": "SGD", "config": {"name": "sgd",
      "learning_rate": 1.0, "clipnorm": 1.0}})");
  Variable a = var({0.0f, 0.0f});
  step(by_norm, a, {3.0f, 4.0f});
  BOOST_TEST(at(a.value, 0) == -0.6f, tt::tolerance(1e-6f));
  BOOST_TEST(at(a.value, 1) == -0.8f, tt::tolerance(1e-6f));
  // global_clipnorm: all gradients scaled together; norm of ([3], [4]) is 5.
  Optimizer global = make_opt(R"({"class_name": "SGD", "config": {"name": "sgd",
      "learning_rate": 1.0, "global_clipnorm": 2.5}})");
  Variable b = var({0.0f});
  Variable c = var({0.0f});
  apply_gradients(global, {&b, &c}, {vec({3.0f}), vec({4.0f})});
  BOOST_TEST(at(b.value, 0) == -1.5f, tt::tolerance(1e-6f));
  BOOST_TEST(at(c.value, 0) == -2.0f, tt::tolerance(1e-6f));
  // clipvalue: elementwise.
  Optimizer by_value = make_opt(R"({"class_name": "SGD", "config": {"name": "sgd",
      "learning_rate": 1.0, "clipvalue": 0.5}})");
  Variable d = var({0.0f, 0.0f, 0.0f});
  step(by_value, d, {3.0f, -4.0f, 0.25f});
  BOOST_TEST(at(d.value, 0) == -0.5f);
  BOOST_TEST(at(d.value, 1) == 0.5f);
  BOOST_TEST(at(d.value, 2) == -0.25f);
}

BOOST_AUTO_TEST_CASE(learning_rate_schedules) {
  auto lr_after = [](const std::string& schedule, int steps) {
    Optimizer o = make_opt(R"({"class_name": "SGD", "config": {"name": "sgd", "learning_rate": )" +
                           schedule + "}}");
    Variable w = var({0.0f});
    for (int i = 0; i < steps; ++i) step(o, w, {0.0f});
    return current_learning_rate(o);
  };
  const std::string exp_decay = R"({"module": "keras.optimizers.schedules", "class_name":
      "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 10,
      "decay_rate": 0.5, "staircase": false}})";
  BOOST_TEST(lr_after(exp_decay, 0) == 0.1, tt::tolerance(1e-6));
  BOOST_TEST(lr_after(exp_decay, 10) == 0.05, tt::tolerance(1e-6));
  BOOST_TEST(lr_after(exp_decay, 5) == 0.1 * std::pow(0.5, 0.5), tt::tolerance(1e-6));
  std::string stair = exp_decay;
  stair.replace(stair.find("false"), 5, "true");
  BOOST_TEST(lr_after(stair, 15) == 0.05, tt::tolerance(1e-6));
  const std::string piecewise = R"({"class_name": "PiecewiseConstantDecay", "config":
      {"boundaries": [2, 4], "values": [1.0, 0.5, 0.1]}})";
  BOOST_TEST(lr_after(piecewise, 2) == 1.0, tt::tolerance(1e-6));
  BOOST_TEST(lr_after(piecewise, 3) == 0.5, tt::tolerance(1e-6));
  BOOST_TEST(lr_after(piecewise, 5) == 0.1, tt::tolerance(1e-6));
  const std::string cosine = R"({"class_name": "CosineDecay", "config":
      {"initial_learning_rate": 1.0, "decay_steps": 10, "alpha": 0.2}})";
  BOOST_TEST(lr_after(cosine, 5) == 0.6, tt::tolerance(1e-6));   // 0.8 * 0.5 + 0.2
  BOOST_TEST(lr_after(cosine, 12) == 0.2, tt::tolerance(1e-6));  // past decay_steps
  const std::string warm = R"({"class_name": "CosineDecay", "config": {"initial_learning_rate":
      0.0, "decay_steps": 10, "warmup_target": 1.0, "warmup_steps": 4}})";
  BOOST_TEST(lr_after(warm, 1) == 0.25, tt::tolerance(1e-6));
  BOOST_TEST(lr_after(warm, 9) == 0.5, tt::tolerance(1e-6));  // half-way through the decay
  // With a schedule there is no learning_rate variable: iteration, then the slots.
  Optimizer o = make_opt(R"({"class_name": "Adam", "config": {"name": "adam", "learning_rate": )" +
                         cosine + "}}");
  Variable w = var({0.0f});
  step(o, w, {1.0f});
  BOOST_TEST(o.variables.size() == 3u);
  // An unknown schedule is refused by name.
  BOOST_CHECK_THROW(lr_after(R"({"class_name": "Mystery", "config": {}})", 1), UnsupportedError);
}

BOOST_AUTO_TEST_CASE(state_that_does_not_fit_is_refused) {
  Optimizer o =
      make_opt(R"({"class_name": "Adam", "config": {"name": "adam", "learning_rate": 0.01}})");
  Variable a = var({1.0f, 2.0f});
  step(o, a, {1.0f, 1.0f});
  Variable b = var({1.0f});
  BOOST_CHECK_THROW(apply_gradients(o, {&a, &b}, {vec({1, 1}), vec({1})}), ConfigError);
  Variable c = var({1.0f, 2.0f, 3.0f});
  BOOST_CHECK_THROW(apply_gradients(o, {&c}, {vec({1, 1, 1})}), ConfigError);
  BOOST_CHECK_THROW(apply_gradients(o, {&a}, {vec({1, 1, 1})}), ShapeError);
  Optimizer unknown = make_opt(R"({"class_name": "Lion", "config": {"name": "lion"}})");
  BOOST_CHECK_THROW(apply_gradients(unknown, {&a}, {vec({1, 1})}), UnsupportedError);
  Optimizer ema = make_opt(R"({"class_name": "SGD", "config": {"name": "sgd", "use_ema": true}})");
  BOOST_CHECK_THROW(apply_gradients(ema, {&a}, {vec({1, 1})}), UnsupportedError);
}

BOOST_AUTO_TEST_CASE(optimizer_object_dict_has_kerass_defaults) {
  auto d = optimizer_object_dict("Adam", 0.01);
  BOOST_TEST((*d)["class_name"].GetString() == std::string("Adam"));
  BOOST_TEST((*d)["module"].GetString() == std::string("keras.optimizers"));
  const JsonValue& c = (*d)["config"];
  BOOST_TEST(c["learning_rate"].GetDouble() == 0.01);
  BOOST_TEST(c["beta_2"].GetDouble() == 0.999);
  BOOST_TEST(c["epsilon"].GetDouble() == 1e-7);
  BOOST_TEST(c["amsgrad"].GetBool() == false);
  BOOST_TEST(c["use_ema"].GetBool() == false);
  BOOST_TEST(c["clipnorm"].IsNull());
  BOOST_CHECK_THROW(optimizer_object_dict("lion"), UnsupportedError);
}

// ---- golden trained_adam: Keras's own Adam state after 5 steps.

namespace {

// Keras's Adam.update_step in float32, written out for one element.
struct NaiveAdam {
  float lr, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
  void step(std::int64_t iterations, float g, float& m, float& v, float& w) const {
    const float t = static_cast<float>(iterations + 1);
    const float b1p = std::pow(b1, t);
    const float b2p = std::pow(b2, t);
    const float a = lr * std::sqrt(1.0f - b2p) / (1.0f - b1p);
    m = m + (g - m) * static_cast<float>(1.0 - 0.9);
    v = v + (g * g - v) * static_cast<float>(1.0 - 0.999);
    w = w - (m * a) / (std::sqrt(v) + eps);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(trained_adam_continues_from_kerass_state) {
  test::TempDir tmp;
  const auto file = test::golden_dir() / "trained_adam" / "model.keras";
  auto model = load_model(file);
  BOOST_TEST_REQUIRE(model->optimizer().has_value());
  Optimizer& opt = *model->optimizer();
  const std::vector<Variable*> vars = trainable_variables(*model);
  BOOST_TEST_REQUIRE(vars.size() == 4u);       // dense kernel, bias, dense_1 kernel, bias
  BOOST_TEST(optimizer_iterations(opt) == 5);  // case.json optimizer_iterations
  BOOST_TEST(current_learning_rate(opt) == 0.01, tt::tolerance(1e-7));

  // Loaded then saved without a step: every optimizer variable is kept bitwise.
  save_model(*model, tmp / "same.keras");
  {
    auto again = load_model(tmp / "same.keras");
    BOOST_TEST_REQUIRE(again->optimizer()->variables.size() == opt.variables.size());
    for (std::size_t i = 0; i < opt.variables.size(); ++i) {
      BOOST_TEST(again->optimizer()->variables[i].value.bitwise_equal(opt.variables[i].value), i);
    }
  }

  // One more step with known gradients, against the naive Adam on the file's state.
  std::vector<Tensor> before_w, before_m, before_v;
  for (std::size_t i = 0; i < vars.size(); ++i) {
    before_w.push_back(vars[i]->value.to(DType::Float32).clone());
    before_m.push_back(opt.variables[2 + 2 * i].value.clone());
    before_v.push_back(opt.variables[3 + 2 * i].value.clone());
  }
  TensorList grads;
  for (std::size_t i = 0; i < vars.size(); ++i) {
    grads.push_back(test::random_tensor(vars[i]->value.shape(), 100 + static_cast<unsigned>(i)));
  }
  apply_gradients(opt, vars, grads);
  BOOST_TEST(optimizer_iterations(opt) == 6);
  BOOST_TEST(opt.variables[0].value.dtype() == DType::Int32);  // as Keras saved it
  const NaiveAdam naive{0.01f};
  for (std::size_t i = 0; i < vars.size(); ++i) {
    for (std::int64_t k = 0; k < vars[i]->value.num_elements(); ++k) {
      float m = before_m[i].f32()[k], v = before_v[i].f32()[k], w = before_w[i].f32()[k];
      naive.step(5, grads[i].f32()[k], m, v, w);
      // The same float32 operations in the same order: equal to the last bit.
      BOOST_TEST(vars[i]->value.f32()[k] == w);
      BOOST_TEST(opt.variables[2 + 2 * i].value.f32()[k] == m);
      BOOST_TEST(opt.variables[3 + 2 * i].value.f32()[k] == v);
    }
  }
  // The stepped state saves and loads back bitwise, in the same layout.
  save_model(*model, tmp / "stepped.keras");
  auto stepped = load_model(tmp / "stepped.keras");
  BOOST_TEST_REQUIRE(stepped->optimizer()->variables.size() == 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    BOOST_TEST(stepped->optimizer()->variables[i].value.bitwise_equal(opt.variables[i].value), i);
  }
  const auto reloaded_vars = trainable_variables(*stepped);
  for (std::size_t i = 0; i < vars.size(); ++i) {
    BOOST_TEST(reloaded_vars[i]->value.bitwise_equal(vars[i]->value), i);
  }
}

BOOST_AUTO_TEST_SUITE_END()
