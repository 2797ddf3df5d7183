// Keras's optimizers (keras/src/optimizers): SGD, Adam, AdamW, RMSprop and Adagrad with the update
// equations, constant placement (float32 arithmetic, Python constants such as 1 - beta_1 rounded
// to float32 once) and variable layout Keras uses, the base optimizer's gradient clipping and
// weight decay, and learning-rate schedules (schedules.cpp).
#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "formats/weight_store.hpp"
#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/training.hpp"
#include "training/schedules.hpp"

// Keras's update rules are separate float32 multiplies and adds (NumPy, XLA and torch do not fuse
// them): keep the compiler from contracting them into fused multiply-adds under -march=native.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace kserde {

std::vector<Variable*> trainable_variables(Model& model) {
  std::vector<Variable*> out;
  for (const weights::Saveable& s : weights::traverse(model, false)) {
    if (s.layer == nullptr || !s.layer->trainable()) continue;
    for (Variable& v : s.layer->variables()) {
      if (v.trainable) out.push_back(&v);
    }
  }
  return out;
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Keras's constructor defaults (keras/src/optimizers/*.py), in get_config() order.
const char* default_config(const std::string& cls) {
  if (cls == "SGD") return R"({"learning_rate": 0.01, "momentum": 0.0, "nesterov": false})";
  if (cls == "Adam") {
    return R"({"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
               "amsgrad": false})";
  }
  if (cls == "AdamW") {
    return R"({"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999,
               "epsilon": 1e-07, "amsgrad": false})";
  }
  if (cls == "RMSprop") {
    return R"({"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-07,
               "centered": false})";
  }
  if (cls == "Adagrad") {
    return R"({"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-07})";
  }
  return nullptr;
}

std::string class_for(const std::string& name) {
  const std::string l = lower(name);
  if (l == "sgd") return "SGD";
  if (l == "adam") return "Adam";
  if (l == "adamw") return "AdamW";
  if (l == "rmsprop") return "RMSprop";
  if (l == "adagrad") return "Adagrad";
  return "";
}

}  // namespace

std::shared_ptr<JsonDocument> optimizer_object_dict(std::string_view name_or_json,
                                                    std::optional<double> learning_rate) {
  if (!name_or_json.empty() && name_or_json.front() == '{') {
    auto doc = parse_json(name_or_json, "optimizer");
    const JsonValue* cls_name = doc->IsObject() ? cfg::find(*doc, "class_name") : nullptr;
    if (cls_name == nullptr || !cls_name->IsString()) {
      throw ConfigError("optimizer: a JSON optimizer must be an object dict with a class_name");
    }
    const std::string cls = class_for(cls_name->GetString());
    const JsonValue* given = cfg::find(*doc, "config");
    if (cls.empty() || given == nullptr || !given->IsObject()) return doc;
    // A built-in class: Keras's full config with the given keys on top (what Keras would save).
    auto full = optimizer_object_dict(cls);
    auto& a = full->GetAllocator();
    JsonValue& c = (*full)["config"];
    for (const auto& m : given->GetObject()) {
      JsonValue v;
      v.CopyFrom(m.value, a);
      cfg::set(c, m.name.GetString(), std::move(v), a);
    }
    return full;
  }
  const std::string cls = class_for(std::string(name_or_json));
  if (cls.empty()) {
    throw UnsupportedError("optimizer '" + std::string(name_or_json) +
                           "' is not one kserde implements (sgd, adam, adamw, rmsprop, adagrad)");
  }
  auto specific = parse_json(default_config(cls), "optimizer defaults");
  auto doc = std::make_shared<JsonDocument>();
  doc->SetObject();
  auto& a = doc->GetAllocator();
  JsonValue c(rapidjson::kObjectType);
  // Base keys first, as BaseOptimizer.get_config() writes them, then the class's own.
  c.AddMember("name", cfg::str(lower(cls), a), a);
  JsonValue lr;
  lr.CopyFrom((*specific)["learning_rate"], a);
  if (learning_rate) lr.SetDouble(*learning_rate);
  c.AddMember("learning_rate", lr, a);
  const JsonValue* wd = cfg::find(*specific, "weight_decay");
  JsonValue wdv;
  if (wd != nullptr) wdv.CopyFrom(*wd, a);
  c.AddMember("weight_decay", wdv, a);
  c.AddMember("clipnorm", JsonValue(), a);
  c.AddMember("global_clipnorm", JsonValue(), a);
  c.AddMember("clipvalue", JsonValue(), a);
  c.AddMember("use_ema", false, a);
  c.AddMember("ema_momentum", 0.99, a);
  c.AddMember("ema_overwrite_frequency", JsonValue(), a);
  c.AddMember("loss_scale_factor", JsonValue(), a);
  c.AddMember("gradient_accumulation_steps", JsonValue(), a);
  for (auto& m : specific->GetObject()) {
    const std::string key = m.name.GetString();
    if (key == "learning_rate" || key == "weight_decay") continue;
    JsonValue v;
    v.CopyFrom(m.value, a);
    c.AddMember(cfg::str(key, a), v, a);
  }
  doc->AddMember("module", "keras.optimizers", a);
  doc->AddMember("class_name", cfg::str(cls, a), a);
  doc->AddMember("config", c, a);
  doc->AddMember("registered_name", JsonValue(), a);
  return doc;
}

namespace {

// The optimizer's hyper-parameters as its config states them.
struct Rule {
  std::string cls;
  std::string where;
  std::unique_ptr<training::Schedule> schedule;  // null: the learning_rate variable
  std::optional<double> weight_decay, clipnorm, global_clipnorm, clipvalue, loss_scale_factor;
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
  bool amsgrad = false;
  double momentum = 0.0;
  bool nesterov = false;
  double rho = 0.9;
  bool centered = false;
  double initial_accumulator_value = 0.1;

  // Slot lists in creation order: each list has one variable per trainable variable; `interleaved`
  // lists are created together (Adam's momentum/velocity: m0 v0 m1 v1 ...).
  struct SlotGroup {
    std::vector<std::string> names;
    float init = 0.0f;
  };
  std::vector<SlotGroup> groups() const {
    if (cls == "SGD") {
      if (momentum != 0.0) return {{{"momentum"}}};
      return {};
    }
    if (cls == "Adam" || cls == "AdamW") {
      std::vector<SlotGroup> g{{{"momentum", "velocity"}}};
      if (amsgrad) g.push_back({{"velocity_hat"}});
      return g;
    }
    if (cls == "RMSprop") {
      std::vector<SlotGroup> g{{{"velocity"}}};
      if (momentum > 0) g.push_back({{"momentum"}});
      if (centered) g.push_back({{"average_gradient"}});
      return g;
    }
    // Adagrad
    return {{{"accumulator"}, static_cast<float>(initial_accumulator_value)}};
  }
};

std::optional<double> opt_float(const JsonValue& c, const char* key, const std::string& where) {
  return cfg::get_optional_float(c, key, where);
}

Rule parse_rule(const Optimizer& opt) {
  Rule r;
  r.cls = opt.class_name();
  r.where = "optimizer " + r.cls + " '" + opt.name() + "'";
  if (default_config(r.cls) == nullptr) {
    throw UnsupportedError(r.where +
                           ": kserde trains with SGD, Adam, AdamW, RMSprop and Adagrad; " +
                           "compile the model with one of them");
  }
  const JsonValue* c = cfg::find(*opt.object_dict, "config");
  if (c == nullptr || !c->IsObject()) throw ConfigError(r.where + ": has no config object");
  if (cfg::get_bool(*c, "use_ema", r.where, false)) {
    throw UnsupportedError(r.where + ": use_ema=True is not implemented; compile without it");
  }
  if (cfg::has_non_null(*c, "gradient_accumulation_steps")) {
    throw UnsupportedError(r.where +
                           ": gradient_accumulation_steps is not implemented; compile without it");
  }
  if (const JsonValue* lr = cfg::find(*c, "learning_rate"); lr != nullptr && lr->IsObject()) {
    r.schedule = training::make_schedule(*lr, r.where);
  }
  r.weight_decay = opt_float(*c, "weight_decay", r.where);
  r.clipnorm = opt_float(*c, "clipnorm", r.where);
  r.global_clipnorm = opt_float(*c, "global_clipnorm", r.where);
  r.clipvalue = opt_float(*c, "clipvalue", r.where);
  r.loss_scale_factor = opt_float(*c, "loss_scale_factor", r.where);
  r.beta_1 = cfg::get_float(*c, "beta_1", r.where, 0.9);
  r.beta_2 = cfg::get_float(*c, "beta_2", r.where, 0.999);
  r.epsilon = cfg::get_float(*c, "epsilon", r.where, 1e-7);
  r.amsgrad = cfg::get_bool(*c, "amsgrad", r.where, false);
  r.momentum = cfg::get_float(*c, "momentum", r.where, 0.0);
  r.nesterov = cfg::get_bool(*c, "nesterov", r.where, false);
  r.rho = cfg::get_float(*c, "rho", r.where, 0.9);
  r.centered = cfg::get_bool(*c, "centered", r.where, false);
  r.initial_accumulator_value = cfg::get_float(*c, "initial_accumulator_value", r.where, 0.1);
  if (r.cls == "AdamW" && !r.weight_decay) {
    throw ConfigError(r.where + ": AdamW needs a float weight_decay");
  }
  return r;
}

std::size_t slot_count(const Rule& r) {
  std::size_t n = 0;
  for (const auto& g : r.groups()) n += g.names.size();
  return n;
}

// Index in optimizer.variables of slot `name` of trainable variable `i` (of `n`).
std::size_t slot_index(const Rule& r, std::size_t first, std::size_t n, std::size_t i,
                       const std::string& name) {
  std::size_t base = first;
  for (const auto& g : r.groups()) {
    for (std::size_t k = 0; k < g.names.size(); ++k) {
      if (g.names[k] == name) return base + i * g.names.size() + k;
    }
    base += n * g.names.size();
  }
  throw Error("optimizer slot '" + name + "' is not used by " + r.cls);
}

std::int64_t read_int(const Tensor& t) {
  if (t.num_elements() != 1) throw ConfigError("optimizer iteration counter must be a scalar");
  return t.to(DType::Int64).values<std::int64_t>()[0];
}

Tensor scalar_like(const Tensor& like, std::int64_t value) {
  Tensor t(like.shape(), like.dtype());
  if (like.dtype() == DType::Int32) {
    t.mutable_values<std::int32_t>()[0] = static_cast<std::int32_t>(value);
  } else {
    Tensor v({}, DType::Int64);
    v.mutable_values<std::int64_t>()[0] = value;
    t = v.to(like.dtype());
    if (like.shape() != t.shape()) t = t.reshaped(like.shape());
  }
  return t;
}

void build_state(Optimizer& opt, const Rule& r, const std::vector<Variable*>& vars) {
  opt.variables.clear();
  Tensor it({}, DType::Int32);  // dtype="int": int32 as the JAX, torch and NumPy backends save it
  opt.variables.push_back(Variable{"iteration", it, false});
  if (!r.schedule) {
    const JsonValue& c = (*opt.object_dict)["config"];
    Tensor lr({}, DType::Float32);
    lr.f32_mut()[0] = static_cast<float>(cfg::get_float(c, "learning_rate", r.where));
    opt.variables.push_back(Variable{"learning_rate", lr, false});
  }
  for (const auto& g : r.groups()) {
    for (const Variable* v : vars) {
      for (const std::string& name : g.names) {
        Tensor t(v->value.shape(), DType::Float32);
        if (g.init != 0.0f) std::fill_n(t.f32_mut(), t.num_elements(), g.init);
        opt.variables.push_back(Variable{v->name + "_" + name, t, false});
      }
    }
  }
}

void check_state(const Optimizer& opt, const Rule& r, const std::vector<Variable*>& vars,
                 std::size_t first) {
  const std::size_t want = first + slot_count(r) * vars.size();
  if (opt.variables.size() != want) {
    throw ConfigError(r.where + ": holds " + std::to_string(opt.variables.size()) +
                      " variables, but " + std::to_string(want) + " are expected for " +
                      std::to_string(vars.size()) +
                      " trainable variables (the state belongs to another model or optimizer "
                      "configuration; compile the model again to start fresh)");
  }
  if (opt.variables[0].value.num_elements() != 1) {
    throw ConfigError(r.where + ": optimizer/vars/0 (iteration) must be a scalar");
  }
  if (first == 2 && (opt.variables[1].value.num_elements() != 1)) {
    throw ConfigError(r.where + ": optimizer/vars/1 (learning_rate) must be a scalar");
  }
  for (const auto& g : r.groups()) {
    for (std::size_t i = 0; i < vars.size(); ++i) {
      for (const std::string& name : g.names) {
        const std::size_t k = slot_index(r, first, vars.size(), i, name);
        const Tensor& s = opt.variables[k].value;
        if (s.shape() != vars[i]->value.shape() || s.dtype() != DType::Float32) {
          throw ConfigError(r.where + ": optimizer/vars/" + std::to_string(k) + " (" + name +
                            " of '" + vars[i]->name + "') has shape " + shape_to_string(s.shape()) +
                            ", the variable " + shape_to_string(vars[i]->value.shape()));
        }
      }
    }
  }
}

// Sum of squares in element order (float64 accumulation, rounded once).
float sum_squares(const Tensor& g) {
  double s = 0;
  for (float x : g.values<float>()) s += static_cast<double>(x) * x;
  return static_cast<float>(s);
}

// BaseOptimizer._clip_gradients.
void clip(const Rule& r, TensorList& grads) {
  if (r.clipnorm && *r.clipnorm > 0) {
    const auto c = static_cast<float>(*r.clipnorm);
    for (Tensor& g : grads) {
      const float l2sum = sum_squares(g);
      const float l2norm = l2sum > 0 ? std::sqrt(l2sum) : l2sum;
      const float denom = std::max(l2norm, c);
      float* p = g.f32_mut();
      for (std::int64_t i = 0; i < g.num_elements(); ++i) p[i] = (p[i] * c) / denom;
    }
  } else if (r.global_clipnorm && *r.global_clipnorm > 0) {
    const auto c = static_cast<float>(*r.global_clipnorm);
    float total = 0;
    for (const Tensor& g : grads) total += sum_squares(g);
    const float norm = std::sqrt(total);
    float scale = c * std::min(1.0f / norm, 1.0f / c);
    scale = scale + (norm - norm);  // NaN for a non-finite norm, as Keras
    for (Tensor& g : grads) {
      float* p = g.f32_mut();
      for (std::int64_t i = 0; i < g.num_elements(); ++i) p[i] *= scale;
    }
  } else if (r.clipvalue && *r.clipvalue > 0) {
    const auto v = static_cast<float>(*r.clipvalue);
    for (Tensor& g : grads) {
      float* p = g.f32_mut();
      for (std::int64_t i = 0; i < g.num_elements(); ++i) p[i] = std::min(std::max(p[i], -v), v);
    }
  }
}

float learning_rate_at(const Optimizer& opt, const Rule& r, std::int64_t iterations) {
  if (r.schedule) return r.schedule->at(iterations);
  return opt.variables.at(1).value.to(DType::Float32).f32()[0];
}

// New owned float32 copy of a variable's value (updates never write into storage another tensor
// may share).
Tensor fresh_copy(const Tensor& t) {
  return t.to(DType::Float32).clone();
}

}  // namespace

std::int64_t optimizer_iterations(const Optimizer& optimizer) {
  if (optimizer.variables.empty()) return 0;
  return read_int(optimizer.variables[0].value);
}

double current_learning_rate(const Optimizer& optimizer) {
  const Rule r = parse_rule(optimizer);
  if (!r.schedule && optimizer.variables.size() < 2) {
    return cfg::get_float((*optimizer.object_dict)["config"], "learning_rate", r.where);
  }
  return learning_rate_at(optimizer, r, optimizer_iterations(optimizer));
}

void apply_gradients(Optimizer& opt, const std::vector<Variable*>& vars,
                     const TensorList& grads_in) {
  if (!opt.object_dict) throw ConfigError("apply_gradients: the optimizer has no config");
  const Rule r = parse_rule(opt);
  if (grads_in.size() != vars.size()) {
    throw ShapeError(r.where + ": " + std::to_string(grads_in.size()) + " gradients for " +
                     std::to_string(vars.size()) + " variables");
  }
  // Variables without a gradient (an invalid Tensor) are left alone, as Keras filters them out.
  std::vector<std::size_t> active;
  for (std::size_t i = 0; i < vars.size(); ++i) {
    if (!grads_in[i].valid() || (grads_in[i].rank() == 0 && grads_in[i].num_elements() == 0)) {
      continue;
    }
    active.push_back(i);
    if (grads_in[i].shape() != vars[i]->value.shape()) {
      throw ShapeError(r.where + ": gradient of '" + vars[i]->name + "' has shape " +
                       shape_to_string(grads_in[i].shape()) + ", the variable " +
                       shape_to_string(vars[i]->value.shape()));
    }
  }
  if (opt.variables.empty()) build_state(opt, r, vars);
  const std::size_t first = r.schedule ? 1 : 2;
  check_state(opt, r, vars, first);
  const std::int64_t iterations = read_int(opt.variables[0].value);
  const std::size_t n = vars.size();

  if (active.empty()) throw ConfigError(r.where + ": no gradients provided for any variable");
  TensorList grads;
  for (std::size_t i : active) grads.push_back(fresh_copy(grads_in[i]));
  if (r.loss_scale_factor) {
    const auto s = static_cast<float>(*r.loss_scale_factor);
    for (Tensor& g : grads) {
      float* p = g.f32_mut();
      for (std::int64_t i = 0; i < g.num_elements(); ++i) p[i] = p[i] / s;
    }
  }
  clip(r, grads);
  const float lr = learning_rate_at(opt, r, iterations);

  TensorList values;
  for (std::size_t i : active) values.push_back(fresh_copy(vars[i]->value));
  if (r.weight_decay) {
    // BaseOptimizer._apply_weight_decay: variable - variable * wd * lr.
    const auto wd = static_cast<float>(*r.weight_decay);
    for (Tensor& w : values) {
      float* p = w.f32_mut();
      for (std::int64_t i = 0; i < w.num_elements(); ++i) p[i] = p[i] - p[i] * wd * lr;
    }
  }
  for (std::size_t a = 0; a < active.size(); ++a) {
    const std::size_t i = active[a];
    auto slot = [&](std::size_t, const char* name) -> Tensor& {
      return opt.variables[slot_index(r, first, n, i, name)].value;
    };
    const float* g = grads[a].f32();
    float* w = values[a].f32_mut();
    const std::int64_t count = values[a].num_elements();
    if (r.cls == "SGD") {
      const float lr_ = lr;
      if (r.momentum != 0.0) {
        const auto mom = static_cast<float>(r.momentum);
        Tensor m = fresh_copy(slot(i, "momentum"));
        float* pm = m.f32_mut();
        for (std::int64_t k = 0; k < count; ++k) {
          pm[k] = pm[k] * mom - g[k] * lr_;
          if (r.nesterov) {
            w[k] = w[k] + (pm[k] * mom - g[k] * lr_);
          } else {
            w[k] = w[k] + pm[k];
          }
        }
        slot(i, "momentum") = m;
      } else {
        for (std::int64_t k = 0; k < count; ++k) w[k] = w[k] - g[k] * lr_;
      }
    } else if (r.cls == "Adam" || r.cls == "AdamW") {
      const auto local_step = static_cast<float>(iterations + 1);
      const float b1p = std::pow(static_cast<float>(r.beta_1), local_step);
      const float b2p = std::pow(static_cast<float>(r.beta_2), local_step);
      const float alpha = lr * std::sqrt(1.0f - b2p) / (1.0f - b1p);
      const auto one_minus_b1 = static_cast<float>(1.0 - r.beta_1);
      const auto one_minus_b2 = static_cast<float>(1.0 - r.beta_2);
      const auto eps = static_cast<float>(r.epsilon);
      Tensor m = fresh_copy(slot(i, "momentum"));
      Tensor v = fresh_copy(slot(i, "velocity"));
      Tensor vhat = r.amsgrad ? fresh_copy(slot(i, "velocity_hat")) : Tensor();
      float* pm = m.f32_mut();
      float* pv = v.f32_mut();
      float* ph = r.amsgrad ? vhat.f32_mut() : nullptr;
      for (std::int64_t k = 0; k < count; ++k) {
        pm[k] = pm[k] + (g[k] - pm[k]) * one_minus_b1;
        pv[k] = pv[k] + (g[k] * g[k] - pv[k]) * one_minus_b2;
        float vk = pv[k];
        if (ph != nullptr) {
          ph[k] = std::max(ph[k], pv[k]);
          vk = ph[k];
        }
        w[k] = w[k] - (pm[k] * alpha) / (std::sqrt(vk) + eps);
      }
      slot(i, "momentum") = m;
      slot(i, "velocity") = v;
      if (r.amsgrad) slot(i, "velocity_hat") = vhat;
    } else if (r.cls == "RMSprop") {
      const auto rho = static_cast<float>(r.rho);
      const auto one_minus_rho = static_cast<float>(1.0 - r.rho);
      const auto eps = static_cast<float>(r.epsilon);
      const auto mom = static_cast<float>(r.momentum);
      Tensor vel = fresh_copy(slot(i, "velocity"));
      Tensor avg = r.centered ? fresh_copy(slot(i, "average_gradient")) : Tensor();
      Tensor mt = r.momentum > 0 ? fresh_copy(slot(i, "momentum")) : Tensor();
      float* pv = vel.f32_mut();
      float* pa = r.centered ? avg.f32_mut() : nullptr;
      float* pm = r.momentum > 0 ? mt.f32_mut() : nullptr;
      for (std::int64_t k = 0; k < count; ++k) {
        pv[k] = rho * pv[k] + one_minus_rho * (g[k] * g[k]);
        float denom;
        if (pa != nullptr) {
          pa[k] = rho * pa[k] + one_minus_rho * g[k];
          denom = pv[k] - pa[k] * pa[k] + eps;
        } else {
          denom = pv[k] + eps;
        }
        const float inc = (lr * g[k]) / std::sqrt(denom);
        if (pm != nullptr) {
          pm[k] = mom * pm[k] + inc;
          w[k] = w[k] - pm[k];
        } else {
          w[k] = w[k] - inc;
        }
      }
      slot(i, "velocity") = vel;
      if (r.centered) slot(i, "average_gradient") = avg;
      if (r.momentum > 0) slot(i, "momentum") = mt;
    } else {  // Adagrad
      const auto eps = static_cast<float>(r.epsilon);
      Tensor acc = fresh_copy(slot(i, "accumulator"));
      float* pa = acc.f32_mut();
      for (std::int64_t k = 0; k < count; ++k) {
        pa[k] = pa[k] + g[k] * g[k];
        w[k] = w[k] - (lr * g[k]) / std::sqrt(pa[k] + eps);
      }
      slot(i, "accumulator") = acc;
    }
  }
  for (std::size_t a = 0; a < active.size(); ++a) {
    Variable& v = *vars[active[a]];
    v.value = values[a].to(v.value.dtype());
  }
  opt.variables[0].value = scalar_like(opt.variables[0].value, iterations + 1);
}

}  // namespace kserde
