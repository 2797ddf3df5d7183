// `kserde fit MODEL --input X.npy --target Y.npy --epochs E --batch-size B --output OUT.keras`
// [--resume] [--seed S] [--no-shuffle] [--validation-input VX.npy --validation-target VY.npy].
//
// Without --resume the optimizer starts fresh (its saved state is dropped, as compiling again
// does); with --resume it continues from the file's state: the iteration counter, the slots, the
// schedule's position and the shuffle order all carry on, and epochs are numbered from where the
// saved training stopped. On a terminal each epoch shows a progress bar (loss, metrics, steps/s);
// otherwise one plain line per epoch.
#include "fit_command.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "kserde/error.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/saving.hpp"
#include "kserde/training.hpp"

namespace kserde::cli {

namespace {

struct FitArgs {
  int epochs = 1;
  bool resume = false;
  bool shuffle = true;
  std::uint64_t seed = 0;
  std::vector<std::string> validation_inputs, validation_targets;
};

std::int64_t to_int(const std::string& option, const std::string& v, std::int64_t min) {
  char* end = nullptr;
  const long long n = std::strtoll(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != '\0' || n < min) {
    throw UsageError{option + " needs an integer >= " + std::to_string(min)};
  }
  return n;
}

std::string format_logs(const EvaluateResult& logs) {
  std::ostringstream o;
  for (const auto& [name, value] : logs)
    o << " - " << name << ": " << std::setprecision(4) << value;
  return o.str();
}

}  // namespace

int run_fit(const std::vector<std::string>& argv) {
  FitArgs f;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& s = argv[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= argv.size()) throw UsageError{s + " needs a value"};
      return argv[++i];
    };
    if (s == "--epochs") {
      f.epochs = static_cast<int>(to_int(s, value(), 0));
    } else if (s == "--seed") {
      f.seed = static_cast<std::uint64_t>(to_int(s, value(), 0));
    } else if (s == "--resume") {
      f.resume = true;
    } else if (s == "--no-shuffle") {
      f.shuffle = false;
    } else if (s == "--validation-input") {
      f.validation_inputs.push_back(value());
    } else if (s == "--validation-target") {
      f.validation_targets.push_back(value());
    } else {
      rest.push_back(s);
    }
  }
  const Args a = parse(rest);
  if (a.positional.size() != 1) throw UsageError{"expected fit MODEL --input X.npy --target Y.npy"};
  if (a.inputs.empty() || a.targets.empty()) throw UsageError{"fit needs --input and --target"};
  if (a.output.empty()) throw UsageError{"fit needs --output OUT.keras"};
  if (f.validation_inputs.empty() != f.validation_targets.empty()) {
    throw UsageError{"--validation-input and --validation-target go together"};
  }
  auto model = load_model(a.positional[0], load_options(a, false));
  if (!model->is_compiled() || !model->optimizer()) {
    throw ConfigError(a.positional[0] +
                      ": holds no compiled model with an optimizer; save it after compile()");
  }
  if (!f.resume) model->optimizer()->variables.clear();
  TensorList x, y;
  for (const std::string& p : a.inputs) x.push_back(io::read_npy(p));
  for (const std::string& p : a.targets) y.push_back(io::read_npy(p));
  FitOptions options;
  options.epochs = f.epochs;
  options.batch_size = a.batch_size;
  options.shuffle = f.shuffle;
  options.seed = f.seed;
  if (!f.validation_inputs.empty()) {
    TensorList vx, vy;
    for (const std::string& p : f.validation_inputs) vx.push_back(io::read_npy(p));
    for (const std::string& p : f.validation_targets) vy.push_back(io::read_npy(p));
    options.validation = std::make_pair(vx, vy);
  }
  const std::int64_t rows = x.at(0).rank() > 0 ? x[0].dim(0) : 0;
  const std::int64_t steps = rows > 0 ? (rows + a.batch_size - 1) / a.batch_size : 1;
  const std::int64_t first_epoch = optimizer_iterations(*model->optimizer()) / steps;
  const int total_epochs = static_cast<int>(first_epoch) + f.epochs;
  const bool tty = isatty(STDOUT_FILENO) != 0;
  using Clock = std::chrono::steady_clock;
  Clock::time_point start = Clock::now();
  Clock::time_point last_draw{};
  auto rate = [&](std::int64_t done) {
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    return s > 0 ? static_cast<double>(done) / s : 0.0;
  };
  options.on_batch_end = [&](int epoch, std::int64_t batch, std::int64_t batches,
                             const EvaluateResult& logs) {
    if (!tty) return;
    // Redrawn at most every 50 ms (a small model runs thousands of steps a second).
    const Clock::time_point now = Clock::now();
    if (batch + 1 < batches && now - last_draw < std::chrono::milliseconds(50)) return;
    last_draw = now;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * (batch + 1) / batches);
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < kWidth)
      bar += '>' + std::string(static_cast<std::size_t>(kWidth - filled - 1), '.');
    std::cout << "\rEpoch " << (first_epoch + epoch + 1) << "/" << total_epochs << " "
              << (batch + 1) << "/" << batches << " [" << bar << "]" << format_logs(logs) << " - "
              << std::fixed << std::setprecision(1) << rate(batch + 1) << " steps/s"
              << std::defaultfloat << "\033[K" << std::flush;
  };
  options.on_epoch_end = [&](int epoch, const EvaluateResult& logs) {
    const double r = rate(steps);
    if (tty) {
      std::cout << "\rEpoch " << (first_epoch + epoch + 1) << "/" << total_epochs << " " << steps
                << "/" << steps << format_logs(logs) << " - " << std::fixed << std::setprecision(1)
                << r << " steps/s" << std::defaultfloat << "\033[K\n";
    } else {
      std::cout << "Epoch " << (first_epoch + epoch + 1) << "/" << total_epochs << ": " << steps
                << " steps" << format_logs(logs) << " - " << std::fixed << std::setprecision(1) << r
                << " steps/s" << std::defaultfloat << "\n";
    }
    std::cout << std::flush;
    start = Clock::now();
  };
  fit(*model, x, y, options);
  save_model(*model, a.output);
  std::cout << "saved " << a.output
            << " (optimizer iterations: " << optimizer_iterations(*model->optimizer()) << ")\n";
  return 0;
}

}  // namespace kserde::cli
