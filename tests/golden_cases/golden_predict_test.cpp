// Every golden case (files written by Python Keras 3.16) loads and predicts what Keras predicted.
#include <rapidjson/document.h>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <filesystem>

#include "kserde/io/mapped_file.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/json.hpp"
#include "kserde/object_registry.hpp"
#include "kserde/saving.hpp"
#include "scaled_dense.hpp"
#include "test_support.hpp"
#define KSERDE_TEST_INTERPOSE_MALLOC  // this executable's one definition of the counting malloc
#include "allocation_counter.hpp"
#include "ops/thread_pool.hpp"

namespace bdata = boost::unit_test::data;
using namespace kserde;

namespace {

std::vector<std::string> golden_cases() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(test::golden_dir())) {
    if (e.is_directory() && std::filesystem::exists(e.path() / "case.json")) {
      out.push_back(e.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TensorList numbered(const std::filesystem::path& dir, const std::string& stem) {
  if (std::filesystem::exists(dir / (stem + ".npy"))) return {io::read_npy(dir / (stem + ".npy"))};
  TensorList out;
  for (int i = 0; std::filesystem::exists(dir / (stem + "_" + std::to_string(i) + ".npy")); ++i) {
    out.push_back(io::read_npy(dir / (stem + "_" + std::to_string(i) + ".npy")));
  }
  return out;
}

LoadOptions golden_options() {
  LoadOptions o;
  // The custom_layer case needs MyLayers>ScaledDense; here it comes through custom_objects (the
  // plugin route is tested with the plugin).
  o.custom_objects.add_layer<test::ScaledDense>("MyLayers>ScaledDense");
  o.custom_objects.add_function("MyLayers>scaled_tanh", test::scaled_tanh);
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(golden)

BOOST_DATA_TEST_CASE(golden_case_predicts_what_keras_predicted, bdata::make(golden_cases()), name) {
  const auto dir = test::golden_dir() / name;
  auto case_json = parse_json(io::read_text_file(dir / "case.json", 1 << 20), "case.json");
  const auto& tol = (*case_json)["tolerance"];
  const double rtol = tol["rtol"].GetDouble();
  const double atol = tol["atol"].GetDouble();

  auto model = load_model(dir / "model.keras", golden_options());
  const auto inputs = numbered(dir, "input");
  const auto expected = numbered(dir, "expected");
  BOOST_TEST_REQUIRE(!inputs.empty());
  BOOST_TEST_REQUIRE(!expected.empty());
  const auto outputs = model->predict(inputs, 32);
  BOOST_TEST_REQUIRE(outputs.size() == expected.size());
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    std::string detail;
    BOOST_TEST(test::allclose(outputs[i], expected[i], rtol, atol, &detail),
               name << " output " << i << ": " << detail);
  }
}

BOOST_DATA_TEST_CASE(golden_case_predicts_the_same_in_every_batch_size, bdata::make(golden_cases()),
                     name) {
  const auto dir = test::golden_dir() / name;
  auto model = load_model(dir / "model.keras", golden_options());
  const auto inputs = numbered(dir, "input");
  const auto all = model->predict(inputs, 1024);
  const auto one = model->predict(inputs, 1);
  BOOST_TEST_REQUIRE(all.size() == one.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    // Every product kernel sums each output element in the same order whatever the number of
    // rows, so a sample's prediction does not depend on the batch it comes in: bitwise.
    std::string detail;
    test::allclose(one[i], all[i], 0.0, 0.0, &detail);
    BOOST_TEST(one[i].bitwise_equal(all[i]), detail);
  }
}

BOOST_DATA_TEST_CASE(golden_case_predicts_in_steady_state_without_allocating,
                     bdata::make(golden_cases()), name) {
  if (!test::kAllocationCounting) {
    BOOST_TEST_MESSAGE("allocation counting needs glibc's malloc; not under a sanitizer");
    return;
  }
  const auto dir = test::golden_dir() / name;
  auto model = load_model(dir / "model.keras", golden_options());
  const auto inputs = numbered(dir, "input");
  const auto expected = numbered(dir, "expected");
  for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    kserde::ops::set_num_threads(threads);
    // One batch and several (batch_size 3 splits every golden input), as a server would call.
    for (const std::int64_t batch_size : {std::int64_t{1024}, std::int64_t{3}}) {
      // The same calls warm up and are counted: the last result stays alive while the next
      // call runs, as in a caller's loop. Workers grow their scratch on their first parts, so
      // the warm-up lasts until each of them has run every layer.
      TensorList out;
      test::warm_up_until_steady([&] { out = model->predict(inputs, batch_size); });
      const long allocations = test::allocations_during([&] {
        for (int call = 0; call < 5; ++call) out = model->predict(inputs, batch_size);
      });
      BOOST_TEST(test::allclose(out.at(0), expected.at(0), 1e-4, 1e-5));
      BOOST_TEST(allocations == 0, name << ", " << threads << " thread(s), batch_size "
                                        << batch_size << ": " << allocations
                                        << " heap allocations in 5 steady-state predictions");
    }
  }
  kserde::ops::set_num_threads(0);
}

BOOST_AUTO_TEST_SUITE_END()
