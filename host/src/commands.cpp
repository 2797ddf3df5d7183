#include <iostream>

#include "cli.hpp"
#include "kserde/error.hpp"
#include "kserde/io/npy.hpp"
#include "kserde/saving.hpp"
#include "kserde/serializer.hpp"
#include "kserde/summary.hpp"

namespace kserde::cli {

namespace {

void expect_positional(const Args& a, std::size_t n, const char* what) {
  if (a.positional.size() != n) throw UsageError{std::string("expected ") + what};
}

std::filesystem::path indexed_output(const std::filesystem::path& out, std::size_t i) {
  return out.parent_path() / (out.stem().string() + "_" + std::to_string(i) + out.extension().string());
}

}  // namespace

int run_inspect(const Args& a) {
  expect_positional(a, 1, "inspect MODEL");
  auto model = load_model(a.positional[0], load_options(a, true));
  std::cout << (a.json ? summary_json(*model) + "\n" : summary(*model));
  return 0;
}

int run_predict(const Args& a) {
  expect_positional(a, 1, "predict MODEL --input X.npy --output Y.npy");
  if (a.inputs.empty()) throw UsageError{"predict needs at least one --input"};
  if (a.output.empty()) throw UsageError{"predict needs --output"};
  auto model = load_model(a.positional[0], load_options(a, true));
  std::vector<Tensor> inputs;
  for (const std::string& in : a.inputs) inputs.push_back(io::read_npy(in));
  auto outputs = model->predict(inputs, a.batch_size);
  if (outputs.size() == 1) {
    io::write_npy(a.output, outputs[0]);
  } else {
    for (std::size_t i = 0; i < outputs.size(); ++i) io::write_npy(indexed_output(a.output, i), outputs[i]);
  }
  return 0;
}

int run_convert(const Args& a) {
  expect_positional(a, 2, "convert IN OUT");
  const std::filesystem::path in = a.positional[0];
  const std::filesystem::path out = a.positional[1];
  SerializerPtr target = serializer_for_save(out);
  SerializerPtr source = serializer_for_load(in);
  if (source->weights_only()) {
    throw UnsupportedError(in.string() + ": holds weights only; convert from a file that holds "
                                         "the architecture (.keras, a model directory, .h5)");
  }
  auto model = source->load(in, load_options(a, true));
  save_model(*model, out);
  return 0;
}

int run_plugins(const Args&) {
  throw UnsupportedError("plugin support is not built into this kserde yet");
}

}  // namespace kserde::cli
