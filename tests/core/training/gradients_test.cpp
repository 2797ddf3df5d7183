// Gradients against finite differences: every loss's gradient against central differences of
// evaluate()'s loss_per_sample (float64), and every trainable variable of small models against
// central differences of the compiled loss computed from predict() (float32 forward, so a coarser
// step and tolerance).
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <random>

#include "kserde/error.hpp"
#include "kserde/evaluate.hpp"
#include "kserde/initializers.hpp"
#include "kserde/layers.hpp"
#include "kserde/saving.hpp"
#include "kserde/training.hpp"
#include "test_support.hpp"
#include "training/loss_grad.hpp"

using namespace kserde;

namespace {

Tensor f64(Shape s, std::uint32_t seed, double lo, double hi) {
  Tensor t(s, DType::Float64);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  for (double& v : t.mutable_values<double>()) v = u(rng);
  return t;
}

double mean_loss(const JsonValue& loss, const Tensor& yt, const Tensor& yp) {
  const auto per = loss_per_sample(loss, yt, yp);
  double s = 0;
  for (double v : per) s += v;
  return s / static_cast<double>(per.size());
}

void check_loss(const std::string& json, const Tensor& yt, const Tensor& yp) {
  BOOST_TEST_CONTEXT(json) {
    auto doc = parse_json(json, "loss");
    const std::vector<double> g = training::loss_gradient(*doc, yt, yp);
    BOOST_TEST_REQUIRE(g.size() == static_cast<std::size_t>(yp.num_elements()));
    const double h = 1e-6;
    for (std::size_t i = 0; i < g.size(); ++i) {
      Tensor plus = yp.clone(), minus = yp.clone();
      plus.mutable_values<double>()[i] += h;
      minus.mutable_values<double>()[i] -= h;
      const double fd = (mean_loss(*doc, yt, plus) - mean_loss(*doc, yt, minus)) / (2 * h);
      BOOST_TEST(std::abs(g[i] - fd) <= 1e-6 + 1e-5 * std::abs(fd),
                 "element " << i << ": gradient " << g[i] << ", finite difference " << fd);
    }
  }
}

// Central differences of the compiled loss (from predict) for every trainable variable element.
// `training_loss`: differentiate the training-mode loss (compute_gradients' own forward) instead of
// predict's, for layers whose training pass differs from inference (BatchNormalization).
void check_model(Model& model, const TensorList& x, const TensorList& y, double h = 1e-3,
                 double rtol = 2e-2, double atol = 2e-3, bool training_loss = false) {
  const Gradients g = compute_gradients(model, x, y);
  const std::vector<Variable*> vars = trainable_variables(model);
  BOOST_TEST_REQUIRE(g.grads.size() == vars.size());
  auto loss_now = [&] {
    if (training_loss) return compute_gradients(model, x, y).loss;
    const TensorList out = model.predict(x, 1 << 20);
    double total = 0;
    for (std::size_t o = 0; o < out.size(); ++o) {
      const JsonValue* l = compiled_loss(model, o);
      if (l != nullptr) total += compiled_loss_weight(model, o) * mean_loss(*l, y[o], out[o]);
    }
    return total;
  };
  BOOST_TEST(g.loss == loss_now(), boost::test_tools::tolerance(1e-4));
  for (std::size_t v = 0; v < vars.size(); ++v) {
    BOOST_TEST_REQUIRE(g.grads[v].shape() == vars[v]->value.shape());
    for (std::int64_t k = 0; k < vars[v]->value.num_elements(); ++k) {
      const Tensor original = vars[v]->value;
      Tensor plus = original.clone(), minus = original.clone();
      plus.f32_mut()[k] += static_cast<float>(h);
      minus.f32_mut()[k] -= static_cast<float>(h);
      const double step = static_cast<double>(plus.f32()[k]) - minus.f32()[k];
      vars[v]->value = plus;
      const double lp = loss_now();
      vars[v]->value = minus;
      const double lm = loss_now();
      vars[v]->value = original;
      const double fd = (lp - lm) / step;
      const double an = g.grads[v].f32()[k];
      BOOST_TEST(std::abs(an - fd) <= atol + rtol * std::abs(fd),
                 "variable " << vars[v]->name << " #" << v << " element " << k << ": gradient "
                             << an << ", finite difference " << fd);
    }
  }
}

std::shared_ptr<Sequential> mlp(std::int64_t in, std::vector<std::shared_ptr<Layer>> layers,
                                std::uint64_t seed = 3) {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({in}));
  for (auto& l : layers) m->add(l);
  initialize_weights(*m, seed);
  return m;
}

// Bias initializers are zeros; give biases values so their gradients see general points.
void perturb_all(Model& m, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.3f, 0.3f);
  for (Variable* v : trainable_variables(m)) {
    Tensor t = v->value.clone();
    for (float& x : t.mutable_values<float>()) x += u(rng);
    v->value = t;
  }
}

Tensor f32(Shape s, unsigned seed) {
  return test::random_tensor(s, seed);
}

Tensor class_ids(std::int64_t n, std::int64_t k, unsigned seed) {
  Tensor t({n}, DType::Int32);
  std::mt19937 rng(seed);
  for (auto& v : t.mutable_values<std::int32_t>()) v = static_cast<std::int32_t>(rng() % k);
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gradients)

BOOST_AUTO_TEST_CASE(every_loss_gradient_matches_finite_differences) {
  const Tensor real_t = f64({3, 4}, 1, -2, 2);
  const Tensor real_p = f64({3, 4}, 2, -2, 2);
  for (const char* l : {R"("mse")", R"("mae")", R"("log_cosh")", R"("cosine_similarity")",
                        R"({"class_name": "Huber", "config": {"delta": 0.7}})"}) {
    check_loss(l, real_t, real_p);
  }
  const Tensor pos_t = f64({3, 4}, 3, 0.1, 2);
  const Tensor pos_p = f64({3, 4}, 4, 0.1, 2);
  for (const char* l : {R"("mape")", R"("msle")", R"("poisson")"}) check_loss(l, pos_t, pos_p);
  const Tensor prob_t = f64({3, 4}, 5, 0.05, 0.95);
  const Tensor prob_p = f64({3, 4}, 6, 0.05, 0.95);
  for (const char* l :
       {R"("binary_crossentropy")", R"("kl_divergence")", R"("categorical_crossentropy")",
        R"({"class_name": "CategoricalCrossentropy", "config":
                            {"from_logits": false, "label_smoothing": 0.1}})"}) {
    check_loss(l, prob_t, prob_p);
  }
  for (const char* l : {R"({"class_name": "BinaryCrossentropy", "config": {"from_logits": true}})",
                        R"({"class_name": "CategoricalCrossentropy", "config":
                            {"from_logits": true, "label_smoothing": 0.2}})"}) {
    check_loss(l, prob_t, real_p);
  }
  Tensor labels({3, 1}, DType::Float64);
  labels.mutable_values<double>()[0] = 2;
  labels.mutable_values<double>()[1] = 0;
  labels.mutable_values<double>()[2] = 3;
  check_loss(R"("sparse_categorical_crossentropy")", labels, prob_p);
  check_loss(R"({"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": true}})",
             labels, real_p);
  // Hinge losses on ±1 labels away from their kinks.
  Tensor pm({3, 4}, DType::Float64);
  for (std::size_t i = 0; i < 12; ++i) pm.mutable_values<double>()[i] = i % 3 ? 1.0 : -1.0;
  check_loss(R"("hinge")", pm, f64({3, 4}, 7, -0.8, 0.8));
  check_loss(R"("squared_hinge")", pm, f64({3, 4}, 8, -0.8, 0.8));
  Tensor onehot({3, 4}, DType::Float64);
  for (std::size_t r = 0; r < 3; ++r) onehot.mutable_values<double>()[r * 4 + r] = 1.0;
  check_loss(R"("categorical_hinge")", onehot, f64({3, 4}, 9, -0.8, 0.8));
}

BOOST_AUTO_TEST_CASE(saturated_logits_keep_their_gradient) {
  // Keras's from-logits binary crossentropy is the stable formula: its gradient sigmoid(b) - y
  // stays ~1 for a confident wrong logit (a clipped probability would pass none).
  auto loss = parse_json(R"({"class_name": "BinaryCrossentropy", "config": {"from_logits": true}})",
                         "loss");
  Tensor t({1, 1}, DType::Float64);
  Tensor p({1, 1}, DType::Float64);
  p.mutable_values<double>()[0] = 30.0;
  const auto g = training::loss_gradient(*loss, t, p);
  BOOST_TEST(g.at(0) == 1.0, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(dense_mlp_softmax_crossentropy) {
  auto m = mlp(5, {layers::Dense(7, "tanh"), layers::Dense(4, "softmax")});
  perturb_all(*m, 11);
  compile(*m, "sgd", "categorical_crossentropy");
  Tensor y({6, 4}, DType::Float32);
  for (std::int64_t r = 0; r < 6; ++r) y.f32_mut()[r * 4 + r % 4] = 1.0f;
  check_model(*m, {f32({6, 5}, 1)}, {y});
}

BOOST_AUTO_TEST_CASE(dense_with_every_activation) {
  for (const char* act : {"linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "elu", "selu",
                          "softplus", "softsign", "silu", "gelu", "exponential", "hard_sigmoid",
                          "hard_silu", "log_sigmoid", "softmax", "log_softmax"}) {
    BOOST_TEST_CONTEXT(act) {
      auto m = mlp(4, {layers::Dense(6, act), layers::Dense(3)}, 5);
      perturb_all(*m, 12);
      compile(*m, "adam", "mse");
      check_model(*m, {f32({5, 4}, 2)}, {f32({5, 3}, 3)});
    }
  }
}

BOOST_AUTO_TEST_CASE(activation_layer_classes) {
  auto m = mlp(
      4,
      {layers::Dense(6), layers::from_config("ReLU", R"({"max_value": 0.8,
                       "negative_slope": 0.1, "threshold": 0.05})"),
       layers::Dense(6), layers::from_config("LeakyReLU", "{}"), layers::Dense(6),
       layers::from_config("ELU", R"({"alpha": 0.5})"), layers::Dense(6),
       layers::from_config("ReLU", "{}"), layers::Dense(3), layers::from_config("Softmax", "{}")},
      33);
  perturb_all(*m, 34);
  compile(*m, "sgd", "categorical_crossentropy");
  Tensor y({5, 3}, DType::Float32);
  for (std::int64_t r = 0; r < 5; ++r) y.f32_mut()[r * 3 + r % 3] = 1.0f;
  check_model(*m, {f32({5, 4}, 42)}, {y});
}

BOOST_AUTO_TEST_CASE(activation_flatten_reshape_layers) {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({2, 3}));
  m->add(layers::Flatten());
  m->add(layers::Dense(6));
  m->add(layers::Activation("sigmoid"));
  m->add(layers::Reshape({3, 2}));
  m->add(layers::Dense(2, "tanh"));  // on a rank-3 tensor: the last axis
  m->add(layers::Flatten());
  m->add(layers::Dense(1));
  initialize_weights(*m, 4);
  perturb_all(*m, 13);
  compile(*m, "sgd", "mse");
  check_model(*m, {f32({4, 2, 3}, 4)}, {f32({4, 1}, 5)});
}

BOOST_AUTO_TEST_CASE(sparse_labels_and_binary_outputs) {
  auto m = mlp(3, {layers::Dense(5, "relu"), layers::Dense(4)}, 7);
  perturb_all(*m, 14);
  compile(*m, "sgd",
          R"({"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": true}})");
  check_model(*m, {f32({8, 3}, 6)}, {class_ids(8, 4, 1)});
  auto b = mlp(3, {layers::Dense(1, "sigmoid")}, 8);
  perturb_all(*b, 15);
  compile(*b, "sgd", "binary_crossentropy");
  Tensor y({6, 1}, DType::Float32);
  for (std::int64_t r = 0; r < 6; ++r) y.f32_mut()[r] = static_cast<float>(r % 2);
  check_model(*b, {f32({6, 3}, 7)}, {y});
}

BOOST_AUTO_TEST_CASE(functional_graph_with_two_inputs_two_outputs_add_concatenate) {
  // golden/functional: Dense layers joined by Add and Concatenate, two inputs, two outputs.
  auto m = load_model(test::golden_dir() / "functional" / "model.keras");
  perturb_all(*m, 16);
  compile(*m, "sgd", "mse");
  const auto outs = m->output_shapes();
  BOOST_TEST_REQUIRE(outs.size() == 2u);
  TensorList y;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    Shape s = outs[i];
    s[0] = 4;
    y.push_back(f32(s, 20 + static_cast<unsigned>(i)));
  }
  check_model(*m, {f32({4, 16}, 8), f32({4, 8}, 9)}, y);
}

BOOST_AUTO_TEST_CASE(nested_sequential_inside_functional) {
  auto m = load_model(test::golden_dir() / "nested" / "model.keras");
  perturb_all(*m, 17);
  compile(*m, "sgd", "mse");
  Shape s = m->output_shapes().at(0);
  s[0] = 4;
  check_model(*m, {f32({4, 5}, 10)}, {f32(s, 11)});
}

BOOST_AUTO_TEST_CASE(dropout_gradient_matches_its_own_mask) {
  // The training-mode forward with a fixed (seed, step) is a fixed function of the weights:
  // differentiate compute_gradients' loss with respect to each weight.
  auto m = mlp(4, {layers::Dense(8, "tanh"), layers::Dropout(0.5), layers::Dense(2)}, 9);
  perturb_all(*m, 18);
  compile(*m, "sgd", "mse");
  const TensorList x{f32({6, 4}, 12)};
  const TensorList y{f32({6, 2}, 13)};
  const Gradients g = compute_gradients(*m, x, y, 42, 3);
  const auto vars = trainable_variables(*m);
  int zero_rows = 0;
  for (std::size_t v = 0; v < vars.size(); ++v) {
    for (std::int64_t k = 0; k < vars[v]->value.num_elements(); ++k) {
      const Tensor original = vars[v]->value;
      Tensor plus = original.clone(), minus = original.clone();
      plus.f32_mut()[k] += 1e-3f;
      minus.f32_mut()[k] -= 1e-3f;
      const double step = static_cast<double>(plus.f32()[k]) - minus.f32()[k];
      vars[v]->value = plus;
      const double lp = compute_gradients(*m, x, y, 42, 3).loss;
      vars[v]->value = minus;
      const double lm = compute_gradients(*m, x, y, 42, 3).loss;
      vars[v]->value = original;
      const double fd = (lp - lm) / step;
      const double an = g.grads[v].f32()[k];
      BOOST_TEST(std::abs(an - fd) <= 2e-3 + 2e-2 * std::abs(fd));
      if (v == 2 && an == 0.0) ++zero_rows;  // dropped units pass no gradient to the next kernel
    }
  }
  BOOST_TEST(zero_rows > 0);
  // Another step draws another mask; the same step the same one.
  BOOST_TEST(compute_gradients(*m, x, y, 42, 3).loss == g.loss);
  BOOST_TEST(compute_gradients(*m, x, y, 42, 4).loss != g.loss);
  BOOST_TEST(compute_gradients(*m, x, y, 43, 3).loss != g.loss);
}

BOOST_AUTO_TEST_CASE(layers_without_a_backward_pass_are_named) {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({3, 4}));
  m->add(layers::from_config("LSTM", R"({"units": 2})"));
  m->add(layers::Dense(1));
  initialize_weights(*m, 1);
  compile(*m, "sgd", "mse");
  const auto missing = layers_without_backprop(*m);
  BOOST_TEST_REQUIRE(missing.size() == 1u);
  BOOST_TEST(missing[0].find("LSTM") != std::string::npos);
  try {
    fit(*m, {f32({2, 3, 4}, 1)}, {f32({2, 1}, 2)});
    BOOST_FAIL("fit accepted a model with an LSTM");
  } catch (const UnsupportedError& e) {
    BOOST_TEST(std::string(e.what()).find("LSTM") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(image_preprocessing_and_augmentation_layers_are_refused) {
  // Keras runs the augmentation in training mode; kserde does not reproduce it, so fit refuses.
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({4, 4, 1}));
  m->add(layers::from_config("RandomFlip", R"({"mode": "horizontal"})"));
  m->add(layers::from_config("Resizing", R"({"height": 2, "width": 2})"));
  m->add(layers::Flatten());
  m->add(layers::Dense(1));
  initialize_weights(*m, 1);
  compile(*m, "sgd", "mse");
  const auto missing = layers_without_backprop(*m);
  BOOST_TEST_REQUIRE(missing.size() == 2u);
  BOOST_TEST(missing[0].find("RandomFlip") != std::string::npos);
  BOOST_TEST(missing[1].find("Resizing") != std::string::npos);
  BOOST_CHECK_THROW(fit(*m, {f32({2, 4, 4, 1}, 1)}, {f32({2, 1}, 2)}), UnsupportedError);
}

BOOST_AUTO_TEST_CASE(conv2d_pooling_and_flatten) {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({6, 6, 2}));
  m->add(layers::from_config("Conv2D", R"({"filters": 3, "kernel_size": 3, "padding": "same",
                                          "activation": "tanh"})"));
  m->add(layers::from_config("MaxPooling2D", R"({"pool_size": 2})"));
  m->add(layers::from_config("Conv2D", R"({"filters": 2, "kernel_size": [2, 1],
                                          "strides": [1, 2], "activation": "sigmoid"})"));
  m->add(layers::from_config("AveragePooling2D", R"({"pool_size": 2, "strides": 1,
                                                    "padding": "same"})"));
  m->add(layers::Flatten());
  m->add(layers::Dense(3, "softmax"));
  initialize_weights(*m, 21);
  perturb_all(*m, 22);
  compile(*m, "adam", "sparse_categorical_crossentropy");
  check_model(*m, {f32({3, 6, 6, 2}, 30)}, {class_ids(3, 3, 2)});
}

BOOST_AUTO_TEST_CASE(conv1d_causal_dilated_and_global_pooling) {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({9, 3}));
  m->add(layers::from_config("Conv1D", R"({"filters": 4, "kernel_size": 3, "dilation_rate": 2,
                                          "padding": "causal", "activation": "tanh"})"));
  m->add(layers::from_config("AveragePooling1D", R"({"pool_size": 2, "padding": "same"})"));
  m->add(layers::from_config("Conv1D", R"({"filters": 3, "kernel_size": 2, "strides": 2,
                                          "padding": "same", "use_bias": false})"));
  m->add(layers::from_config("GlobalMaxPooling1D", "{}"));
  m->add(layers::Dense(2));
  initialize_weights(*m, 23);
  perturb_all(*m, 24);
  compile(*m, "sgd", "mse");
  check_model(*m, {f32({3, 9, 3}, 31)}, {f32({3, 2}, 32)});
}

BOOST_AUTO_TEST_CASE(channels_first_convolution) {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({2, 5, 5}));
  m->add(layers::from_config("Conv2D", R"({"filters": 3, "kernel_size": 2, "strides": 2,
      "padding": "same", "data_format": "channels_first", "activation": "tanh"})"));
  m->add(layers::from_config("MaxPooling2D", R"({"pool_size": 2, "padding": "same",
                                                "data_format": "channels_first"})"));
  m->add(layers::from_config("GlobalAveragePooling2D", R"({"data_format": "channels_first"})"));
  m->add(layers::Dense(2));
  initialize_weights(*m, 25);
  perturb_all(*m, 26);
  compile(*m, "sgd", "mse");
  check_model(*m, {f32({2, 2, 5, 5}, 33)}, {f32({2, 2}, 34)});
}

BOOST_AUTO_TEST_CASE(batch_normalization_in_training_mode) {
  auto m = mlp(4,
               {layers::Dense(5), layers::from_config("BatchNormalization", "{}"),
                layers::Activation("tanh"), layers::Dense(2)},
               27);
  perturb_all(*m, 28);
  compile(*m, "sgd", "mse");
  const TensorList x{f32({6, 4}, 35)};
  const TensorList y{f32({6, 2}, 36)};
  check_model(*m, x, y, 1e-3, 2e-2, 2e-3, true);
  // Moving statistics follow Keras's rule with the batch's mean and (biased) variance.
  auto bn = m->layers()[1];
  const Tensor mm0 = bn->variables()[2].value.clone();
  const Tensor mv0 = bn->variables()[3].value.clone();
  (void)compute_gradients(*m, x, y);
  const Tensor h = m->layers()[0]->operator()(x[0]);  // the Dense output the layer normalizes
  for (std::int64_t c = 0; c < 5; ++c) {
    double s = 0, ss = 0;
    for (std::int64_t r = 0; r < 6; ++r) s += h.f32()[r * 5 + c];
    const double mean = s / 6;
    for (std::int64_t r = 0; r < 6; ++r)
      ss += (h.f32()[r * 5 + c] - mean) * (h.f32()[r * 5 + c] - mean);
    BOOST_TEST(bn->variables()[2].value.f32()[c] == mm0.f32()[c] * 0.99 + mean * 0.01,
               boost::test_tools::tolerance(1e-5));
    BOOST_TEST(bn->variables()[3].value.f32()[c] == mv0.f32()[c] * 0.99 + ss / 6 * 0.01,
               boost::test_tools::tolerance(1e-5));
  }
}

BOOST_AUTO_TEST_CASE(frozen_batch_normalization_uses_its_moving_statistics) {
  auto m =
      mlp(4,
          {layers::Dense(5), layers::from_config("BatchNormalization", R"({"trainable": false})"),
           layers::Dense(2)},
          29);
  perturb_all(*m, 30);
  auto bn = m->layers()[1];
  bn->variables()[2].value = f32({5}, 40);
  Tensor var = f32({5}, 41);
  for (float& v : var.mutable_values<float>()) v = 0.5f + v * v;
  bn->variables()[3].value = var;
  compile(*m, "sgd", "mse");
  check_model(*m, {f32({6, 4}, 37)}, {f32({6, 2}, 38)});  // predict's loss: the same function
  BOOST_TEST(bn->variables()[3].value.bitwise_equal(var));
}

BOOST_AUTO_TEST_CASE(layer_normalization) {
  auto m = mlp(
      4,
      {layers::Dense(6), layers::from_config("LayerNormalization", "{}"), layers::Dense(2, "tanh")},
      31);
  perturb_all(*m, 32);
  compile(*m, "sgd", "mse");
  check_model(*m, {f32({5, 4}, 39)}, {f32({5, 2}, 40)});
}

BOOST_AUTO_TEST_CASE(embedding_with_repeated_ids) {
  // golden/embedding: Embedding(50, 8) -> GlobalAveragePooling1D -> Dense(3, softmax).
  auto m = load_model(test::golden_dir() / "embedding" / "model.keras");
  compile(*m, "adam", "sparse_categorical_crossentropy");
  Tensor ids({4, 10}, DType::Int32);
  for (std::int64_t i = 0; i < 40; ++i)
    ids.mutable_values<std::int32_t>()[i] = static_cast<std::int32_t>((i * 7) % 12);
  const Gradients g = compute_gradients(*m, {ids}, {class_ids(4, 3, 3)});
  // Rows never looked up get no gradient.
  const Tensor& table_grad = g.grads.at(0);
  BOOST_TEST_REQUIRE(table_grad.shape() == (Shape{50, 8}));
  for (std::int64_t k = 12 * 8; k < 50 * 8; ++k) BOOST_TEST(table_grad.f32()[k] == 0.0f);
  check_model(*m, {ids}, {class_ids(4, 3, 3)});
}

BOOST_AUTO_TEST_SUITE_END()
