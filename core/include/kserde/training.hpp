// Training: Keras's optimizers (exact update rules and variable layout), backpropagation and
// model.fit(), so that a .keras file is a checkpoint training resumes from.
//
// Optimizer state lives in Model::optimizer() in the layout Keras saves (optimizer/vars/0 the
// iteration counter, vars/1 the learning rate unless it is a schedule, then the slots of each
// trainable variable, as each Keras optimizer creates them). A loaded file's state is used as is;
// a model compiled without state gets fresh slots on its first step.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kserde/evaluate.hpp"
#include "kserde/model.hpp"

namespace kserde {

// ---- optimizers

// Keras's model.trainable_variables: the trainable variables of every trainable layer, in the
// order the saving traversal visits layers (the order optimizer slots follow).
std::vector<Variable*> trainable_variables(Model& model);

// The full Keras object dict of a built-in optimizer ("sgd", "adam", "adamw", "rmsprop",
// "adagrad", any case) with Keras's defaults and `learning_rate` when given; `json` may instead be
// a complete object dict ({"class_name": "Adam", "config": {...}}), returned parsed.
std::shared_ptr<JsonDocument> optimizer_object_dict(std::string_view name_or_json,
                                                    std::optional<double> learning_rate = {});

// model.compile(optimizer, loss, metrics): sets the compile_config Keras writes and an optimizer
// without state. `loss` and each metric are Keras identifiers ("mse", "accuracy", ...).
void compile(Model& model, std::string_view optimizer, std::string_view loss,
             const std::vector<std::string>& metrics = {});

// optimizer.apply(grads, variables): one update of `variables` (in trainable order, each with its
// gradient in `grads`) with the optimizer's rule, clipping, weight decay and learning rate or
// schedule, then iterations += 1. Builds the slots on the first call when the optimizer has no
// variables. ConfigError when existing state does not match the variables (count or shapes);
// UnsupportedError for optimizer classes or options kserde does not implement.
void apply_gradients(Optimizer& optimizer, const std::vector<Variable*>& variables,
                     const TensorList& grads);

// The iteration counter (optimizer/vars/0); 0 for an optimizer without state.
std::int64_t optimizer_iterations(const Optimizer& optimizer);
// The learning rate the next update uses (the variable, or the schedule at the current step).
double current_learning_rate(const Optimizer& optimizer);

// ---- backpropagation

// Layer classes in `model` (any depth) that have no backward pass; fit refuses such models.
std::vector<std::string> layers_without_backprop(Model& model);

struct Gradients {
  double loss = 0;     // the compiled loss on this batch (weighted sum over outputs)
  TensorList outputs;  // the training-mode forward pass's outputs
  TensorList grads;    // d loss / d variable, in trainable_variables() order
};

// One training-mode forward and backward pass of the compiled loss on a batch. `step` and `seed`
// choose Dropout masks. Refuses (UnsupportedError naming them) layers without a backward pass.
Gradients compute_gradients(Model& model, const TensorList& x, const TensorList& y,
                            std::uint64_t seed = 0, std::int64_t step = 0);

// ---- fit

struct FitOptions {
  int epochs = 1;
  std::int64_t batch_size = 32;
  bool shuffle = true;
  // Seeds each epoch's shuffle and Dropout masks, together with the optimizer's iteration counter:
  // training resumed from a saved file continues exactly as if it had not stopped.
  std::uint64_t seed = 0;
  // Validation data evaluated after each epoch (as Keras's validation_data).
  std::optional<std::pair<TensorList, TensorList>> validation;
  // Called after each batch with (batch index, batches per epoch, running logs) and after each
  // epoch with its final logs (training, then "val_" entries).
  std::function<void(int epoch, std::int64_t batch, std::int64_t batches, const EvaluateResult&)>
      on_batch_end;
  std::function<void(int epoch, const EvaluateResult&)> on_epoch_end;
};

// Keras's History.history: one list of per-epoch values per name.
struct History {
  std::vector<std::string> names;
  std::vector<std::vector<double>> values;
  const std::vector<double>& operator[](std::string_view name) const;
};

// model.fit(x, y, ...): needs a compiled model whose layers all have backward passes.
History fit(Model& model, const TensorList& x, const TensorList& y, const FitOptions& options = {});

}  // namespace kserde
