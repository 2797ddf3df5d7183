// Backward passes of Conv1D/2D/3D (groups = 1) through an explicit window matrix ("im2col"):
// z = cols @ kernel + bias, so d kernel = cols^T @ dz and d cols = dz @ kernel^T, whose rows are
// added back to the input positions they were read from, in a fixed order.
#include <cstring>

#include "json/config_access.hpp"
#include "kserde/error.hpp"
#include "layers/convolutional/spatial.hpp"
#include "ops/gemm.hpp"
#include "training/backprop.hpp"

namespace kserde::training {

namespace {

// The first input of a convolution or pooling layer over `rank` spatial dims, as float32 in
// channels_last order; ShapeError naming the layer for another rank.
Tensor channels_last_input(const TensorList& in, std::size_t rank, bool channels_first,
                           const Layer& layer) {
  Tensor x = in.at(0).to(DType::Float32);
  if (x.rank() != rank + 2) {
    throw ShapeError(layer.describe() + ": expected an input of rank " + std::to_string(rank + 2) +
                     ", got " + shape_to_string(x.shape()));
  }
  return channels_first ? spatial::to_channels_last(x) : x;
}

// The window geometry of a convolution or pooling layer over channels_last input dims.
struct Windows {
  spatial::Dims in, out, k, stride, dilation, pad;
  std::int64_t positions() const { return spatial::product(out); }
  std::int64_t taps() const { return spatial::product(k); }
  // Input offset (in spatial elements, -1 when in padding) of output position `o`, tap `t`.
  void offsets(std::int64_t o, std::vector<std::int64_t>& result) const {
    const std::size_t r = in.size();
    spatial::Dims oi(r, 0), ti(r, 0);
    for (std::size_t d = r; d-- > 0;) {
      oi[d] = o % out[d];
      o /= out[d];
    }
    result.clear();
    do {
      std::int64_t flat = 0;
      bool inside = true;
      for (std::size_t d = 0; d < r; ++d) {
        const std::int64_t p = oi[d] * stride[d] - pad[d] + ti[d] * dilation[d];
        if (p < 0 || p >= in[d]) inside = false;
        flat = flat * in[d] + p;
      }
      result.push_back(inside ? flat : -1);
    } while (spatial::next_index(ti, k));
  }
};

Windows make_windows(const Shape& x_channels_last, const spatial::Dims& k,
                     const spatial::Dims& stride, const spatial::Dims& dilation,
                     spatial::Padding padding, const std::string& where) {
  Windows w;
  w.k = k;
  w.stride = stride;
  w.dilation = dilation;
  for (std::size_t d = 0; d < k.size(); ++d) {
    const std::int64_t n = x_channels_last[d + 1];
    const std::int64_t keff = spatial::effective_size(k[d], dilation[d]);
    const std::int64_t o = spatial::output_length(n, keff, stride[d], padding);
    if (o <= 0) throw ShapeError(where + ": input too short for its window");
    w.in.push_back(n);
    w.out.push_back(o);
    w.pad.push_back(spatial::pad_before(n, keff, stride[d], padding));
  }
  return w;
}

class ConvBackprop final : public LayerBackprop {
 public:
  ConvBackprop(Layer& layer, std::size_t rank) : layer_(layer), rank_(rank) {
    const JsonValue& c = layer.config();
    const std::string& where = layer.describe();
    k_ = spatial::parse_tuple(c, "kernel_size", where, rank, 1);
    stride_ = spatial::parse_tuple(c, "strides", where, rank, 1);
    dilation_ = spatial::parse_tuple(c, "dilation_rate", where, rank, 1);
    padding_ = spatial::parse_padding(c, where, rank == 1);
    channels_first_ = spatial::parse_channels_first(c, where);
    activation_ = activation_name(layer);
  }

  TensorList forward(const TensorList& in, TrainContext&) override {
    Tensor x = channels_last_input(in, rank_, channels_first_, layer_);
    x_shape_ = x.shape();
    const Tensor& kernel = layer_.variables()[0].value;
    channels_ = x.shape().back();
    filters_ = kernel.shape().back();
    win_ = make_windows(x.shape(), k_, stride_, dilation_, padding_, layer_.describe());
    batch_ = x.dim(0);
    const std::int64_t rows = batch_ * win_.positions();
    const std::int64_t width = win_.taps() * channels_;
    if (kernel.num_elements() != width * filters_) {
      throw ShapeError(layer_.describe() + ": kernel " + shape_to_string(kernel.shape()) +
                       " does not fit input " + shape_to_string(x.shape()));
    }
    cols_ = Tensor(Shape{rows, width}, DType::Float32);
    float* cols = cols_.f32_mut();
    const float* px = x.f32();
    const std::int64_t per_image = spatial::product(win_.in) * channels_;
    std::vector<std::int64_t> offs;
    offsets_.clear();
    for (std::int64_t o = 0; o < win_.positions(); ++o) {
      win_.offsets(o, offs);
      offsets_.push_back(offs);
    }
    for (std::int64_t n = 0; n < batch_; ++n) {
      for (std::int64_t o = 0; o < win_.positions(); ++o) {
        float* row = cols + (n * win_.positions() + o) * width;
        const auto& of = offsets_[static_cast<std::size_t>(o)];
        for (std::size_t t = 0; t < of.size(); ++t) {
          if (of[t] < 0) continue;
          std::memcpy(row + static_cast<std::int64_t>(t) * channels_,
                      px + n * per_image + of[t] * channels_,
                      static_cast<std::size_t>(channels_) * sizeof(float));
        }
      }
    }
    Shape out_shape{batch_};
    for (std::int64_t o : win_.out) out_shape.push_back(o);
    out_shape.push_back(filters_);
    z_ = Tensor(out_shape, DType::Float32);
    ops::gemm(rows, filters_, width, cols, width, kernel.f32(), filters_, z_.f32_mut(), filters_);
    if (layer_.variables().size() > 1) {
      const float* b = layer_.variables()[1].value.f32();
      float* z = z_.f32_mut();
      for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t f = 0; f < filters_; ++f) z[r * filters_ + f] += b[f];
      }
    }
    y_ = z_.clone();
    activation_forward(activation_, y_);
    return {channels_first_ ? spatial::to_channels_first(y_) : y_};
  }

  TensorList backward(const TensorList& d, GradMap& grads) override {
    Tensor dy = d.at(0).to(DType::Float32);
    if (channels_first_) dy = spatial::to_channels_last(dy);
    const Tensor dz = activation_backward(activation_, z_, y_, dy);
    const Variable& kernel = layer_.variables()[0];
    const std::int64_t rows = batch_ * win_.positions();
    const std::int64_t width = win_.taps() * channels_;
    const Tensor cols_t = transpose2d(cols_.f32(), rows, width);
    Tensor dk(kernel.value.shape(), DType::Float32);
    ops::gemm(width, filters_, rows, cols_t.f32(), rows, dz.f32(), filters_, dk.f32_mut(),
              filters_);
    accumulate(grads, kernel, dk);
    if (layer_.variables().size() > 1) {
      Tensor db({filters_}, DType::Float32);
      float* pb = db.f32_mut();
      const float* pz = dz.f32();
      for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t f = 0; f < filters_; ++f) pb[f] += pz[r * filters_ + f];
      }
      accumulate(grads, layer_.variables()[1], db);
    }
    const Tensor kt = transpose2d(kernel.value.f32(), width, filters_);
    Tensor dcols(Shape{rows, width}, DType::Float32);
    ops::gemm(rows, width, filters_, dz.f32(), filters_, kt.f32(), width, dcols.f32_mut(), width);
    Tensor dx(x_shape_, DType::Float32);
    float* pdx = dx.f32_mut();
    const float* pc = dcols.f32();
    const std::int64_t per_image = spatial::product(win_.in) * channels_;
    for (std::int64_t n = 0; n < batch_; ++n) {
      for (std::int64_t o = 0; o < win_.positions(); ++o) {
        const float* row = pc + (n * win_.positions() + o) * width;
        const auto& of = offsets_[static_cast<std::size_t>(o)];
        for (std::size_t t = 0; t < of.size(); ++t) {
          if (of[t] < 0) continue;
          float* dst = pdx + n * per_image + of[t] * channels_;
          const float* src = row + static_cast<std::int64_t>(t) * channels_;
          for (std::int64_t c = 0; c < channels_; ++c) dst[c] += src[c];
        }
      }
    }
    return {channels_first_ ? spatial::to_channels_first(dx) : dx};
  }

 private:
  Layer& layer_;
  std::size_t rank_;
  spatial::Dims k_, stride_, dilation_;
  spatial::Padding padding_ = spatial::Padding::Valid;
  bool channels_first_ = false;
  std::string activation_;
  Windows win_;
  std::vector<std::vector<std::int64_t>> offsets_;
  Shape x_shape_;
  std::int64_t channels_ = 0, filters_ = 0, batch_ = 0;
  Tensor cols_, z_, y_;
};

// Max and average pooling: max passes each window's gradient to its first largest element;
// average spreads it over the window's elements inside the input (padding is not counted).
class PoolBackprop final : public LayerBackprop {
 public:
  PoolBackprop(Layer& layer, std::size_t rank, bool max) : layer_(layer), rank_(rank), max_(max) {
    const JsonValue& c = layer.config();
    const std::string& where = layer.describe();
    k_ = spatial::parse_tuple(c, "pool_size", where, rank, 2);
    stride_ =
        cfg::has_non_null(c, "strides") ? spatial::parse_tuple(c, "strides", where, rank, 1) : k_;
    padding_ = spatial::parse_padding(c, where, false);
    channels_first_ = spatial::parse_channels_first(c, where);
  }

  TensorList forward(const TensorList& in, TrainContext&) override {
    Tensor x = channels_last_input(in, rank_, channels_first_, layer_);
    x_shape_ = x.shape();
    channels_ = x.shape().back();
    batch_ = x.dim(0);
    win_ =
        make_windows(x.shape(), k_, stride_, spatial::Dims(rank_, 1), padding_, layer_.describe());
    Shape out_shape{batch_};
    for (std::int64_t o : win_.out) out_shape.push_back(o);
    out_shape.push_back(channels_);
    Tensor y(out_shape, DType::Float32);
    const std::int64_t per_image = spatial::product(win_.in) * channels_;
    const std::int64_t positions = win_.positions();
    offsets_.clear();
    std::vector<std::int64_t> offs;
    for (std::int64_t o = 0; o < positions; ++o) {
      win_.offsets(o, offs);
      offsets_.push_back(offs);
    }
    argmax_.assign(static_cast<std::size_t>(y.num_elements()), -1);
    const float* px = x.f32();
    float* py = y.f32_mut();
    for (std::int64_t n = 0; n < batch_; ++n) {
      for (std::int64_t o = 0; o < positions; ++o) {
        const auto& of = offsets_[static_cast<std::size_t>(o)];
        for (std::int64_t c = 0; c < channels_; ++c) {
          const std::int64_t out_index = (n * positions + o) * channels_ + c;
          float acc = 0;
          std::int64_t count = 0, best = -1;
          for (std::int64_t t : of) {
            if (t < 0) continue;
            const std::int64_t idx = n * per_image + t * channels_ + c;
            const float v = px[idx];
            if (max_) {
              if (best < 0 || acc < v) {
                acc = v;
                best = idx;
              }
            } else {
              acc += v;
            }
            ++count;
          }
          if (max_) {
            argmax_[static_cast<std::size_t>(out_index)] = best;
          } else if (count > 0) {
            acc *= 1.0f / static_cast<float>(count);
          }
          py[out_index] = acc;
        }
      }
    }
    return {channels_first_ ? spatial::to_channels_first(y) : y};
  }

  TensorList backward(const TensorList& d, GradMap&) override {
    Tensor dy = d.at(0).to(DType::Float32);
    if (channels_first_) dy = spatial::to_channels_last(dy);
    Tensor dx(x_shape_, DType::Float32);
    float* pdx = dx.f32_mut();
    const float* pdy = dy.f32();
    const std::int64_t per_image = spatial::product(win_.in) * channels_;
    const std::int64_t positions = win_.positions();
    for (std::int64_t n = 0; n < batch_; ++n) {
      for (std::int64_t o = 0; o < positions; ++o) {
        const auto& of = offsets_[static_cast<std::size_t>(o)];
        std::int64_t count = 0;
        for (std::int64_t t : of) count += t >= 0 ? 1 : 0;
        for (std::int64_t c = 0; c < channels_; ++c) {
          const std::int64_t out_index = (n * positions + o) * channels_ + c;
          if (max_) {
            const std::int64_t best = argmax_[static_cast<std::size_t>(out_index)];
            if (best >= 0) pdx[best] += pdy[out_index];
            continue;
          }
          if (count == 0) continue;
          const float share = pdy[out_index] * (1.0f / static_cast<float>(count));
          for (std::int64_t t : of) {
            if (t >= 0) pdx[n * per_image + t * channels_ + c] += share;
          }
        }
      }
    }
    return {channels_first_ ? spatial::to_channels_first(dx) : dx};
  }

 private:
  Layer& layer_;
  std::size_t rank_;
  bool max_;
  spatial::Dims k_, stride_;
  spatial::Padding padding_ = spatial::Padding::Valid;
  bool channels_first_ = false;
  Windows win_;
  std::vector<std::vector<std::int64_t>> offsets_;
  std::vector<std::int64_t> argmax_;
  Shape x_shape_;
  std::int64_t channels_ = 0, batch_ = 0;
};

// GlobalAveragePooling / GlobalMaxPooling over every spatial axis (keepdims honoured).
class GlobalPoolBackprop final : public LayerBackprop {
 public:
  GlobalPoolBackprop(Layer& layer, bool max) : layer_(layer), max_(max) {
    channels_first_ = spatial::parse_channels_first(layer.config(), layer.describe());
  }
  TensorList forward(const TensorList& in, TrainContext&) override {
    Tensor x = in.at(0).to(DType::Float32);
    if (x.rank() < 3) throw ShapeError(layer_.describe() + ": needs an input of rank >= 3");
    if (channels_first_) x = spatial::to_channels_last(x);
    x_shape_ = x.shape();
    const std::int64_t n = x.dim(0), c = x.shape().back();
    const std::int64_t s = x.num_elements() / (n * c);
    x_ = x;
    CallContext ctx;
    ctx.training = true;
    TensorList out = layer_.call(in, ctx);
    out_shape_ = out.at(0).shape();
    argmax_.assign(static_cast<std::size_t>(n * c), 0);
    if (max_) {
      const float* px = x.f32();
      for (std::int64_t b = 0; b < n; ++b) {
        for (std::int64_t ch = 0; ch < c; ++ch) {
          std::int64_t best = 0;
          for (std::int64_t i = 1; i < s; ++i) {
            if (px[(b * s + best) * c + ch] < px[(b * s + i) * c + ch]) best = i;
          }
          argmax_[static_cast<std::size_t>(b * c + ch)] = best;
        }
      }
    }
    return out;
  }
  TensorList backward(const TensorList& d, GradMap&) override {
    // The output is (N, C) or with keepdims (N, 1.., C) / (N, C, 1..): C values per sample either
    // way, in channel order.
    const Tensor& dy = d.at(0);
    const std::int64_t n = x_shape_[0], c = x_shape_.back();
    const std::int64_t s = x_.num_elements() / (n * c);
    Tensor dx(x_shape_, DType::Float32);
    float* pdx = dx.f32_mut();
    const float* pdy = dy.f32();
    const float inv = 1.0f / static_cast<float>(s);
    for (std::int64_t b = 0; b < n; ++b) {
      for (std::int64_t ch = 0; ch < c; ++ch) {
        const float g = pdy[b * c + ch];
        if (max_) {
          pdx[(b * s + argmax_[static_cast<std::size_t>(b * c + ch)]) * c + ch] = g;
        } else {
          for (std::int64_t i = 0; i < s; ++i) pdx[(b * s + i) * c + ch] = g * inv;
        }
      }
    }
    return {channels_first_ ? spatial::to_channels_first(dx) : dx};
  }

 private:
  Layer& layer_;
  bool max_;
  bool channels_first_ = false;
  Shape x_shape_, out_shape_;
  Tensor x_;
  std::vector<std::int64_t> argmax_;
};

}  // namespace

std::unique_ptr<LayerBackprop> make_conv_backprop(Layer& layer) {
  const std::string cls = layer.class_name();
  for (std::size_t r = 1; r <= 3; ++r) {
    const std::string suffix = std::to_string(r) + "D";
    if (cls == "Conv" + suffix) {
      if (cfg::get_int(layer.config(), "groups", layer.describe(), 1) != 1) {
        throw UnsupportedError(layer.describe() + ": kserde trains convolutions with groups=1");
      }
      const std::string act = activation_name(layer);
      if (!activation_has_backprop(act)) {
        throw UnsupportedError(layer.describe() + ": activation '" + act +
                               "' has no backward pass in kserde");
      }
      if (layer.variables().empty() || layer.variables().size() > 2) {
        throw UnsupportedError(layer.describe() + ": unexpected variables for training");
      }
      return std::make_unique<ConvBackprop>(layer, r);
    }
    if (cls == "MaxPooling" + suffix) return std::make_unique<PoolBackprop>(layer, r, true);
    if (cls == "AveragePooling" + suffix) return std::make_unique<PoolBackprop>(layer, r, false);
    if (cls == "GlobalAveragePooling" + suffix) {
      return std::make_unique<GlobalPoolBackprop>(layer, false);
    }
    if (cls == "GlobalMaxPooling" + suffix)
      return std::make_unique<GlobalPoolBackprop>(layer, true);
  }
  return nullptr;
}

}  // namespace kserde::training
