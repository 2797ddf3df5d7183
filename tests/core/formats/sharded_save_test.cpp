// Sharded weights written like Keras's save_weights(..., max_shard_size=...) (spec §5.9): the
// index JSON and every shard's groups, attributes and datasets (read by libhdf5) equal the golden
// set Keras 3 wrote for the same model, and the set loads back to the same predictions.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>

#include "h5_reference.hpp"
#include "kserde/error.hpp"
#include "kserde/initializers.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/layers.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  BOOST_REQUIRE(!d.HasParseError());
  return d;
}

const fs::path kGolden = test::golden_dir() / "sharded_weights";
// max_shard_size=2e-5 GB in Keras: 2e-5 * 1024**3 = 21474.8 bytes.
constexpr std::uint64_t kShardBytes = 21474;

}  // namespace

BOOST_AUTO_TEST_SUITE(sharded_save)

BOOST_AUTO_TEST_CASE(index_and_shards_match_the_keras_golden_set) {
  test::TempDir tmp;
  auto model = load_model(kGolden / "model.keras");
  SaveOptions opts;
  opts.max_shard_size = kShardBytes;
  save_weights(*model, tmp / "model.weights.json", opts);

  const std::string ours = slurp(tmp / "model.weights.json");
  const std::string theirs = slurp(kGolden / "sharded" / "model.weights.json");
  const bool same_values = parse(ours) == parse(theirs);
  BOOST_TEST(same_values);
  BOOST_TEST(ours == theirs);  // json.dump(indent=4) byte for byte

  for (const char* shard : {"model_00000.weights.h5", "model_00001.weights.h5",
                            "model_00002.weights.h5"}) {
    BOOST_TEST_CONTEXT(shard) {
      BOOST_REQUIRE(fs::exists(tmp / shard));
      const auto a = test::read_with_libhdf5(tmp / shard);
      const auto b = test::read_with_libhdf5(kGolden / "sharded" / shard);
      std::string paths_a, paths_b;
      for (const auto& [p, o] : a) paths_a += p + (o.is_dataset ? "(d) " : " ");
      for (const auto& [p, o] : b) paths_b += p + (o.is_dataset ? "(d) " : " ");
      BOOST_TEST(paths_a == paths_b);
      for (const auto& [p, o] : b) {
        auto it = a.find(p);
        if (it == a.end()) continue;
        BOOST_TEST_CONTEXT(p) {
          BOOST_TEST((it->second.attributes == o.attributes));
          BOOST_TEST(it->second.type == o.type);
          BOOST_TEST((it->second.shape == o.shape));
          BOOST_TEST((it->second.bytes == o.bytes));
        }
      }
    }
  }
  BOOST_TEST(!fs::exists(tmp / "model_00003.weights.h5"));

  auto again = load_model(kGolden / "model.keras");
  for (const auto& l : again->layers()) {
    for (auto& v : l->variables()) v.value = Tensor(v.value.shape(), v.value.dtype());
  }
  load_weights(*again, tmp / "model.weights.json");
  const Tensor x = io::read_npy(kGolden / "input.npy");
  BOOST_TEST(again->predict(x).bitwise_equal(model->predict(x)));
}

BOOST_AUTO_TEST_CASE(weights_h5_name_becomes_the_index_and_one_variable_maps_to_a_string) {
  test::TempDir tmp;
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({16}));
  m->add(layers::Dense(8, "relu"));
  m->add(layers::Dense(4));
  initialize_weights(*m, 3);
  SaveOptions opts;
  opts.max_shard_size = 16 * 8 * 4;  // the first kernel fills a shard by itself
  save_weights(*m, tmp / "w.weights.h5", opts);
  BOOST_REQUIRE(fs::exists(tmp / "w.weights.json"));
  BOOST_TEST(!fs::exists(tmp / "w.weights.h5"));
  const auto index = parse(slurp(tmp / "w.weights.json"));
  const auto& map = index["weight_map"];
  // dense: kernel in shard 0, bias continues in shard 1 (no `name` there).
  BOOST_TEST(map["/layers/dense/vars"].IsArray());
  BOOST_TEST(map["/layers/dense/vars"].Size() == 2u);
  BOOST_TEST(index["metadata"]["total_size"].IsDouble());
  BOOST_TEST(index["metadata"]["total_size"].GetDouble() == (16 * 8 + 8 + 8 * 4 + 4) * 4.0);
  const auto s1 = test::read_with_libhdf5(tmp / "w_00001.weights.h5");
  BOOST_TEST(s1.at("/layers/dense/vars").attributes.count("name") == 0u);
  BOOST_TEST(s1.count("/layers/dense/vars/1") == 1u);

  auto back = std::make_shared<Sequential>("sequential");
  back->add(layers::Input({16}));
  back->add(layers::Dense(8, "relu"));
  back->add(layers::Dense(4));
  initialize_weights(*back, 99);
  load_weights(*back, tmp / "w.weights.json");
  const Tensor x = test::random_tensor({3, 16}, 1);
  BOOST_TEST(back->predict(x).bitwise_equal(m->predict(x)));
}

BOOST_AUTO_TEST_CASE(a_variable_larger_than_a_shard_and_a_missing_size_are_errors) {
  test::TempDir tmp;
  auto m = load_model(kGolden / "model.keras");
  SaveOptions tiny;
  tiny.max_shard_size = 1000;
  BOOST_CHECK_THROW(save_weights(*m, tmp / "m.weights.json", tiny), ConfigError);
  BOOST_CHECK_THROW(save_weights(*m, tmp / "m.weights.json"), ConfigError);
  BOOST_TEST(!fs::exists(tmp / "m.weights.json"));
}

BOOST_AUTO_TEST_SUITE_END()
