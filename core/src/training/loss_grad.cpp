// Gradients of the losses evaluate.cpp computes, element by element, for the sample-mean Keras
// reduces a batch's loss to ("sum_over_batch_size"). Clipped probabilities pass no gradient where
// the clip is active, as in autodiff.
#include "training/loss_grad.hpp"

#include <algorithm>
#include <cmath>

#include "kserde/error.hpp"
#include "models/loss_spec.hpp"

namespace kserde::training {

namespace {

constexpr double kEps = 1e-7;

std::vector<double> as_doubles(const Tensor& t) {
  const Tensor d = t.to(DType::Float64);
  return {d.values<double>().begin(), d.values<double>().end()};
}

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}
double sign(double x) {
  return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0;
}

}  // namespace

std::vector<double> loss_gradient(const JsonValue& loss, const Tensor& y_true,
                                  const Tensor& y_pred) {
  const detail::LossSpec spec = detail::parse_loss(loss);
  const std::vector<double> t = as_doubles(y_true);
  const std::vector<double> p = as_doubles(y_pred);
  const std::int64_t n = y_pred.rank() == 0 ? 1 : y_pred.dim(0);
  const std::int64_t tn = y_true.rank() == 0 ? 1 : y_true.dim(0);
  if (n != tn) {
    throw ShapeError("fit: " + std::to_string(tn) + " targets for " + std::to_string(n) +
                     " predictions");
  }
  const std::int64_t k = n == 0 ? 0 : y_pred.num_elements() / n;
  const std::int64_t tk = n == 0 ? 0 : y_true.num_elements() / n;
  std::vector<double> g(p.size(), 0.0);
  if (n == 0) return g;
  const double inv_n = 1.0 / static_cast<double>(n);
  const std::string& name = spec.name;
  const bool sparse = name == "sparse_categorical_crossentropy";
  if (!sparse && tk != k) {
    throw ShapeError("fit: targets have " + std::to_string(tk) +
                     " values per sample, predictions " + std::to_string(k) + " (loss " + name +
                     ")");
  }
  if (sparse && tk != 1) {
    throw ShapeError("fit: sparse_categorical_crossentropy needs one class id per sample");
  }
  // Losses that average an elementwise term over the last axis: d/dp of term, over k and n.
  auto elementwise = [&](auto dterm) {
    const double scale = inv_n / static_cast<double>(k);
    for (std::size_t i = 0; i < p.size(); ++i) g[i] = dterm(t[i], p[i]) * scale;
  };
  if (name == "mean_squared_error") {
    elementwise([](double a, double b) { return 2.0 * (b - a); });
  } else if (name == "mean_absolute_error") {
    elementwise([](double a, double b) { return sign(b - a); });
  } else if (name == "mean_absolute_percentage_error") {
    elementwise(
        [](double a, double b) { return 100.0 * sign(b - a) / std::max(std::abs(a), kEps); });
  } else if (name == "mean_squared_logarithmic_error") {
    elementwise([](double a, double b) {
      const double d = std::log(std::max(b, kEps) + 1.0) - std::log(std::max(a, kEps) + 1.0);
      return b > kEps ? 2.0 * d / (b + 1.0) : 0.0;
    });
  } else if (name == "huber") {
    const double delta = spec.delta;
    elementwise([delta](double a, double b) {
      const double e = b - a;
      return std::abs(e) <= delta ? e : delta * sign(e);
    });
  } else if (name == "log_cosh") {
    elementwise([](double a, double b) { return std::tanh(b - a); });
  } else if (name == "poisson") {
    elementwise([](double a, double b) { return 1.0 - a / (b + kEps); });
  } else if (name == "hinge" || name == "squared_hinge") {
    const bool sq = name == "squared_hinge";
    elementwise([sq](double a, double b) {
      const double y = (a == 0.0 || a == 1.0) ? 2.0 * a - 1.0 : a;
      const double h = 1.0 - y * b;
      if (h <= 0) return 0.0;
      return sq ? -2.0 * h * y : -y;
    });
  } else if (name == "binary_crossentropy") {
    const double ls = spec.label_smoothing;
    elementwise([&](double a, double b) {
      const double y = a * (1.0 - ls) + 0.5 * ls;
      // From logits Keras uses the stable formula, whose gradient sigmoid(b) - y never vanishes.
      if (spec.from_logits) return sigmoid(b) - y;
      if (b < kEps || b > 1.0 - kEps) return 0.0;  // clipped
      return -(y / b - (1.0 - y) / (1.0 - b));
    });
  } else if (name == "categorical_crossentropy" || sparse) {
    const double ls = sparse ? 0.0 : spec.label_smoothing;
    for (std::int64_t r = 0; r < n; ++r) {
      const double* b = &p[static_cast<std::size_t>(r * k)];
      double* o = &g[static_cast<std::size_t>(r * k)];
      std::vector<double> y(static_cast<std::size_t>(k), 0.0);
      if (sparse) {
        const auto cls = static_cast<std::int64_t>(t[static_cast<std::size_t>(r)]);
        if (cls < 0 || cls >= k) {
          throw ShapeError("fit: class id " + std::to_string(cls) + " outside [0, " +
                           std::to_string(k) + ")");
        }
        y[static_cast<std::size_t>(cls)] = 1.0;
      } else {
        for (std::int64_t i = 0; i < k; ++i) {
          y[static_cast<std::size_t>(i)] =
              t[static_cast<std::size_t>(r * k + i)] * (1.0 - ls) + ls / static_cast<double>(k);
        }
      }
      double ysum = 0;
      for (double v : y) ysum += v;
      if (spec.from_logits) {
        // d/db_i of -sum_j y_j log softmax(b)_j = softmax(b)_i * sum(y) - y_i.
        const double m = *std::max_element(b, b + k);
        double s = 0;
        for (std::int64_t i = 0; i < k; ++i) s += std::exp(b[i] - m);
        for (std::int64_t i = 0; i < k; ++i) {
          o[i] = (std::exp(b[i] - m) / s * ysum - y[static_cast<std::size_t>(i)]) * inv_n;
        }
      } else {
        // loss = -sum_j y_j log(clip(b_j / S)), S = sum b: with c_j the clipped ratio and u_j = 1
        // where the clip is inactive, d/db_i = -(1/S) (y_i u_i / c_i - sum_j y_j u_j b_j / (S
        // c_j)).
        double s = 0;
        for (std::int64_t i = 0; i < k; ++i) s += b[i];
        double cross = 0;
        std::vector<double> w(static_cast<std::size_t>(k), 0.0);  // y_j u_j / c_j
        for (std::int64_t j = 0; j < k; ++j) {
          const double ratio = b[j] / s;
          if (ratio >= kEps && ratio <= 1.0 - kEps) {
            w[static_cast<std::size_t>(j)] = y[static_cast<std::size_t>(j)] / ratio;
            cross += w[static_cast<std::size_t>(j)] * ratio;
          }
        }
        for (std::int64_t i = 0; i < k; ++i) {
          o[i] = -(w[static_cast<std::size_t>(i)] - cross) / s * inv_n;
        }
      }
    }
  } else if (name == "kl_divergence") {
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double ya = std::min(std::max(t[i], kEps), 1.0);
      g[i] = p[i] >= kEps && p[i] <= 1.0 ? -ya / p[i] * inv_n : 0.0;
    }
  } else if (name == "categorical_hinge") {
    for (std::int64_t r = 0; r < n; ++r) {
      const double* a = &t[static_cast<std::size_t>(r * k)];
      const double* b = &p[static_cast<std::size_t>(r * k)];
      double* o = &g[static_cast<std::size_t>(r * k)];
      double pos = 0, neg = -1e300;
      std::int64_t arg = 0;
      for (std::int64_t i = 0; i < k; ++i) {
        pos += a[i] * b[i];
        if ((1.0 - a[i]) * b[i] > neg) {
          neg = (1.0 - a[i]) * b[i];
          arg = i;
        }
      }
      if (neg - pos + 1.0 <= 0) continue;
      for (std::int64_t i = 0; i < k; ++i) o[i] = -a[i] * inv_n;
      o[arg] += (1.0 - a[arg]) * inv_n;
    }
  } else if (name == "cosine_similarity") {
    for (std::int64_t r = 0; r < n; ++r) {
      const double* a = &t[static_cast<std::size_t>(r * k)];
      const double* b = &p[static_cast<std::size_t>(r * k)];
      double* o = &g[static_cast<std::size_t>(r * k)];
      double ab = 0, aa = 0, bb = 0;
      for (std::int64_t i = 0; i < k; ++i) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
      }
      const double na = std::max(std::sqrt(aa), 1e-12);
      const double nb = std::max(std::sqrt(bb), 1e-12);
      for (std::int64_t i = 0; i < k; ++i) {
        o[i] = -(a[i] / (na * nb) - ab * b[i] / (na * nb * nb * nb)) * inv_n;
      }
    }
  } else {
    throw UnsupportedError("fit: loss '" + name + "' has no gradient in kserde");
  }
  return g;
}

}  // namespace kserde::training
