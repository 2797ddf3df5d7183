// `kserde predict`: inputs larger than one batch are streamed. Each batch of rows is read from the
// mapped .npy files, predicted and appended to the output files, and the input pages it used are
// dropped, so the peak memory is the model plus one batch, whatever the number of rows.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "cli.hpp"
#include "kserde/error.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/saving.hpp"

namespace kserde::cli {

namespace {

std::filesystem::path indexed_output(const std::filesystem::path& out, std::size_t i) {
  return out.parent_path() /
         (out.stem().string() + "_" + std::to_string(i) + out.extension().string());
}

std::filesystem::path output_path(const Args& a, std::size_t i, std::size_t count) {
  return count == 1 ? std::filesystem::path(a.output) : indexed_output(a.output, i);
}

std::string fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A progress bar on stderr, shown only when stderr is a terminal and the run has lasted a second
// (short runs and scripts see nothing), redrawn at most ten times a second.
class ProgressBar {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ProgressBar(std::int64_t total)
      : total_(total), start_(Clock::now()), enabled_(::isatty(STDERR_FILENO) == 1) {}
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() {
    if (shown_) std::cerr << '\n' << std::flush;  // errors printed after this start a fresh line
  }

  void update(std::int64_t done) {
    if (!enabled_) return;
    const Clock::time_point now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    if (elapsed < 1.0) return;
    if (shown_ && done < total_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    shown_ = true;
    std::cerr << '\r' << line(done, elapsed) << std::flush;
  }

 private:
  std::string line(std::int64_t done, double elapsed) const {
    constexpr int kWidth = 30;
    const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
    const int filled = static_cast<int>(frac * kWidth);
    std::string s = "predict [" + std::string(static_cast<std::size_t>(filled), '#') +
                    std::string(static_cast<std::size_t>(kWidth - filled), '.') + "] " +
                    std::to_string(done) + "/" + std::to_string(total_) + " rows, " +
                    fixed1(elapsed) + " s";
    if (done > 0 && done < total_) s += ", " + fixed1(elapsed / frac - elapsed) + " s left";
    return s + "   ";
  }

  std::int64_t total_;
  Clock::time_point start_;
  Clock::time_point last_{};
  bool enabled_;
  bool shown_ = false;
};

// Gives the allocator's free memory back to the system: what loading parsed and copied is not
// needed again by a one-shot run.
void return_free_memory() {
  release_cached_buffers();
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
}

}  // namespace

int run_predict(const Args& a) {
  if (a.positional.size() != 1)
    throw UsageError{"expected predict MODEL --input X.npy --output Y.npy"};
  if (a.inputs.empty()) throw UsageError{"predict needs at least one --input"};
  if (a.output.empty()) throw UsageError{"predict needs --output"};
  auto model = load_model(a.positional[0], load_options(a, true));
  return_free_memory();

  std::vector<std::unique_ptr<io::NpyReader>> readers;
  for (const std::string& in : a.inputs) readers.push_back(std::make_unique<io::NpyReader>(in));
  std::int64_t rows = readers[0]->rows();
  bool same_rows = true;
  for (const auto& r : readers) same_rows = same_rows && r->rows() == rows && r->shape().size() > 0;

  if (!same_rows || rows <= a.batch_size) {
    // One batch (or inputs predict() should reject with its own message): predicted whole.
    TensorList inputs;
    for (const auto& r : readers) inputs.push_back(r->rows(0, r->rows()));
    const TensorList outputs = model->predict(inputs, a.batch_size);
    for (std::size_t i = 0; i < outputs.size(); ++i)
      io::write_npy(output_path(a, i, outputs.size()), outputs[i]);
    return 0;
  }

  // Streamed: one batch at a time through the same buffers; the output files are written as the
  // batches come and appear (atomically) once all rows are in.
  std::vector<std::unique_ptr<io::NpyWriter>> writers;
  ProgressBar progress(rows);
  TensorList batch;
  for (std::int64_t begin = 0; begin < rows; begin += a.batch_size) {
    const std::int64_t end = std::min(rows, begin + a.batch_size);
    batch.clear();
    for (const auto& r : readers) batch.push_back(r->rows(begin, end));
    TensorList outputs = model->predict(batch, a.batch_size);
    if (writers.empty()) {
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        if (outputs[i].rank() == 0 || outputs[i].dim(0) != end - begin) {
          throw ShapeError(model->describe() + ": output " + std::to_string(i) + " of shape " +
                           shape_to_string(outputs[i].shape()) +
                           " has no batch axis; predict with --batch-size " + std::to_string(rows) +
                           " or more");
        }
        Shape shape = outputs[i].shape();
        shape[0] = rows;
        writers.push_back(std::make_unique<io::NpyWriter>(output_path(a, i, outputs.size()),
                                                          std::move(shape), outputs[i].dtype()));
      }
    }
    for (std::size_t i = 0; i < outputs.size() && i < writers.size(); ++i)
      writers[i]->write_rows(outputs[i]);
    batch.clear();
    for (const auto& r : readers) r->release(begin, end);
    progress.update(end);
  }
  for (const auto& w : writers) w->commit();
  return 0;
}

}  // namespace kserde::cli
