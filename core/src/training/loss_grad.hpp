// Internal: gradients of Keras's losses (the ones evaluate() computes, same formulas).
#pragma once

#include <vector>

#include "kserde/json.hpp"
#include "kserde/tensor.hpp"

namespace kserde::training {

// d/d y_pred of mean over samples of loss_per_sample(loss, y_true, y_pred), one value per element
// of y_pred (float64 arithmetic). UnsupportedError for losses without a gradient here.
std::vector<double> loss_gradient(const JsonValue& loss, const Tensor& y_true,
                                  const Tensor& y_pred);

}  // namespace kserde::training
