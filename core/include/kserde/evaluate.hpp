// model.evaluate(): the loss and metrics a model was compiled with (its compile_config), computed
// on inputs and targets as Keras computes them (mean over samples; "accuracy" resolved to binary,
// categorical or sparse categorical accuracy from the shapes, as Keras does).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kserde/model.hpp"

namespace kserde {

// Named results in Keras's order: "loss" first, then each metric under the name Keras reports.
using EvaluateResult = std::vector<std::pair<std::string, double>>;

// Needs a compiled model (ConfigError otherwise) with a single output or a list of losses matching
// its outputs; UnsupportedError names a loss or metric kserde does not implement.
EvaluateResult evaluate(Model& model, const TensorList& inputs, const TensorList& targets,
                        std::int64_t batch_size = 32);

// The same results for predictions already computed (fit reports its training-mode outputs).
EvaluateResult evaluate_predictions(const Model& model, const TensorList& targets,
                                    const TensorList& predictions);

// The compiled loss of output `output` (null when it has none) and its loss_weights entry (1).
const JsonValue* compiled_loss(const Model& model, std::size_t output);
double compiled_loss_weight(const Model& model, std::size_t output);

// Per-sample values of a Keras loss ("mse", "sparse_categorical_crossentropy", a keras.losses
// object dict, ...): one value per row of y_pred.
std::vector<double> loss_per_sample(const JsonValue& loss, const Tensor& y_true,
                                    const Tensor& y_pred);

}  // namespace kserde
