// Truncated files: a .keras, .h5, .weights.h5 or .npy file cut at many byte offsets gives a
// kserde::Error (or, for a cut that leaves a complete file, a result), never a crash, another
// exception type or a hang.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>

#include "hardening_support.hpp"
#include "kserde/error.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/saving.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

// About `count` cut points: every byte of the first 64, then evenly spaced, then the last 64.
std::vector<std::size_t> cut_points(std::size_t size, std::size_t count) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i < std::min<std::size_t>(64, size); ++i) cuts.push_back(i);
  const std::size_t step = std::max<std::size_t>(1, size / count);
  for (std::size_t i = 64; i < size; i += step) cuts.push_back(i);
  for (std::size_t i = size > 64 ? size - 64 : 0; i < size; ++i) cuts.push_back(i);
  return cuts;
}

// Runs `load` on every truncation of `file`; counts errors and fails on anything else.
template <class Load>
void walk_cuts(const fs::path& file, const std::string& ext, std::size_t count, Load load) {
  test::TempDir tmp;
  const std::string bytes = test::read_bytes(file);
  std::size_t errors = 0;
  std::size_t loaded = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t cut : cut_points(bytes.size(), count)) {
    const fs::path p = tmp / ("cut" + ext);
    test::write_bytes(p, bytes.substr(0, cut));
    try {
      load(p);
      ++loaded;
    } catch (const Error&) {
      ++errors;
    } catch (const std::exception& e) {
      BOOST_ERROR(file.filename().string() << " cut at " << cut << ": not a kserde::Error: " << e.what());
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST_MESSAGE(file << ": " << errors << " errors, " << loaded << " loaded, " << s << " s");
  BOOST_TEST(errors > 0u);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(truncation)

BOOST_AUTO_TEST_CASE(keras_archives_cut_anywhere_give_errors) {
  for (const char* name : {"mlp", "cnn", "functional", "embedding"}) {
    walk_cuts(test::golden_dir() / name / "model.keras", ".keras", 300,
              [](const fs::path& p) { (void)load_model(p); });
  }
}

BOOST_AUTO_TEST_CASE(weights_h5_cut_anywhere_gives_errors) {
  auto model = load_model(test::golden_dir() / "mlp" / "model.keras");
  walk_cuts(test::golden_dir() / "mlp" / "model.weights.h5", ".weights.h5", 400,
            [&](const fs::path& p) { load_weights(*model, p); });
}

BOOST_AUTO_TEST_CASE(legacy_h5_cut_anywhere_gives_errors) {
  // Without the legacy_h5 plugin loaded, load_model of a .h5 is itself an error; with it (the
  // plugin is found on KSERDE_PLUGIN_PATH), every cut must be one too.
  walk_cuts(test::golden_dir() / "mlp" / "model.h5", ".h5", 200,
            [](const fs::path& p) { (void)load_model(p); });
}

BOOST_AUTO_TEST_CASE(npy_cut_anywhere_gives_errors) {
  for (const char* name : {"mlp/input.npy", "embedding/input.npy", "functional/input_0.npy"}) {
    walk_cuts(test::golden_dir() / name, ".npy", 300, [](const fs::path& p) { (void)io::read_npy(p); });
  }
}

BOOST_AUTO_TEST_CASE(the_cli_reports_truncated_files_in_one_line) {
  test::TempDir tmp;
  const std::string bytes = test::read_bytes(test::golden_dir() / "mlp" / "model.keras");
  const std::string input = (test::golden_dir() / "mlp" / "input.npy").string();
  for (std::size_t cut : {std::size_t{0}, std::size_t{10}, std::size_t{100}, bytes.size() / 3,
                          bytes.size() / 2, bytes.size() - 30, bytes.size() - 1}) {
    const fs::path p = tmp / "cut.keras";
    test::write_bytes(p, bytes.substr(0, cut));
    for (const bool predict : {false, true}) {
      std::vector<std::string> argv{KSERDE_CLI, predict ? "predict" : "inspect", p.string()};
      if (predict) {
        for (const std::string& a : {std::string("--input"), input, std::string("--output"),
                                     (tmp / "y.npy").string()}) {
          argv.push_back(a);
        }
      }
      const auto r = test::run_child(argv, tmp.path(), std::chrono::seconds(60));
      BOOST_TEST(!r.timed_out, "cut " << cut);
      BOOST_TEST(r.status == 1, "cut " << cut << ": status " << r.status << " " << r.err);
      BOOST_TEST(test::count_lines(r.err) == 1u, "cut " << cut << ": " << r.err);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
