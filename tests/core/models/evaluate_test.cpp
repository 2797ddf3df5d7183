// evaluate(): Keras's own evaluate() numbers on the golden cnn case, and hand-worked losses.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>

#include "kserde/error.hpp"
#include "kserde/evaluate.hpp"
#include "kserde/io/mapped_file.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace tt = boost::test_tools;

namespace {

double loss_of(const char* loss_json, Tensor y_true, Tensor y_pred) {
  JsonDocument d;
  d.Parse(loss_json);
  const auto per = loss_per_sample(d, y_true, y_pred);
  double s = 0;
  for (double v : per) s += v;
  return s / static_cast<double>(per.size());
}

Tensor f(Shape s, std::vector<float> v) { return Tensor::from_floats(std::move(s), v); }

}  // namespace

BOOST_AUTO_TEST_SUITE(evaluate_model)

BOOST_AUTO_TEST_CASE(cnn_evaluates_to_what_keras_reported) {
  const auto dir = test::golden_dir() / "cnn";
  auto expected = parse_json(io::read_text_file(dir / "case.json", 1 << 20), "case.json");
  const double keras_loss = (*expected)["evaluate"]["loss"].GetDouble();
  const double keras_accuracy = (*expected)["evaluate"]["accuracy"].GetDouble();
  auto model = load_model(dir / "model.keras");
  const auto result = evaluate(*model, {io::read_npy(dir / "x_eval.npy")}, {io::read_npy(dir / "y_eval.npy")}, 3);
  BOOST_TEST_REQUIRE(result.size() == 2u);
  BOOST_TEST(result[0].first == "loss");
  BOOST_TEST(result[0].second == keras_loss, tt::tolerance(1e-5));
  BOOST_TEST(result[1].first == "accuracy");
  BOOST_TEST(result[1].second == keras_accuracy, tt::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(losses_match_hand_worked_values) {
  // mse([1, 2], [0, 0]) = (1 + 4) / 2
  BOOST_TEST(loss_of(R"("mse")", f({1, 2}, {1, 2}), f({1, 2}, {0, 0})) == 2.5, tt::tolerance(1e-12));
  BOOST_TEST(loss_of(R"("mae")", f({1, 2}, {1, -2}), f({1, 2}, {0, 0})) == 1.5, tt::tolerance(1e-12));
  // -ln(0.75)
  BOOST_TEST(loss_of(R"("sparse_categorical_crossentropy")", f({1, 1}, {1}), f({1, 2}, {0.25f, 0.75f})) ==
                 0.28768207245178, tt::tolerance(1e-6));
  // categorical: normalises y_pred first: [1, 3] -> [0.25, 0.75]
  BOOST_TEST(loss_of(R"("categorical_crossentropy")", f({1, 2}, {0, 1}), f({1, 2}, {1, 3})) ==
                 0.28768207245178, tt::tolerance(1e-6));
  // -ln(0.8)
  BOOST_TEST(loss_of(R"("binary_crossentropy")", f({1, 1}, {1}), f({1, 1}, {0.8f})) ==
                 0.22314355131421, tt::tolerance(1e-6));
  // from_logits: softmax([0, ln 3]) = [0.25, 0.75]
  BOOST_TEST(loss_of(R"({"module": "keras.losses", "class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": true}})",
                     f({1, 1}, {1}), f({1, 2}, {0.0f, static_cast<float>(std::log(3.0))})) ==
                 0.28768207245178, tt::tolerance(1e-6));
  // Probability 0 is clipped to 1e-7: -ln(1e-7)
  BOOST_TEST(loss_of(R"("sparse_categorical_crossentropy")", f({1, 1}, {0}), f({1, 2}, {0, 1})) ==
                 16.11809565095832, tt::tolerance(1e-6));
  JsonDocument unknown;
  unknown.Parse(R"("no_such_loss")");
  BOOST_CHECK_THROW(loss_per_sample(unknown, f({1, 1}, {0}), f({1, 1}, {0})), UnsupportedError);
}

BOOST_AUTO_TEST_CASE(uncompiled_model_cannot_be_evaluated) {
  auto model = load_model(test::golden_dir() / "mlp" / "model.keras");
  BOOST_CHECK_THROW(evaluate(*model, {io::read_npy(test::golden_dir() / "mlp" / "input.npy")}, {f({4, 1}, {0, 0, 0, 0})}),
                    ConfigError);
}

BOOST_AUTO_TEST_SUITE_END()
