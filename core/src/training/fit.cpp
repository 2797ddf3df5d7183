// compute_gradients and model.fit(): batches (shuffled per epoch from the seed and the iteration
// counter, so a resumed run continues the same sequence), the training-mode forward pass, the
// compiled loss's gradient sent back through every layer, one optimizer update per batch, and
// Keras's running logs (sample-weighted means over the epoch) and validation.
#include <rapidjson/document.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <set>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "kserde/functional.hpp"
#include "kserde/training.hpp"
#include "training/backprop.hpp"
#include "training/loss_grad.hpp"

namespace kserde {

namespace {

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void collect_unsupported(Layer& layer, std::vector<std::string>& out) {
  if (auto* m = dynamic_cast<Model*>(&layer);
      m != nullptr && (dynamic_cast<Sequential*>(m) || dynamic_cast<Functional*>(m))) {
    for (const auto& l : m->layers()) collect_unsupported(*l, out);
    return;
  }
  const JsonValue& c = layer.config();
  for (const char* key :
       {"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
        "bias_constraint", "embeddings_regularizer", "embeddings_constraint"}) {
    if (cfg::has_non_null(c, key)) {
      out.push_back(layer.describe() + " (" + key + " is not supported in training)");
      return;
    }
  }
  training::TrainContext scratch;
  try {
    (void)training::make_backprop(layer, scratch);
  } catch (const UnsupportedError&) {
    out.push_back(layer.describe());
  }
}

const Optimizer& require_optimizer(Model& model) {
  if (!model.is_compiled()) {
    throw ConfigError(model.describe() +
                      ": fit needs a compiled model (compile it, or load a "
                      "file saved after compile)");
  }
  if (!model.optimizer()) {
    const JsonValue* opt = cfg::find(*model.compile_config(), "optimizer");
    if (opt == nullptr || !opt->IsObject()) {
      throw ConfigError(model.describe() + ": its compile_config names no optimizer object");
    }
    Optimizer o;
    o.object_dict = std::make_shared<JsonDocument>();
    o.object_dict->CopyFrom(*opt, o.object_dict->GetAllocator());
    model.optimizer() = std::move(o);
  }
  return *model.optimizer();
}

void refuse_untrainable(Model& model) {
  const auto missing = layers_without_backprop(model);
  if (missing.empty()) return;
  std::string list;
  for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
  throw UnsupportedError(model.describe() + ": cannot fit: kserde has no backward pass for " +
                         list);
}

// Rows `index` of `t` (any dtype), in that order.
Tensor gather_rows(const Tensor& t, const std::vector<std::int64_t>& index, std::size_t begin,
                   std::size_t end) {
  Shape s = t.shape();
  s[0] = static_cast<std::int64_t>(end - begin);
  Tensor out = Tensor::uninitialized(s, t.dtype());
  const std::size_t row = t.dim(0) == 0 ? 0 : t.nbytes() / static_cast<std::size_t>(t.dim(0));
  const std::byte* src = t.bytes().data();
  std::byte* dst = out.mutable_bytes().data();
  for (std::size_t i = begin; i < end; ++i) {
    std::memcpy(dst + (i - begin) * row, src + static_cast<std::size_t>(index[i]) * row, row);
  }
  return out;
}

}  // namespace

std::vector<std::string> layers_without_backprop(Model& model) {
  std::vector<std::string> out;
  collect_unsupported(model, out);
  return out;
}

Gradients compute_gradients(Model& model, const TensorList& x, const TensorList& y,
                            std::uint64_t seed, std::int64_t step) {
  if (!model.is_compiled()) {
    throw ConfigError(model.describe() + ": computing gradients needs a compiled model");
  }
  refuse_untrainable(model);
  training::TrainContext ctx;
  ctx.seed = seed;
  ctx.step = step;
  auto bp = training::make_backprop(model, ctx);
  const std::vector<DType> dtypes = model.input_dtypes();
  TensorList inputs;
  for (std::size_t i = 0; i < x.size(); ++i) {
    inputs.push_back(i < dtypes.size() ? x[i].to(dtypes[i]) : x[i]);
  }
  Gradients out;
  out.outputs = bp->forward(inputs, ctx);
  if (y.size() != out.outputs.size()) {
    throw ShapeError(model.describe() + ": " + std::to_string(out.outputs.size()) + " output(s), " +
                     std::to_string(y.size()) + " target(s) given");
  }
  double scale = 1.0;
  if (model.optimizer() && model.optimizer()->object_dict) {
    const JsonValue* c = cfg::find(*model.optimizer()->object_dict, "config");
    if (c != nullptr && c->IsObject()) {
      scale = cfg::get_optional_float(*c, "loss_scale_factor", "optimizer").value_or(1.0);
    }
  }
  TensorList d_outputs;
  for (std::size_t i = 0; i < out.outputs.size(); ++i) {
    const Tensor& o = out.outputs[i];
    Tensor d(o.shape(), DType::Float32);
    if (const JsonValue* l = compiled_loss(model, i); l != nullptr && !l->IsNull()) {
      const double w = compiled_loss_weight(model, i);
      const auto per = loss_per_sample(*l, y[i], o);
      double sum = 0;
      for (double v : per) sum += v;
      out.loss += w * (per.empty() ? 0.0 : sum / static_cast<double>(per.size()));
      const std::vector<double> g = training::loss_gradient(*l, y[i], o);
      float* pd = d.f32_mut();
      for (std::size_t k = 0; k < g.size(); ++k) pd[k] = static_cast<float>(g[k] * w * scale);
    }
    d_outputs.push_back(d);
  }
  training::GradMap grads;
  (void)bp->backward(d_outputs, grads);
  for (Variable* v : trainable_variables(model)) {
    auto it = grads.find(v);
    out.grads.push_back(it != grads.end() ? it->second : Tensor());
  }
  return out;
}

const std::vector<double>& History::operator[](std::string_view name) const {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return values[i];
  }
  throw ConfigError("History has no entry '" + std::string(name) + "'");
}

History fit(Model& model, const TensorList& x, const TensorList& y, const FitOptions& options) {
  require_optimizer(model);
  refuse_untrainable(model);
  if (options.batch_size <= 0) throw ConfigError("fit: batch_size must be positive");
  if (options.epochs < 0) throw ConfigError("fit: epochs must not be negative");
  if (x.empty() || y.empty()) throw ShapeError("fit: needs inputs and targets");
  const std::int64_t rows = x[0].rank() == 0 ? 0 : x[0].dim(0);
  for (const TensorList* list : {&x, &y}) {
    for (const Tensor& t : *list) {
      if (t.rank() == 0 || t.dim(0) != rows) {
        throw ShapeError("fit: every input and target needs " + std::to_string(rows) +
                         " rows (the first input's), got shape " + shape_to_string(t.shape()));
      }
    }
  }
  if (rows == 0) throw ShapeError("fit: no samples");
  const std::vector<Variable*> vars = trainable_variables(model);
  if (vars.empty()) throw ConfigError(model.describe() + ": has no trainable variables to fit");
  const std::int64_t bs = options.batch_size;
  const std::int64_t batches = (rows + bs - 1) / bs;
  History history;
  auto record = [&](const std::string& name, double v) {
    auto it = std::find(history.names.begin(), history.names.end(), name);
    if (it == history.names.end()) {
      history.names.push_back(name);
      history.values.emplace_back();
      it = history.names.end() - 1;
    }
    history.values[static_cast<std::size_t>(it - history.names.begin())].push_back(v);
  };
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    Optimizer& opt = *model.optimizer();
    std::vector<std::int64_t> order(static_cast<std::size_t>(rows));
    std::iota(order.begin(), order.end(), 0);
    if (options.shuffle) {
      // Fisher-Yates from (seed, the iteration counter at the epoch's start).
      std::uint64_t state =
          mix(options.seed ^
              mix(static_cast<std::uint64_t>(optimizer_iterations(opt)) + 0x2545f491ULL));
      for (std::size_t i = order.size(); i > 1; --i) {
        state = mix(state);
        const std::size_t j = static_cast<std::size_t>(state % i);
        std::swap(order[i - 1], order[j]);
      }
    }
    EvaluateResult running;
    double seen = 0;
    for (std::int64_t b = 0; b < batches; ++b) {
      const auto begin = static_cast<std::size_t>(b * bs);
      const auto end = static_cast<std::size_t>(std::min(rows, (b + 1) * bs));
      TensorList xb, yb;
      for (const Tensor& t : x) xb.push_back(gather_rows(t, order, begin, end));
      for (const Tensor& t : y) yb.push_back(gather_rows(t, order, begin, end));
      const std::int64_t step = optimizer_iterations(opt);
      Gradients g = compute_gradients(model, xb, yb, options.seed, step);
      // Metrics see the training-mode outputs of this batch, before the update (as in Keras).
      const EvaluateResult logs = evaluate_predictions(model, yb, g.outputs);
      apply_gradients(opt, vars, g.grads);
      const auto n = static_cast<double>(end - begin);
      if (running.empty()) {
        running = logs;
        for (auto& [k, v] : running) v = 0;
      }
      for (std::size_t i = 0; i < logs.size() && i < running.size(); ++i) {
        running[i].second = (running[i].second * seen + logs[i].second * n) / (seen + n);
      }
      seen += n;
      if (options.on_batch_end) options.on_batch_end(epoch, b, batches, running);
    }
    EvaluateResult epoch_logs = running;
    if (options.validation) {
      const EvaluateResult v =
          evaluate(model, options.validation->first, options.validation->second, bs);
      for (const auto& [k, val] : v) epoch_logs.emplace_back("val_" + k, val);
    }
    for (const auto& [k, v] : epoch_logs) record(k, v);
    if (options.on_epoch_end) options.on_epoch_end(epoch, epoch_logs);
  }
  return history;
}

void compile(Model& model, std::string_view optimizer, std::string_view loss,
             const std::vector<std::string>& metrics) {
  auto opt = optimizer_object_dict(optimizer);
  auto cc = std::make_shared<JsonDocument>();
  cc->SetObject();
  auto& a = cc->GetAllocator();
  JsonValue o;
  o.CopyFrom(*opt, a);
  cc->AddMember("optimizer", o, a);
  if (!loss.empty() && loss.front() == '{') {
    auto l = parse_json(loss, "loss");
    JsonValue lv;
    lv.CopyFrom(*l, a);
    cc->AddMember("loss", lv, a);
  } else {
    cc->AddMember("loss", cfg::str(loss, a), a);
  }
  cc->AddMember("loss_weights", JsonValue(), a);
  if (metrics.empty()) {
    cc->AddMember("metrics", JsonValue(), a);
  } else {
    JsonValue m(rapidjson::kArrayType);
    for (const auto& s : metrics) m.PushBack(cfg::str(s, a), a);
    cc->AddMember("metrics", m, a);
  }
  cc->AddMember("weighted_metrics", JsonValue(), a);
  cc->AddMember("run_eagerly", false, a);
  cc->AddMember("steps_per_execution", 1, a);
  cc->AddMember("jit_compile", true, a);
  model.set_compile_config(cc);
  Optimizer state;
  state.object_dict = opt;
  model.optimizer() = std::move(state);
}

}  // namespace kserde
