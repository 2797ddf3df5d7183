#include "training/schedules.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "json/config_access.hpp"
#include "kserde/error.hpp"

// Keras's update rules are separate float32 multiplies and adds (NumPy, XLA and torch do not fuse
// them): keep the compiler from contracting them into fused multiply-adds under -march=native.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace kserde::training {

namespace {

// initial_learning_rate * decay_rate ^ (step / decay_steps), floored when staircase.
class ExponentialDecay final : public Schedule {
 public:
  ExponentialDecay(const JsonValue& c, const std::string& where)
      : initial_(static_cast<float>(cfg::get_float(c, "initial_learning_rate", where))),
        decay_steps_(static_cast<float>(cfg::get_float(c, "decay_steps", where))),
        decay_rate_(static_cast<float>(cfg::get_float(c, "decay_rate", where))),
        staircase_(cfg::get_bool(c, "staircase", where, false)) {
    if (!(decay_steps_ > 0)) cfg::fail(where, "ExponentialDecay decay_steps must be > 0");
  }
  float at(std::int64_t step) const override {
    float p = static_cast<float>(step) / decay_steps_;
    if (staircase_) p = std::floor(p);
    return initial_ * std::pow(decay_rate_, p);
  }

 private:
  float initial_, decay_steps_, decay_rate_;
  bool staircase_;
};

// values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i],
// values[-1] after the last boundary.
class PiecewiseConstantDecay final : public Schedule {
 public:
  PiecewiseConstantDecay(const JsonValue& c, const std::string& where) {
    const JsonValue* b = cfg::find(c, "boundaries");
    const JsonValue* v = cfg::find(c, "values");
    if (b == nullptr || v == nullptr || !b->IsArray() || !v->IsArray() ||
        v->Size() != b->Size() + 1 || b->Size() == 0) {
      cfg::fail(where, "PiecewiseConstantDecay needs boundaries and one more values");
    }
    for (const auto& x : b->GetArray()) {
      if (!x.IsNumber()) cfg::fail(where, "PiecewiseConstantDecay boundaries must be numbers");
      boundaries_.push_back(x.GetDouble());
    }
    for (const auto& x : v->GetArray()) {
      if (!x.IsNumber()) cfg::fail(where, "PiecewiseConstantDecay values must be numbers");
      values_.push_back(static_cast<float>(x.GetDouble()));
    }
  }
  float at(std::int64_t step) const override {
    // Boundaries are cast to the step's (integer) dtype, as Keras casts them.
    const auto s = static_cast<double>(step);
    auto bound = [&](std::size_t i) { return std::trunc(boundaries_[i]); };
    if (s <= bound(0)) return values_.front();
    if (s > bound(boundaries_.size() - 1)) return values_.back();
    for (std::size_t i = 0; i + 1 < boundaries_.size(); ++i) {
      if (s > bound(i) && s <= bound(i + 1)) return values_[i + 1];
    }
    return 0.0f;
  }

 private:
  std::vector<double> boundaries_;
  std::vector<float> values_;
};

// Cosine decay from initial_learning_rate (or, after a linear warmup, from warmup_target) to
// alpha times it over decay_steps.
class CosineDecay final : public Schedule {
 public:
  CosineDecay(const JsonValue& c, const std::string& where)
      : initial_(static_cast<float>(cfg::get_float(c, "initial_learning_rate", where))),
        decay_steps_(static_cast<float>(cfg::get_float(c, "decay_steps", where))),
        alpha_(cfg::get_float(c, "alpha", where, 0.0)),
        warmup_target_(cfg::get_optional_float(c, "warmup_target", where)),
        warmup_steps_(static_cast<float>(cfg::get_float(c, "warmup_steps", where, 0.0))) {
    if (!(decay_steps_ > 0)) cfg::fail(where, "CosineDecay decay_steps must be > 0");
  }
  float at(std::int64_t step) const override {
    float s = static_cast<float>(step);
    if (!warmup_target_) return decay(std::min(s, decay_steps_), initial_);
    const auto target = static_cast<float>(*warmup_target_);
    s = std::min(s, decay_steps_ + warmup_steps_);
    if (s < warmup_steps_) {
      return (target - initial_) * (s / warmup_steps_) + initial_;
    }
    return decay(s - warmup_steps_, target);
  }

 private:
  float decay(float step, float from) const {
    const float completed = step / decay_steps_;
    const auto pi = static_cast<float>(std::numbers::pi);
    const float cosine = 0.5f * (1.0f + std::cos(pi * completed));
    const float decayed = static_cast<float>(1.0 - alpha_) * cosine + static_cast<float>(alpha_);
    return from * decayed;
  }
  float initial_, decay_steps_;
  double alpha_;
  std::optional<double> warmup_target_;
  float warmup_steps_;
};

}  // namespace

std::unique_ptr<Schedule> make_schedule(const JsonValue& d, const std::string& where) {
  const std::string cls = cfg::get_string(d, "class_name", where + " learning_rate");
  const JsonValue* c = cfg::find(d, "config");
  if (c == nullptr || !c->IsObject()) cfg::fail(where, "learning-rate schedule has no config");
  const std::string at = where + " " + cls;
  if (cls == "ExponentialDecay") return std::make_unique<ExponentialDecay>(*c, at);
  if (cls == "PiecewiseConstantDecay") return std::make_unique<PiecewiseConstantDecay>(*c, at);
  if (cls == "CosineDecay") return std::make_unique<CosineDecay>(*c, at);
  throw UnsupportedError(where + ": learning-rate schedule '" + cls +
                         "' is not implemented (ExponentialDecay, PiecewiseConstantDecay, "
                         "CosineDecay are)");
}

}  // namespace kserde::training
