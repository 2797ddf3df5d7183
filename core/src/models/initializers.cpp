#include "kserde/initializers.hpp"

#include <rapidjson/document.h>

#include <cmath>
#include <random>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "ops/eigen.hpp"

#include <Eigen/QR>

namespace kserde {

namespace {

// Keras's compute_fans: dense (in, out); conv (*k, in, out) with the receptive field multiplied in.
std::pair<double, double> fans(const Shape& s) {
  if (s.empty()) return {1, 1};
  if (s.size() == 1) return {static_cast<double>(s[0]), static_cast<double>(s[0])};
  if (s.size() == 2) return {static_cast<double>(s[0]), static_cast<double>(s[1])};
  double receptive = 1;
  for (std::size_t i = 0; i + 2 < s.size(); ++i) receptive *= static_cast<double>(s[i]);
  return {s[s.size() - 2] * receptive, s[s.size() - 1] * receptive};
}

std::string initializer_key(const std::string& variable) {
  if (variable == "recurrent_kernel") return "recurrent_initializer";
  if (variable == "depthwise_kernel") return "depthwise_initializer";
  if (variable == "pointwise_kernel") return "pointwise_initializer";
  return variable + "_initializer";
}

std::string default_initializer(const std::string& variable, std::size_t rank) {
  if (variable == "gamma" || variable == "moving_variance" || variable == "variance") return "Ones";
  return rank >= 2 ? "GlorotUniform" : "Zeros";
}

std::string canonical(std::string name) {
  // "glorot_uniform" -> "GlorotUniform"
  if (name.find('_') == std::string::npos && !name.empty() && std::isupper(static_cast<unsigned char>(name[0]))) return name;
  std::string out;
  bool up = true;
  for (char c : name) {
    if (c == '_') {
      up = true;
    } else {
      out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
      up = false;
    }
  }
  return out;
}

void fill(Tensor& t, const std::string& cls, const JsonValue* cfgv, std::mt19937_64& rng,
          const std::string& where) {
  const JsonValue empty(rapidjson::kObjectType);
  const JsonValue& c = cfgv != nullptr && cfgv->IsObject() ? *cfgv : empty;
  Tensor f(t.shape(), DType::Float32);
  auto v = f.mutable_values<float>();
  // Not a structured binding: clang 14 cannot capture those in lambdas.
  const std::pair<double, double> fan = fans(t.shape());
  const double fan_in = fan.first;
  const double fan_out = fan.second;
  auto uniform = [&](double lo, double hi) {
    std::uniform_real_distribution<double> d(lo, hi);
    for (float& x : v) x = static_cast<float>(d(rng));
  };
  auto normal = [&](double mean, double stddev, bool truncated) {
    std::normal_distribution<double> d(mean, stddev);
    for (float& x : v) {
      double y = d(rng);
      while (truncated && std::abs(y - mean) > 2 * stddev) y = d(rng);
      x = static_cast<float>(y);
    }
  };
  auto variance_scaling = [&](double scale, const std::string& mode, const std::string& dist) {
    const double n = mode == "fan_in" ? fan_in : mode == "fan_out" ? fan_out : (fan_in + fan_out) / 2;
    const double s = scale / std::max(1.0, n);
    if (dist == "uniform") {
      const double limit = std::sqrt(3.0 * s);
      uniform(-limit, limit);
    } else if (dist == "untruncated_normal") {
      normal(0, std::sqrt(s), false);
    } else {
      normal(0, std::sqrt(s) / 0.87962566103423978, true);
    }
  };
  if (cls == "Zeros") {
  } else if (cls == "Ones") {
    for (float& x : v) x = 1;
  } else if (cls == "Constant") {
    const double value = cfg::get_float(c, "value", where, 0.0);
    for (float& x : v) x = static_cast<float>(value);
  } else if (cls == "GlorotUniform") {
    variance_scaling(1.0, "fan_avg", "uniform");
  } else if (cls == "GlorotNormal") {
    variance_scaling(1.0, "fan_avg", "truncated_normal");
  } else if (cls == "HeUniform") {
    variance_scaling(2.0, "fan_in", "uniform");
  } else if (cls == "HeNormal") {
    variance_scaling(2.0, "fan_in", "truncated_normal");
  } else if (cls == "LecunUniform") {
    variance_scaling(1.0, "fan_in", "uniform");
  } else if (cls == "LecunNormal") {
    variance_scaling(1.0, "fan_in", "truncated_normal");
  } else if (cls == "VarianceScaling") {
    variance_scaling(cfg::get_float(c, "scale", where, 1.0), cfg::get_string(c, "mode", where, "fan_in"),
                     cfg::get_string(c, "distribution", where, "truncated_normal"));
  } else if (cls == "RandomUniform") {
    uniform(cfg::get_float(c, "minval", where, -0.05), cfg::get_float(c, "maxval", where, 0.05));
  } else if (cls == "RandomNormal") {
    normal(cfg::get_float(c, "mean", where, 0.0), cfg::get_float(c, "stddev", where, 0.05), false);
  } else if (cls == "TruncatedNormal") {
    normal(cfg::get_float(c, "mean", where, 0.0), cfg::get_float(c, "stddev", where, 0.05), true);
  } else if (cls == "Orthogonal" || cls == "Identity") {
    const std::int64_t cols = t.rank() == 0 ? 1 : t.shape().back();
    const std::int64_t rows = cols == 0 ? 0 : t.num_elements() / cols;
    const double gain = cfg::get_float(c, "gain", where, 1.0);
    ops::MatrixMap m(v.data(), rows, cols);
    if (cls == "Identity") {
      m.setIdentity();
    } else {
      ops::RowMatrix a(std::max(rows, cols), std::min(rows, cols));
      std::normal_distribution<float> d(0, 1);
      for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = d(rng);
      Eigen::HouseholderQR<ops::RowMatrix> qr(a);
      ops::RowMatrix q = qr.householderQ() * ops::RowMatrix::Identity(a.rows(), a.cols());
      if (rows < cols) {
        m = q.transpose();
      } else {
        m = q;
      }
    }
    m *= static_cast<float>(gain);
  } else {
    throw UnsupportedError(where + ": initializer '" + cls + "' is not supported");
  }
  t = f.to(t.dtype());
}

}  // namespace

void initialize_weights(Layer& layer, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (Variable& var : layer.variables()) {
    const JsonValue* init = cfg::find(layer.config(), initializer_key(var.name));
    std::string cls = default_initializer(var.name, var.value.rank());
    const JsonValue* init_cfg = nullptr;
    if (init != nullptr && init->IsString()) {
      cls = canonical(init->GetString());
    } else if (init != nullptr && init->IsObject()) {
      cls = cfg::get_string(*init, "class_name", layer.describe(), cls);
      init_cfg = cfg::find(*init, "config");
    }
    fill(var.value, cls, init_cfg, rng, layer.describe() + " '" + var.name + "'");
  }
  std::uint64_t child_seed = seed;
  for (const TrackedChild& c : layer.tracked_children()) {
    for (Layer* l : c.layers) initialize_weights(*l, ++child_seed * 0x9E3779B97F4A7C15ULL);
  }
}

}  // namespace kserde
