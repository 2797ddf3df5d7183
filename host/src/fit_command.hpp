// `kserde fit`: trains a compiled model file on .npy data and saves the result (fit_command.cpp).
#pragma once

#include <string>
#include <vector>

namespace kserde::cli {

// Takes the arguments after "fit": its own options (--epochs, --resume, --seed, --no-shuffle,
// --validation-input, --validation-target) and the common ones (parsed by cli::parse).
int run_fit(const std::vector<std::string>& argv);

}  // namespace kserde::cli
