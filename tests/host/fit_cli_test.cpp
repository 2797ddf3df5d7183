// `kserde fit`: plain per-epoch lines when not on a terminal, a saved training checkpoint, and
// --resume in a fresh process continuing bitwise as if training had not stopped.
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>

#include "kserde/initializers.hpp"
#include "kserde/io/mapped_file.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/layers.hpp"
#include "kserde/saving.hpp"
#include "kserde/training.hpp"
#include "test_support.hpp"

using namespace kserde;
namespace fs = std::filesystem;

namespace {

struct Result {
  int status = -1;
  std::string out, err;
};

// Runs a shell command line, capturing its output.
Result kserde_cli_raw(const std::string& command, const test::TempDir& tmp) {
  const fs::path out = tmp / "fit_stdout.txt";
  const fs::path err = tmp / "fit_stderr.txt";
  const std::string cmd = command + " >" + out.string() + " 2>" + err.string();
  const int raw = std::system(cmd.c_str());
  Result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = io::read_text_file(out, 1 << 20);
  r.err = io::read_text_file(err, 1 << 20);
  return r;
}

Result kserde_cli(const std::string& args, const test::TempDir& tmp) {
  // Appended rather than concatenated: GCC 12 reports a false -Warray-bounds on
  // std::string(literal) + " " for some lengths of the literal (the build path).
  std::string command = KSERDE_CLI;
  command += ' ';
  command += args;
  return kserde_cli_raw(command, tmp);
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// A compiled classifier with Dropout saved as start.keras, and 80 samples of data.
void prepare(const test::TempDir& tmp) {
  auto m = std::make_shared<Sequential>("sequential");
  m->add(layers::Input({5}));
  m->add(layers::Dense(12, "relu"));
  m->add(layers::Dropout(0.2));
  m->add(layers::Dense(3, "softmax"));
  initialize_weights(*m, 3);
  compile(*m, "adam", "sparse_categorical_crossentropy", {"accuracy"});
  save_model(*m, tmp / "start.keras");
  Tensor x = test::random_tensor({80, 5}, 1);
  Tensor y({80}, DType::Int32);
  for (std::int64_t r = 0; r < 80; ++r) {
    y.mutable_values<std::int32_t>()[r] = x.f32()[r * 5] > 0 ? (x.f32()[r * 5 + 1] > 0 ? 2 : 1) : 0;
  }
  io::write_npy(tmp / "x.npy", x);
  io::write_npy(tmp / "y.npy", y);
}

void same_state(Model& a, Model& b) {
  const auto va = trainable_variables(a);
  const auto vb = trainable_variables(b);
  BOOST_TEST_REQUIRE(va.size() == vb.size());
  for (std::size_t i = 0; i < va.size(); ++i) BOOST_TEST(va[i]->value.bitwise_equal(vb[i]->value));
  const auto& oa = a.optimizer()->variables;
  const auto& ob = b.optimizer()->variables;
  BOOST_TEST_REQUIRE(oa.size() == ob.size());
  for (std::size_t i = 0; i < oa.size(); ++i) BOOST_TEST(oa[i].value.bitwise_equal(ob[i].value), i);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_fit)

BOOST_AUTO_TEST_CASE(fit_prints_a_line_per_epoch_and_resume_continues_bitwise) {
  test::TempDir tmp;
  prepare(tmp);
  const std::string data = " --input " + (tmp / "x.npy").string() + " --target " +
                           (tmp / "y.npy").string() + " --batch-size 16 --seed 4";
  Result three = kserde_cli("fit " + (tmp / "start.keras").string() + data +
                                " --epochs 3 --output " + (tmp / "three.keras").string(),
                            tmp);
  BOOST_TEST_REQUIRE(three.status == 0, three.err);
  BOOST_TEST(count(three.out, "Epoch ") == 3u, three.out);
  BOOST_TEST(three.out.find("Epoch 3/3: 5 steps - loss: ") != std::string::npos, three.out);
  BOOST_TEST(count(three.out, "accuracy: ") == 3u);
  BOOST_TEST(count(three.out, "steps/s") == 3u);
  BOOST_TEST(three.out.find('\r') == std::string::npos);  // no progress bar off a terminal

  Result one = kserde_cli("fit " + (tmp / "start.keras").string() + data + " --epochs 1 --output " +
                              (tmp / "one.keras").string(),
                          tmp);
  BOOST_TEST_REQUIRE(one.status == 0, one.err);
  Result more = kserde_cli("fit " + (tmp / "one.keras").string() + data +
                               " --resume --epochs 2 --output " + (tmp / "resumed.keras").string(),
                           tmp);
  BOOST_TEST_REQUIRE(more.status == 0, more.err);
  BOOST_TEST(more.out.find("Epoch 2/3") != std::string::npos, more.out);
  BOOST_TEST(more.out.find("Epoch 3/3") != std::string::npos, more.out);
  auto a = load_model(tmp / "three.keras");
  auto b = load_model(tmp / "resumed.keras");
  BOOST_TEST(optimizer_iterations(*a->optimizer()) == 15);
  same_state(*a, *b);

  // Without --resume the optimizer starts afresh: the counter restarts and the result differs.
  Result fresh = kserde_cli("fit " + (tmp / "one.keras").string() + data + " --epochs 2 --output " +
                                (tmp / "fresh.keras").string(),
                            tmp);
  BOOST_TEST_REQUIRE(fresh.status == 0, fresh.err);
  auto c = load_model(tmp / "fresh.keras");
  BOOST_TEST(optimizer_iterations(*c->optimizer()) == 10);
  BOOST_TEST(!trainable_variables(*c)[0]->value.bitwise_equal(trainable_variables(*a)[0]->value));
}

BOOST_AUTO_TEST_CASE(fit_draws_a_progress_bar_on_a_terminal) {
  test::TempDir tmp;
  prepare(tmp);
  // util-linux `script` runs the command on a pseudo-terminal.
  const std::string inner = std::string(KSERDE_CLI) + " fit " + (tmp / "start.keras").string() +
                            " --input " + (tmp / "x.npy").string() + " --target " +
                            (tmp / "y.npy").string() + " --epochs 2 --batch-size 16 --output " +
                            (tmp / "tty.keras").string();
  Result r = kserde_cli_raw("script -qec '" + inner + "' /dev/null", tmp);
  BOOST_TEST_REQUIRE(r.status == 0, r.out << r.err);
  BOOST_TEST(r.out.find('\r') != std::string::npos);
  BOOST_TEST(r.out.find("5/5 [==============================]") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("Epoch 2/2") != std::string::npos);
  BOOST_TEST(count(r.out, "steps/s") >= 2u);
}

BOOST_AUTO_TEST_CASE(fit_mistakes) {
  test::TempDir tmp;
  prepare(tmp);
  const std::string data =
      " --input " + (tmp / "x.npy").string() + " --target " + (tmp / "y.npy").string();
  Result no_output = kserde_cli("fit " + (tmp / "start.keras").string() + data, tmp);
  BOOST_TEST(no_output.status == 2);
  Result bad_epochs = kserde_cli(
      "fit " + (tmp / "start.keras").string() + data + " --epochs -1 --output o.keras", tmp);
  BOOST_TEST(bad_epochs.status == 2);
  // A file saved without compile() (golden/embedding) cannot be trained: one error line, status 1.
  Result plain = kserde_cli("fit " + (test::golden_dir() / "embedding" / "model.keras").string() +
                                data + " --output " + (tmp / "o.keras").string(),
                            tmp);
  BOOST_TEST(plain.status == 1);
  BOOST_TEST(count(plain.err, "\n") == 1u, plain.err);
  BOOST_TEST(plain.err.find("compile") != std::string::npos, plain.err);
  // Data that does not fit the model (5 features for trained_adam's 8): one error line, status 1.
  Result wrong =
      kserde_cli("fit " + (test::golden_dir() / "trained_adam" / "model.keras").string() + data +
                     " --output " + (tmp / "o.keras").string(),
                 tmp);
  BOOST_TEST(wrong.status == 1);
  BOOST_TEST(count(wrong.err, "\n") == 1u, wrong.err);
  BOOST_TEST(!fs::exists(tmp / "o.keras"));
}

BOOST_AUTO_TEST_SUITE_END()
