// Losses and metrics for evaluate(), with Keras 3's formulas (crossentropies clip probabilities
// to [1e-7, 1 - 1e-7] after normalising categorical outputs; elementwise losses average the last
// axis; results are means over samples).
#include "kserde/evaluate.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "models/loss_spec.hpp"

namespace kserde {

namespace {

constexpr double kEps = 1e-7;

struct Rows {
  std::int64_t n = 0;      // samples
  std::int64_t width = 1;  // elements per sample
  std::vector<double> v;
};

Rows rows_of(const Tensor& t) {
  Rows r;
  r.n = t.rank() == 0 ? 1 : t.dim(0);
  r.width = r.n == 0 ? 0 : t.num_elements() / r.n;
  const Tensor d = t.to(DType::Float64);
  r.v.assign(d.values<double>().begin(), d.values<double>().end());
  return r;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

namespace detail {

// Keras's loss identifiers (names, aliases and class names) mapped to one spelling.
std::string canonical_loss(const std::string& name) {
  static const std::map<std::string, std::string> alias{
      {"mse", "mean_squared_error"},
      {"meansquarederror", "mean_squared_error"},
      {"mae", "mean_absolute_error"},
      {"meanabsoluteerror", "mean_absolute_error"},
      {"mape", "mean_absolute_percentage_error"},
      {"meanabsolutepercentageerror", "mean_absolute_percentage_error"},
      {"msle", "mean_squared_logarithmic_error"},
      {"meansquaredlogarithmicerror", "mean_squared_logarithmic_error"},
      {"binarycrossentropy", "binary_crossentropy"},
      {"categoricalcrossentropy", "categorical_crossentropy"},
      {"sparsecategoricalcrossentropy", "sparse_categorical_crossentropy"},
      {"kld", "kl_divergence"},
      {"kldivergence", "kl_divergence"},
      {"kullback_leibler_divergence", "kl_divergence"},
      {"huber", "huber"},
      {"logcosh", "log_cosh"},
      {"log_cosh", "log_cosh"},
      {"poisson", "poisson"},
      {"hinge", "hinge"},
      {"squaredhinge", "squared_hinge"},
      {"categoricalhinge", "categorical_hinge"},
      {"cosinesimilarity", "cosine_similarity"},
  };
  std::string key = lower(name);
  auto it = alias.find(key);
  if (it != alias.end()) return it->second;
  std::string squashed;
  for (char c : key) {
    if (c != '_') squashed += c;
  }
  it = alias.find(squashed);
  return it != alias.end() ? it->second : key;
}

LossSpec parse_loss(const JsonValue& v) {
  LossSpec s;
  if (v.IsString()) {
    s.name = canonical_loss(v.GetString());
  } else if (v.IsObject()) {
    const std::string cls = cfg::get_string(v, "class_name", "loss", "");
    const JsonValue* c = cfg::find(v, "config");
    s.name =
        canonical_loss(cls == "function" && c != nullptr && c->IsString() ? c->GetString() : cls);
    if (c != nullptr && c->IsObject()) {
      s.from_logits = cfg::get_bool(*c, "from_logits", "loss", false);
      s.label_smoothing = cfg::get_float(*c, "label_smoothing", "loss", 0.0);
      s.delta = cfg::get_float(*c, "delta", "loss", 1.0);
    }
  } else {
    throw ConfigError("compile_config: a loss must be a string or an object dict");
  }
  return s;
}

}  // namespace detail

namespace {

using detail::canonical_loss;
using detail::LossSpec;
using detail::parse_loss;

double clip(double p) {
  return std::min(std::max(p, kEps), 1.0 - kEps);
}

std::vector<double> softmax_row(const double* x, std::int64_t n, bool log) {
  const double m = *std::max_element(x, x + n);
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - m);
  std::vector<double> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    out[static_cast<std::size_t>(i)] = log ? x[i] - m - std::log(sum) : std::exp(x[i] - m) / sum;
  }
  return out;
}

}  // namespace

std::vector<double> loss_per_sample(const JsonValue& loss, const Tensor& y_true_t,
                                    const Tensor& y_pred_t) {
  const LossSpec spec = parse_loss(loss);
  const Rows t = rows_of(y_true_t);
  const Rows p = rows_of(y_pred_t);
  if (t.n != p.n) {
    throw ShapeError("evaluate: " + std::to_string(t.n) + " targets for " + std::to_string(p.n) +
                     " predictions");
  }
  std::vector<double> out(static_cast<std::size_t>(p.n));
  const std::int64_t k = p.width;
  auto each = [&](auto fn) {
    for (std::int64_t r = 0; r < p.n; ++r)
      out[static_cast<std::size_t>(r)] =
          fn(&t.v[static_cast<std::size_t>(r * t.width)], &p.v[static_cast<std::size_t>(r * k)]);
  };
  auto same_width = [&] {
    if (t.width != k) {
      throw ShapeError("evaluate: targets have " + std::to_string(t.width) +
                       " values per sample, predictions " + std::to_string(k) + " (loss " +
                       spec.name + ")");
    }
  };
  auto mean_of = [&](auto f) {
    same_width();
    each([&](const double* a, const double* b) {
      double s = 0;
      for (std::int64_t i = 0; i < k; ++i) s += f(a[i], b[i]);
      return k ? s / static_cast<double>(k) : 0.0;
    });
  };
  const std::string& n = spec.name;
  if (n == "mean_squared_error") {
    mean_of([](double a, double b) { return (a - b) * (a - b); });
  } else if (n == "mean_absolute_error") {
    mean_of([](double a, double b) { return std::abs(a - b); });
  } else if (n == "mean_absolute_percentage_error") {
    mean_of(
        [](double a, double b) { return 100.0 * std::abs((a - b) / std::max(std::abs(a), kEps)); });
  } else if (n == "mean_squared_logarithmic_error") {
    mean_of([](double a, double b) {
      const double d = std::log(std::max(b, kEps) + 1.0) - std::log(std::max(a, kEps) + 1.0);
      return d * d;
    });
  } else if (n == "huber") {
    const double delta = spec.delta;
    mean_of([delta](double a, double b) {
      const double e = std::abs(a - b);
      return e <= delta ? 0.5 * e * e : delta * e - 0.5 * delta * delta;
    });
  } else if (n == "log_cosh") {
    mean_of([](double a, double b) {
      const double x = b - a;
      return x + std::log1p(std::exp(-2.0 * x)) - std::log(2.0);
    });
  } else if (n == "poisson") {
    mean_of([](double a, double b) { return b - a * std::log(b + kEps); });
  } else if (n == "hinge" || n == "squared_hinge") {
    const bool sq = n == "squared_hinge";
    mean_of([sq](double a, double b) {
      const double y = (a == 0.0 || a == 1.0) ? 2.0 * a - 1.0 : a;  // {0,1} labels become {-1,1}
      const double h = std::max(1.0 - y * b, 0.0);
      return sq ? h * h : h;
    });
  } else if (n == "kl_divergence") {
    same_width();
    each([&](const double* a, const double* b) {
      double s = 0;
      for (std::int64_t i = 0; i < k; ++i) {
        const double ya = std::min(std::max(a[i], kEps), 1.0);
        const double yb = std::min(std::max(b[i], kEps), 1.0);
        s += ya * std::log(ya / yb);
      }
      return s;
    });
  } else if (n == "binary_crossentropy") {
    same_width();
    const double ls = spec.label_smoothing;
    mean_of([&](double a, double b) {
      const double y = a * (1.0 - ls) + 0.5 * ls;
      const double q = clip(spec.from_logits ? 1.0 / (1.0 + std::exp(-b)) : b);
      return -(y * std::log(q) + (1.0 - y) * std::log(1.0 - q));
    });
  } else if (n == "categorical_crossentropy" || n == "sparse_categorical_crossentropy") {
    const bool sparse = n == "sparse_categorical_crossentropy";
    if (sparse && t.width != 1) {
      throw ShapeError("evaluate: sparse_categorical_crossentropy needs one class id per sample");
    }
    if (!sparse) same_width();
    const double ls = spec.label_smoothing;
    each([&](const double* a, const double* b) {
      std::vector<double> logp(static_cast<std::size_t>(k));
      if (spec.from_logits) {
        logp = softmax_row(b, k, true);
      } else {
        double sum = 0;
        for (std::int64_t i = 0; i < k; ++i) sum += b[i];
        for (std::int64_t i = 0; i < k; ++i)
          logp[static_cast<std::size_t>(i)] = std::log(clip(b[i] / sum));
      }
      if (sparse) {
        const auto cls = static_cast<std::int64_t>(a[0]);
        if (cls < 0 || cls >= k) {
          throw ShapeError("evaluate: class id " + std::to_string(cls) + " outside [0, " +
                           std::to_string(k) + ")");
        }
        return -logp[static_cast<std::size_t>(cls)];
      }
      double s = 0;
      for (std::int64_t i = 0; i < k; ++i) {
        const double y = a[i] * (1.0 - ls) + ls / static_cast<double>(k);
        s -= y * logp[static_cast<std::size_t>(i)];
      }
      return s;
    });
  } else if (n == "categorical_hinge") {
    same_width();
    each([&](const double* a, const double* b) {
      double pos = 0, neg = -1e300;
      for (std::int64_t i = 0; i < k; ++i) {
        pos += a[i] * b[i];
        neg = std::max(neg, (1.0 - a[i]) * b[i]);
      }
      return std::max(neg - pos + 1.0, 0.0);
    });
  } else if (n == "cosine_similarity") {
    same_width();
    each([&](const double* a, const double* b) {
      double ab = 0, aa = 0, bb = 0;
      for (std::int64_t i = 0; i < k; ++i) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
      }
      return -ab / (std::max(std::sqrt(aa), 1e-12) * std::max(std::sqrt(bb), 1e-12));
    });
  } else {
    throw UnsupportedError("evaluate: loss '" + n + "' is not implemented");
  }
  return out;
}

namespace {

struct Metric {
  std::string name;
  std::function<double(const Tensor& y_true, const Tensor& y_pred)> compute;
};

std::int64_t argmax(const double* x, std::int64_t n) {
  return static_cast<std::int64_t>(std::max_element(x, x + n) - x);
}

double accuracy(const Tensor& yt, const Tensor& yp, const std::string& kind) {
  const Rows t = rows_of(yt);
  const Rows p = rows_of(yp);
  double hits = 0;
  double count = 0;
  for (std::int64_t r = 0; r < p.n; ++r) {
    const double* a = &t.v[static_cast<std::size_t>(r * t.width)];
    const double* b = &p.v[static_cast<std::size_t>(r * p.width)];
    if (kind == "binary") {
      for (std::int64_t i = 0; i < p.width; ++i) {
        hits += ((b[i] > 0.5 ? 1.0 : 0.0) == a[i]) ? 1.0 : 0.0;
        count += 1;
      }
    } else if (kind == "sparse") {
      hits += static_cast<double>(argmax(b, p.width)) == a[0] ? 1.0 : 0.0;
      count += 1;
    } else {
      hits += argmax(a, t.width) == argmax(b, p.width) ? 1.0 : 0.0;
      count += 1;
    }
  }
  return count == 0 ? 0.0 : hits / count;
}

Metric make_metric(const JsonValue& v, const Tensor& yt, const Tensor& yp) {
  std::string id;
  std::string reported;
  if (v.IsString()) {
    id = v.GetString();
    reported = id;
  } else if (v.IsObject()) {
    id = cfg::get_string(v, "class_name", "metric", "");
    const JsonValue* c = cfg::find(v, "config");
    if (id == "function" && c != nullptr && c->IsString()) id = c->GetString();
    reported = c != nullptr && c->IsObject() ? cfg::get_string(*c, "name", "metric", id) : id;
  }
  const std::string key = canonical_loss(id);
  if (key == "accuracy" || key == "acc") {
    const bool binary = yp.rank() > 0 && yp.shape().back() == 1;
    const bool sparse =
        yt.rank() < yp.rank() || (yt.rank() > 0 && yt.shape().back() == 1 && yp.shape().back() > 1);
    const std::string kind = binary ? "binary" : sparse ? "sparse" : "categorical";
    return {reported, [kind](const Tensor& a, const Tensor& b) { return accuracy(a, b, kind); }};
  }
  if (key == "binary_accuracy" || key == "binaryaccuracy") {
    return {reported, [](const Tensor& a, const Tensor& b) { return accuracy(a, b, "binary"); }};
  }
  if (key == "categorical_accuracy" || key == "categoricalaccuracy") {
    return {reported,
            [](const Tensor& a, const Tensor& b) { return accuracy(a, b, "categorical"); }};
  }
  if (key == "sparse_categorical_accuracy" || key == "sparsecategoricalaccuracy") {
    return {reported, [](const Tensor& a, const Tensor& b) { return accuracy(a, b, "sparse"); }};
  }
  if (key == "rootmeansquarederror" || key == "root_mean_squared_error") {
    return {reported, [](const Tensor& a, const Tensor& b) {
              rapidjson::Document mse;
              mse.SetString("mse");
              auto per = loss_per_sample(mse, a, b);
              double s = 0;
              for (double x : per) s += x;
              return std::sqrt(per.empty() ? 0.0 : s / static_cast<double>(per.size()));
            }};
  }
  // Any loss is also a mean metric.
  auto json = std::make_shared<rapidjson::Document>();
  json->CopyFrom(v, json->GetAllocator());
  (void)loss_per_sample(*json, yt, yp);  // validates the name now (UnsupportedError if unknown)
  return {reported, [json](const Tensor& a, const Tensor& b) {
            auto per = loss_per_sample(*json, a, b);
            double s = 0;
            for (double x : per) s += x;
            return per.empty() ? 0.0 : s / static_cast<double>(per.size());
          }};
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

}  // namespace

EvaluateResult evaluate(Model& model, const TensorList& inputs, const TensorList& targets,
                        std::int64_t batch_size) {
  const JsonValue* cc = model.compile_config();
  if (!model.is_compiled() || cc == nullptr) {
    throw ConfigError(model.describe() +
                      ": evaluate needs a compiled model (its file has no "
                      "compile_config)");
  }
  return evaluate_predictions(model, targets, model.predict(inputs, batch_size));
}

const JsonValue* compiled_loss(const Model& model, std::size_t output) {
  const JsonValue* cc = model.compile_config();
  const JsonValue* loss = cc != nullptr && cc->IsObject() ? cfg::find(*cc, "loss") : nullptr;
  if (loss == nullptr || loss->IsNull()) return nullptr;
  if (loss->IsArray()) {
    return output < loss->Size() ? &(*loss)[static_cast<rapidjson::SizeType>(output)] : nullptr;
  }
  if (loss->IsObject() && !cfg::find(*loss, "class_name")) {
    const auto names = model.output_names();
    return output < names.size() ? cfg::find(*loss, names[output]) : nullptr;
  }
  return loss;  // one loss for every output
}

double compiled_loss_weight(const Model& model, std::size_t output) {
  const JsonValue* cc = model.compile_config();
  const JsonValue* weights =
      cc != nullptr && cc->IsObject() ? cfg::find(*cc, "loss_weights") : nullptr;
  if (weights != nullptr && weights->IsArray() && output < weights->Size() &&
      (*weights)[static_cast<rapidjson::SizeType>(output)].IsNumber()) {
    return (*weights)[static_cast<rapidjson::SizeType>(output)].GetDouble();
  }
  return 1.0;
}

EvaluateResult evaluate_predictions(const Model& model, const TensorList& targets,
                                    const TensorList& outputs) {
  const JsonValue* cc = model.compile_config();
  if (!model.is_compiled() || cc == nullptr) {
    throw ConfigError(model.describe() +
                      ": evaluate needs a compiled model (its file has no "
                      "compile_config)");
  }
  if (targets.size() != outputs.size()) {
    throw ShapeError(model.describe() + ": " + std::to_string(outputs.size()) + " output(s), " +
                     std::to_string(targets.size()) + " target(s) given");
  }
  EvaluateResult result;
  double total = 0;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const JsonValue* l = compiled_loss(model, i);
    if (l == nullptr || l->IsNull()) continue;
    const double w = compiled_loss_weight(model, i);
    total += w * mean(loss_per_sample(*l, targets[i], outputs[i]));
  }
  result.emplace_back("loss", total);
  const JsonValue* metrics = cfg::find(*cc, "metrics");
  if (metrics != nullptr && metrics->IsArray()) {
    for (const auto& m : metrics->GetArray()) {
      if (m.IsArray()) {  // per-output lists
        continue;
      }
      const Metric metric = make_metric(m, targets[0], outputs[0]);
      result.emplace_back(metric.name, metric.compute(targets[0], outputs[0]));
    }
  }
  return result;
}

}  // namespace kserde
