// Replays every input the fuzzers ever crashed on (tests/hardening/regressions/<target>/,
// minimized) through the same API as the fuzz target, in the ordinary build: each must end in a
// kserde::Error or a result, never a crash or another exception.
#include <boost/test/unit_test.hpp>
#include <functional>
#include <map>
#include <span>

#include "hardening_support.hpp"
#include "kserde/error.hpp"
#include "kserde/io/archive.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(fuzz_regressions)

BOOST_AUTO_TEST_CASE(every_checked_in_crash_input_is_now_an_error) {
  test::TempDir tmp;
  LoadOptions small;
  small.max_weight_bytes = 256u << 20;
  // As in the fuzz targets: mutated members would otherwise stop at their CRC-32.
  small.verify_checksums = false;
  const std::map<std::string, std::function<void(const std::string&)>> targets = {
      {"archive_reader_fuzz",
       [&](const std::string& b) {
         test::write_bytes(tmp / "r.keras", b);
         const auto a = io::ArchiveReader::open(tmp / "r.keras");
         for (const auto& m : a.members()) (void)a.member(m.name);
       }},
      {"keras_load_fuzz",
       [&](const std::string& b) {
         test::write_bytes(tmp / "r.keras", b);
         (void)to_json(*load_model(tmp / "r.keras", small));
       }},
      {"config_json_fuzz",
       [&](const std::string& b) { (void)to_json(*model_from_json(b, small)); }},
      {"npy_fuzz",
       [&](const std::string& b) {
         (void)io::parse_npy(std::as_bytes(std::span(b.data(), b.size())), "r.npy");
       }},
      {"weights_h5_fuzz",
       [&](const std::string& b) {
         auto m = load_model(test::golden_dir() / "mlp" / "model.keras");
         test::write_bytes(tmp / "r.weights.h5", b);
         load_weights(*m, tmp / "r.weights.h5", small);
       }},
      {"sharded_index_fuzz",
       [&](const std::string& b) {
         const fs::path dir = test::golden_dir() / "sharded_weights";
         for (const auto& e : fs::directory_iterator(dir / "sharded")) {
           if (e.path().extension() == ".h5") {
             fs::copy_file(e.path(), tmp / e.path().filename(),
                           fs::copy_options::overwrite_existing);
           }
         }
         auto m = load_model(dir / "model.keras");
         test::write_bytes(tmp / "model.weights.json", b);
         load_weights(*m, tmp / "model.weights.json", small);
       }},
      {"hdf5_reader_fuzz",
       [&](const std::string& b) {
         auto m = load_model(test::golden_dir() / "mlp" / "model.keras");
         test::write_bytes(tmp / "r.weights.h5", b);
         load_weights(*m, tmp / "r.weights.h5", small);
       }},
  };
  const fs::path root = test::data_dir() / "hardening" / "regressions";
  BOOST_TEST(fs::is_directory(root));
  std::size_t replayed = 0;
  for (const auto& [target, run] : targets) {
    if (!fs::is_directory(root / target)) continue;
    for (const auto& e : fs::directory_iterator(root / target)) {
      if (!e.is_regular_file() || e.path().extension() == ".md") continue;
      ++replayed;
      try {
        run(test::read_bytes(e.path()));
      } catch (const Error&) {
      } catch (const std::exception& ex) {
        BOOST_ERROR(e.path() << ": not a kserde::Error: " << ex.what());
      }
    }
  }
  BOOST_TEST_MESSAGE(replayed << " regression inputs replayed");
}

BOOST_AUTO_TEST_SUITE_END()
