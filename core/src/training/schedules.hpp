// Internal: Keras learning-rate schedules (keras/src/optimizers/schedules) as an optimizer config
// serializes them: {"module": "keras.optimizers.schedules", "class_name": ..., "config": ...}.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kserde/json.hpp"

namespace kserde::training {

class Schedule {
 public:
  virtual ~Schedule() = default;
  // The learning rate at optimizer step `step` (the iteration counter before the update),
  // computed in float32 as Keras does.
  virtual float at(std::int64_t step) const = 0;
};

// ExponentialDecay, PiecewiseConstantDecay, CosineDecay; UnsupportedError naming others.
std::unique_ptr<Schedule> make_schedule(const JsonValue& object_dict, const std::string& where);

}  // namespace kserde::training
