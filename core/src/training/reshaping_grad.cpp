// Backward passes of layers that move or mask values without variables: InputLayer, Flatten,
// Reshape (gradients are reshaped back), Dropout (the training-mode mask, seeded), and the merge
// layers Add, Subtract, Multiply, Average, Concatenate.
#include <cstring>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "training/backprop.hpp"

namespace kserde::training {

namespace {

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Gradients take the input's shape back (Flatten, Reshape, InputLayer).
class ReshapeBackprop final : public LayerBackprop {
 public:
  explicit ReshapeBackprop(Layer& layer) : layer_(layer) {}
  TensorList forward(const TensorList& in, TrainContext&) override {
    in_shape_ = in.at(0).shape();
    CallContext ctx;
    ctx.training = true;
    return layer_.call(in, ctx);
  }
  TensorList backward(const TensorList& d, GradMap&) override {
    return {d.at(0).clone().reshaped(in_shape_)};
  }

 private:
  Layer& layer_;
  Shape in_shape_;
};

// Keras's Dropout in training: x * mask / (1 - rate), mask[i] = (u_i >= rate) for uniform u_i
// drawn from (seed, step, this call's stream, i).
class DropoutBackprop final : public LayerBackprop {
 public:
  DropoutBackprop(double rate, std::uint64_t stream) : rate_(rate), stream_(stream) {}
  TensorList forward(const TensorList& in, TrainContext& ctx) override {
    const Tensor x = in.at(0).to(DType::Float32);
    scale_ = Tensor::uninitialized(x.shape(), DType::Float32);
    Tensor y = Tensor::uninitialized(x.shape(), DType::Float32);
    const std::uint64_t key =
        mix(mix(ctx.seed) ^ mix(static_cast<std::uint64_t>(ctx.step) + 0x51ed27ULL) ^
            mix(stream_ + 0xd1b54a32d192ed03ULL));
    const float keep_scale = rate_ < 1.0 ? static_cast<float>(1.0 / (1.0 - rate_)) : 0.0f;
    float* s = scale_.f32_mut();
    float* py = y.f32_mut();
    const float* px = x.f32();
    for (std::int64_t i = 0; i < x.num_elements(); ++i) {
      const double u =
          static_cast<double>(mix(key ^ static_cast<std::uint64_t>(i)) >> 11) * 0x1.0p-53;
      s[i] = u >= rate_ ? keep_scale : 0.0f;
      py[i] = px[i] * s[i];
    }
    return {y};
  }
  TensorList backward(const TensorList& d, GradMap&) override {
    Tensor dx = Tensor::uninitialized(scale_.shape(), DType::Float32);
    const float* pd = d.at(0).f32();
    const float* s = scale_.f32();
    float* o = dx.f32_mut();
    for (std::int64_t i = 0; i < dx.num_elements(); ++i) o[i] = pd[i] * s[i];
    return {dx};
  }

 private:
  double rate_;
  std::uint64_t stream_;
  Tensor scale_;
};

// Elementwise merges of same-shape inputs.
class MergeBackprop final : public LayerBackprop {
 public:
  MergeBackprop(Layer& layer, std::string kind) : layer_(layer), kind_(std::move(kind)) {}
  TensorList forward(const TensorList& in, TrainContext&) override {
    inputs_.clear();
    for (const Tensor& t : in) {
      if (t.shape() != in.at(0).shape()) {
        throw UnsupportedError(layer_.describe() + ": kserde trains " + kind_ +
                               " only on inputs of one shape (no broadcasting)");
      }
      inputs_.push_back(t.to(DType::Float32));
    }
    CallContext ctx;
    ctx.training = true;
    return layer_.call(in, ctx);
  }
  TensorList backward(const TensorList& d, GradMap&) override {
    const Tensor& g = d.at(0);
    const std::int64_t n = g.num_elements();
    TensorList out;
    for (std::size_t k = 0; k < inputs_.size(); ++k) {
      Tensor dx = Tensor::uninitialized(g.shape(), DType::Float32);
      float* o = dx.f32_mut();
      const float* pg = g.f32();
      if (kind_ == "Add") {
        std::memcpy(o, pg, static_cast<std::size_t>(n) * sizeof(float));
      } else if (kind_ == "Subtract") {
        for (std::int64_t i = 0; i < n; ++i) o[i] = k == 0 ? pg[i] : -pg[i];
      } else if (kind_ == "Average") {
        const auto inv = 1.0f / static_cast<float>(inputs_.size());
        for (std::int64_t i = 0; i < n; ++i) o[i] = pg[i] * inv;
      } else {  // Multiply: the product of the other inputs
        for (std::int64_t i = 0; i < n; ++i) {
          float p = pg[i];
          for (std::size_t j = 0; j < inputs_.size(); ++j) {
            if (j != k) p *= inputs_[j].f32()[i];
          }
          o[i] = p;
        }
      }
      out.push_back(dx);
    }
    return out;
  }

 private:
  Layer& layer_;
  std::string kind_;
  TensorList inputs_;
};

// Concatenate along `axis`: each input takes its slice of the gradient back.
class ConcatenateBackprop final : public LayerBackprop {
 public:
  ConcatenateBackprop(Layer& layer, std::int64_t axis) : layer_(layer), axis_(axis) {}
  TensorList forward(const TensorList& in, TrainContext&) override {
    shapes_.clear();
    for (const Tensor& t : in) shapes_.push_back(t.shape());
    CallContext ctx;
    ctx.training = true;
    return layer_.call(in, ctx);
  }
  TensorList backward(const TensorList& d, GradMap&) override {
    const Tensor& g = d.at(0);
    const auto rank = static_cast<std::int64_t>(g.rank());
    const std::int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    std::int64_t outer = 1, inner = 1;
    for (std::int64_t i = 0; i < axis; ++i) outer *= g.dim(static_cast<std::size_t>(i));
    for (std::int64_t i = axis + 1; i < rank; ++i) inner *= g.dim(static_cast<std::size_t>(i));
    const std::int64_t total = g.dim(static_cast<std::size_t>(axis));
    TensorList out;
    std::int64_t offset = 0;
    for (const Shape& s : shapes_) {
      const std::int64_t len = s[static_cast<std::size_t>(axis)];
      Tensor dx = Tensor::uninitialized(s, DType::Float32);
      float* o = dx.f32_mut();
      const float* pg = g.f32();
      for (std::int64_t a = 0; a < outer; ++a) {
        std::memcpy(o + a * len * inner, pg + (a * total + offset) * inner,
                    static_cast<std::size_t>(len * inner) * sizeof(float));
      }
      offset += len;
      out.push_back(dx);
    }
    return out;
  }

 private:
  Layer& layer_;
  std::int64_t axis_;
  std::vector<Shape> shapes_;
};

}  // namespace

std::unique_ptr<LayerBackprop> make_reshaping_backprop(Layer& layer, TrainContext& ctx) {
  const std::string cls = layer.class_name();
  const JsonValue& c = layer.config();
  if (cls == "InputLayer" || cls == "Reshape") return std::make_unique<ReshapeBackprop>(layer);
  if (cls == "Flatten") {
    if (cfg::get_string(c, "data_format", layer.describe(), "channels_last") == "channels_first") {
      throw UnsupportedError(layer.describe() +
                             ": kserde trains Flatten only with data_format channels_last");
    }
    return std::make_unique<ReshapeBackprop>(layer);
  }
  if (cls == "Dropout") {
    if (cfg::has_non_null(c, "noise_shape")) {
      throw UnsupportedError(layer.describe() + ": kserde trains Dropout without noise_shape only");
    }
    return std::make_unique<DropoutBackprop>(cfg::get_float(c, "rate", layer.describe()),
                                             ctx.next_stream++);
  }
  if (cls == "Add" || cls == "Subtract" || cls == "Multiply" || cls == "Average") {
    return std::make_unique<MergeBackprop>(layer, cls);
  }
  if (cls == "Concatenate") {
    return std::make_unique<ConcatenateBackprop>(layer,
                                                 cfg::get_int(c, "axis", layer.describe(), -1));
  }
  return nullptr;
}

}  // namespace kserde::training
