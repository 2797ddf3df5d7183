// Backward passes of BatchNormalization (training mode: batch statistics, and the moving
// statistics updated with Keras's rule moving = moving * momentum + batch * (1 - momentum);
// a non-trainable layer runs in inference mode, as in Keras), LayerNormalization, and Embedding.
#include <algorithm>
#include <cmath>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "training/backprop.hpp"

namespace kserde::training {

namespace {

// The normalized axis must be the last one (the channels_last layout these layers default to).
void require_last_axis(const Layer& layer, std::int64_t rank) {
  const JsonValue* a = cfg::find(layer.config(), "axis");
  std::int64_t axis = -1;
  if (a != nullptr && a->IsInt64()) {
    axis = a->GetInt64();
  } else if (a != nullptr && a->IsArray() && a->Size() == 1 && (*a)[0].IsInt64()) {
    axis = (*a)[0].GetInt64();
  } else if (a != nullptr && !a->IsNull()) {
    throw UnsupportedError(layer.describe() + ": kserde trains this layer over one axis only");
  }
  if (axis != -1 && axis != rank - 1) {
    throw UnsupportedError(layer.describe() + ": kserde trains this layer over the last axis only");
  }
}

class BatchNormBackprop final : public LayerBackprop {
 public:
  explicit BatchNormBackprop(Layer& layer) : layer_(layer) {
    const JsonValue& c = layer.config();
    epsilon_ = cfg::get_float(c, "epsilon", layer.describe(), 1e-3);
    momentum_ = cfg::get_float(c, "momentum", layer.describe(), 0.99);
    scale_ = cfg::get_bool(c, "scale", layer.describe(), true);
    center_ = cfg::get_bool(c, "center", layer.describe(), true);
    if (cfg::get_bool(c, "renorm", layer.describe(), false)) {
      throw UnsupportedError(layer.describe() + ": kserde does not train with renorm=True");
    }
  }

  TensorList forward(const TensorList& in, TrainContext&) override {
    x_ = in.at(0).to(DType::Float32);
    require_last_axis(layer_, static_cast<std::int64_t>(x_.rank()));
    auto& vars = layer_.variables();
    std::size_t i = 0;
    const Tensor* gamma = scale_ ? &vars[i++].value : nullptr;
    const Tensor* beta = center_ ? &vars[i++].value : nullptr;
    Variable& moving_mean = vars[i++];
    Variable& moving_var = vars[i++];
    c_ = x_.shape().back();
    rows_ = rows_of(x_);
    training_ = layer_.trainable();
    mean_.assign(static_cast<std::size_t>(c_), 0.0f);
    var_.assign(static_cast<std::size_t>(c_), 0.0f);
    const float* px = x_.f32();
    if (training_) {
      std::vector<double> s(static_cast<std::size_t>(c_), 0.0),
          ss(static_cast<std::size_t>(c_), 0.0);
      for (std::int64_t r = 0; r < rows_; ++r) {
        for (std::int64_t ch = 0; ch < c_; ++ch) s[static_cast<std::size_t>(ch)] += px[r * c_ + ch];
      }
      for (std::int64_t ch = 0; ch < c_; ++ch) {
        mean_[static_cast<std::size_t>(ch)] =
            static_cast<float>(s[static_cast<std::size_t>(ch)] / static_cast<double>(rows_));
      }
      for (std::int64_t r = 0; r < rows_; ++r) {
        for (std::int64_t ch = 0; ch < c_; ++ch) {
          const double dv = px[r * c_ + ch] - mean_[static_cast<std::size_t>(ch)];
          ss[static_cast<std::size_t>(ch)] += dv * dv;
        }
      }
      for (std::int64_t ch = 0; ch < c_; ++ch) {
        var_[static_cast<std::size_t>(ch)] =
            static_cast<float>(ss[static_cast<std::size_t>(ch)] / static_cast<double>(rows_));
      }
      // Keras: moving * momentum + batch * (1 - momentum), in float32.
      const auto m = static_cast<float>(momentum_);
      const auto one_minus = static_cast<float>(1.0 - momentum_);
      Tensor mm = moving_mean.value.to(DType::Float32).clone();
      Tensor mv = moving_var.value.to(DType::Float32).clone();
      for (std::int64_t ch = 0; ch < c_; ++ch) {
        mm.f32_mut()[ch] = mm.f32()[ch] * m + mean_[static_cast<std::size_t>(ch)] * one_minus;
        mv.f32_mut()[ch] = mv.f32()[ch] * m + var_[static_cast<std::size_t>(ch)] * one_minus;
      }
      moving_mean.value = mm;
      moving_var.value = mv;
    } else {
      for (std::int64_t ch = 0; ch < c_; ++ch) {
        mean_[static_cast<std::size_t>(ch)] = moving_mean.value.to(DType::Float32).f32()[ch];
        var_[static_cast<std::size_t>(ch)] = moving_var.value.to(DType::Float32).f32()[ch];
      }
    }
    inv_.resize(static_cast<std::size_t>(c_));
    for (std::int64_t ch = 0; ch < c_; ++ch) {
      inv_[static_cast<std::size_t>(ch)] =
          1.0f / std::sqrt(var_[static_cast<std::size_t>(ch)] + static_cast<float>(epsilon_));
    }
    xhat_ = Tensor::uninitialized(x_.shape(), DType::Float32);
    Tensor y = Tensor::uninitialized(x_.shape(), DType::Float32);
    float* ph = xhat_.f32_mut();
    float* py = y.f32_mut();
    for (std::int64_t r = 0; r < rows_; ++r) {
      for (std::int64_t ch = 0; ch < c_; ++ch) {
        const std::int64_t k = r * c_ + ch;
        ph[k] = (px[k] - mean_[static_cast<std::size_t>(ch)]) * inv_[static_cast<std::size_t>(ch)];
        float v = ph[k];
        if (gamma != nullptr) v *= gamma->f32()[ch];
        if (beta != nullptr) v += beta->f32()[ch];
        py[k] = v;
      }
    }
    return {y};
  }

  TensorList backward(const TensorList& d, GradMap& grads) override {
    auto& vars = layer_.variables();
    const float* dy = d.at(0).f32();
    const float* ph = xhat_.f32();
    std::size_t i = 0;
    const Variable* gamma = scale_ ? &vars[i++] : nullptr;
    const Variable* beta = center_ ? &vars[i++] : nullptr;
    std::vector<double> sum_dy(static_cast<std::size_t>(c_), 0.0),
        sum_dy_xhat(static_cast<std::size_t>(c_), 0.0);
    for (std::int64_t r = 0; r < rows_; ++r) {
      for (std::int64_t ch = 0; ch < c_; ++ch) {
        sum_dy[static_cast<std::size_t>(ch)] += dy[r * c_ + ch];
        sum_dy_xhat[static_cast<std::size_t>(ch)] +=
            static_cast<double>(dy[r * c_ + ch]) * ph[r * c_ + ch];
      }
    }
    if (gamma != nullptr) {
      Tensor g({c_}, DType::Float32);
      for (std::int64_t ch = 0; ch < c_; ++ch) {
        g.f32_mut()[ch] = static_cast<float>(sum_dy_xhat[static_cast<std::size_t>(ch)]);
      }
      accumulate(grads, *gamma, g);
    }
    if (beta != nullptr) {
      Tensor g({c_}, DType::Float32);
      for (std::int64_t ch = 0; ch < c_; ++ch) {
        g.f32_mut()[ch] = static_cast<float>(sum_dy[static_cast<std::size_t>(ch)]);
      }
      accumulate(grads, *beta, g);
    }
    Tensor dx = Tensor::uninitialized(x_.shape(), DType::Float32);
    float* o = dx.f32_mut();
    const auto m = static_cast<double>(rows_);
    for (std::int64_t r = 0; r < rows_; ++r) {
      for (std::int64_t ch = 0; ch < c_; ++ch) {
        const auto c = static_cast<std::size_t>(ch);
        const double gm = gamma != nullptr ? gamma->value.f32()[ch] : 1.0;
        const std::int64_t k = r * c_ + ch;
        if (!training_) {
          o[k] = static_cast<float>(dy[k] * gm * inv_[c]);
          continue;
        }
        // dx = gamma * inv / M * (M dy - sum dy - xhat sum(dy xhat))
        o[k] =
            static_cast<float>(gm * inv_[c] / m * (m * dy[k] - sum_dy[c] - ph[k] * sum_dy_xhat[c]));
      }
    }
    return {dx};
  }

 private:
  Layer& layer_;
  double epsilon_ = 1e-3, momentum_ = 0.99;
  bool scale_ = true, center_ = true, training_ = true;
  std::int64_t c_ = 0, rows_ = 0;
  std::vector<float> mean_, var_, inv_;
  Tensor x_, xhat_;
};

class LayerNormBackprop final : public LayerBackprop {
 public:
  explicit LayerNormBackprop(Layer& layer) : layer_(layer) {
    const JsonValue& c = layer.config();
    epsilon_ = cfg::get_float(c, "epsilon", layer.describe(), 1e-3);
    scale_ = cfg::get_bool(c, "scale", layer.describe(), true);
    center_ = cfg::get_bool(c, "center", layer.describe(), true);
    if (cfg::get_bool(c, "rms_scaling", layer.describe(), false)) {
      throw UnsupportedError(layer.describe() + ": kserde does not train with rms_scaling=True");
    }
  }

  TensorList forward(const TensorList& in, TrainContext&) override {
    const Tensor x = in.at(0).to(DType::Float32);
    require_last_axis(layer_, static_cast<std::int64_t>(x.rank()));
    c_ = x.shape().back();
    rows_ = rows_of(x);
    const float* px = x.f32();
    auto& vars = layer_.variables();
    const float* gamma = scale_ ? vars[0].value.f32() : nullptr;
    const float* beta = center_ ? vars[scale_ ? 1 : 0].value.f32() : nullptr;
    xhat_ = Tensor::uninitialized(x.shape(), DType::Float32);
    inv_.assign(static_cast<std::size_t>(rows_), 0.0f);
    Tensor y = Tensor::uninitialized(x.shape(), DType::Float32);
    float* ph = xhat_.f32_mut();
    float* py = y.f32_mut();
    for (std::int64_t r = 0; r < rows_; ++r) {
      const float* row = px + r * c_;
      double s = 0;
      for (std::int64_t i = 0; i < c_; ++i) s += row[i];
      const auto mean = static_cast<float>(s / static_cast<double>(c_));
      double ss = 0;
      for (std::int64_t i = 0; i < c_; ++i)
        ss += static_cast<double>(row[i] - mean) * (row[i] - mean);
      const auto var = static_cast<float>(ss / static_cast<double>(c_));
      const float inv = 1.0f / std::sqrt(var + static_cast<float>(epsilon_));
      inv_[static_cast<std::size_t>(r)] = inv;
      for (std::int64_t i = 0; i < c_; ++i) {
        ph[r * c_ + i] = (row[i] - mean) * inv;
        float v = ph[r * c_ + i];
        if (gamma != nullptr) v *= gamma[i];
        if (beta != nullptr) v += beta[i];
        py[r * c_ + i] = v;
      }
    }
    return {y};
  }

  TensorList backward(const TensorList& d, GradMap& grads) override {
    auto& vars = layer_.variables();
    const float* dy = d.at(0).f32();
    const float* ph = xhat_.f32();
    const float* gamma = scale_ ? vars[0].value.f32() : nullptr;
    std::vector<double> dgamma(static_cast<std::size_t>(c_), 0.0),
        dbeta(static_cast<std::size_t>(c_), 0.0);
    Tensor dx = Tensor::uninitialized(xhat_.shape(), DType::Float32);
    float* o = dx.f32_mut();
    std::vector<double> g(static_cast<std::size_t>(c_));
    for (std::int64_t r = 0; r < rows_; ++r) {
      double s = 0, sx = 0;
      for (std::int64_t i = 0; i < c_; ++i) {
        const std::int64_t k = r * c_ + i;
        dgamma[static_cast<std::size_t>(i)] += static_cast<double>(dy[k]) * ph[k];
        dbeta[static_cast<std::size_t>(i)] += dy[k];
        g[static_cast<std::size_t>(i)] =
            gamma != nullptr ? static_cast<double>(dy[k]) * gamma[i] : dy[k];
        s += g[static_cast<std::size_t>(i)];
        sx += g[static_cast<std::size_t>(i)] * ph[k];
      }
      const auto n = static_cast<double>(c_);
      for (std::int64_t i = 0; i < c_; ++i) {
        const std::int64_t k = r * c_ + i;
        o[k] = static_cast<float>(inv_[static_cast<std::size_t>(r)] / n *
                                  (n * g[static_cast<std::size_t>(i)] - s - ph[k] * sx));
      }
    }
    auto to_tensor = [&](const std::vector<double>& v) {
      Tensor t({c_}, DType::Float32);
      for (std::int64_t i = 0; i < c_; ++i)
        t.f32_mut()[i] = static_cast<float>(v[static_cast<std::size_t>(i)]);
      return t;
    };
    if (scale_) accumulate(grads, vars[0], to_tensor(dgamma));
    if (center_) accumulate(grads, vars[scale_ ? 1 : 0], to_tensor(dbeta));
    return {dx};
  }

 private:
  Layer& layer_;
  double epsilon_ = 1e-3;
  bool scale_ = true, center_ = true;
  std::int64_t c_ = 0, rows_ = 0;
  std::vector<float> inv_;
  Tensor xhat_;
};

// Embedding: a row lookup; each looked-up row receives its output's gradient (summed over
// repeats, in input order). The integer ids take no gradient.
class EmbeddingBackprop final : public LayerBackprop {
 public:
  explicit EmbeddingBackprop(Layer& layer) : layer_(layer) {}
  TensorList forward(const TensorList& in, TrainContext&) override {
    ids_ = in.at(0).to(DType::Int64);
    const Tensor& table = layer_.variables()[0].value;
    dim_ = table.dim(1);
    const std::int64_t rows = table.dim(0);
    Shape s = ids_.shape();
    s.push_back(dim_);
    Tensor y = Tensor::uninitialized(s, DType::Float32);
    float* py = y.f32_mut();
    const auto ids = ids_.values<std::int64_t>();
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= rows) {
        throw ShapeError(layer_.describe() + ": id " + std::to_string(ids[i]) + " outside [0, " +
                         std::to_string(rows) + ")");
      }
      std::copy_n(table.f32() + ids[i] * dim_, dim_, py + static_cast<std::int64_t>(i) * dim_);
    }
    return {y};
  }
  TensorList backward(const TensorList& d, GradMap& grads) override {
    const Variable& table = layer_.variables()[0];
    Tensor g(table.value.shape(), DType::Float32);
    float* pg = g.f32_mut();
    const float* pd = d.at(0).f32();
    const auto ids = ids_.values<std::int64_t>();
    for (std::size_t i = 0; i < ids.size(); ++i) {
      for (std::int64_t k = 0; k < dim_; ++k) {
        pg[ids[i] * dim_ + k] += pd[static_cast<std::int64_t>(i) * dim_ + k];
      }
    }
    accumulate(grads, table, g);
    return {Tensor()};
  }

 private:
  Layer& layer_;
  Tensor ids_;
  std::int64_t dim_ = 0;
};

}  // namespace

std::unique_ptr<LayerBackprop> make_normalization_backprop(Layer& layer) {
  const std::string cls = layer.class_name();
  if (cls == "BatchNormalization") return std::make_unique<BatchNormBackprop>(layer);
  if (cls == "LayerNormalization") return std::make_unique<LayerNormBackprop>(layer);
  if (cls == "Embedding") {
    if (cfg::get_bool(layer.config(), "mask_zero", layer.describe(), false)) {
      throw UnsupportedError(layer.describe() + ": kserde does not train with mask_zero=True");
    }
    if (layer.variables().size() != 1 || layer.variables()[0].value.dtype() != DType::Float32) {
      throw UnsupportedError(layer.describe() + ": only a plain float32 Embedding can be trained");
    }
    return std::make_unique<EmbeddingBackprop>(layer);
  }
  return nullptr;
}

}  // namespace kserde::training
