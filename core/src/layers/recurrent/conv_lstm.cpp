// keras.layers.ConvLSTM1D/2D/3D: an LSTM whose input and recurrent transformations are
// convolutions. Over inputs (batch, steps, *spatial, channels) (channels_first: (batch, steps,
// channels, *spatial)), for each step with gates split i, f, c, o along the last kernel axis:
//   z = conv(x_t, kernel; strides, padding, dilation) + bias + conv(h, recurrent_kernel; 'same')
//   i, f, o = recurrent_activation(z_i, z_f, z_o);  c = f * c + i * activation(z_c)
//   h = o * activation(c)
// The layer has no variables of its own; its cell's are at <layer>/cell/vars: 0 kernel
// (*kernel_size, channels, 4 * filters), 1 recurrent_kernel (*kernel_size, filters, 4 * filters),
// 2 bias (4 * filters). Masks, go_backwards, return_sequences, return_state and initial states
// (extra positional inputs h, c) follow the RNN layers (recurrent_layer.cpp); outputs carry no
// mask. Computed in float32 whatever the policy (the model casts the outputs).
#include <algorithm>

#include "layers/convolutional/conv_kernels.hpp"
#include "layers/convolutional/spatial.hpp"
#include "layers/recurrent/rnn_cell.hpp"

namespace kserde {

namespace {

using spatial::Dims;

// The cell: owns the variables; the layer steps it.
class ConvLSTMCell final : public Layer {
 public:
  ConvLSTMCell(std::shared_ptr<JsonDocument> d, std::int64_t filters, Dims kernel_size,
               bool use_bias)
      : Layer(std::move(d)),
        filters_(filters),
        kernel_size_(std::move(kernel_size)),
        use_bias_(use_bias) {}

  TensorList call(const TensorList&, CallContext&) override {
    throw UnsupportedError(describe() + ": the cell runs inside its ConvLSTM layer only");
  }

  const Tensor& kernel() const { return weight(0); }
  const Tensor& recurrent_kernel() const { return weight(1); }
  const Tensor* bias() const { return use_bias_ ? &weight(2) : nullptr; }

 protected:
  // in[0]: the channel count as a (1) shape.
  void build_impl(const std::vector<Shape>& in) override {
    Shape k(kernel_size_.begin(), kernel_size_.end());
    Shape kernel = k;
    kernel.push_back(in.at(0).at(0));
    kernel.push_back(4 * filters_);
    Shape recurrent = k;
    recurrent.push_back(filters_);
    recurrent.push_back(4 * filters_);
    add_weight("kernel", kernel);
    add_weight("recurrent_kernel", recurrent);
    if (use_bias_) add_weight("bias", {4 * filters_});
  }

 private:
  std::int64_t filters_;
  Dims kernel_size_;
  bool use_bias_;
};

std::shared_ptr<JsonDocument> cell_dict(const JsonValue& dtype) {
  auto doc = std::make_shared<JsonDocument>();
  doc->SetObject();
  auto& a = doc->GetAllocator();
  doc->AddMember("module", "keras.src.layers.rnn.conv_lstm", a);
  doc->AddMember("class_name", "ConvLSTMCell", a);
  JsonValue c(rapidjson::kObjectType);
  c.AddMember("name", "conv_lstm_cell", a);
  c.AddMember("trainable", true, a);
  JsonValue dt;
  dt.CopyFrom(dtype, a);
  c.AddMember("dtype", dt, a);
  doc->AddMember("config", c, a);
  doc->AddMember("registered_name", JsonValue(), a);
  return doc;
}

// (n, *spatial, channels) <-> the layer's data format, for float32 tensors.
Tensor from_layer_format(const Tensor& t, bool channels_first) {
  return channels_first ? spatial::to_channels_last(t) : t;
}
Tensor to_layer_format(const Tensor& t, bool channels_first) {
  return channels_first ? spatial::to_channels_first(t) : t;
}

class ConvLSTMBase : public Layer {
 public:
  ConvLSTMBase(std::shared_ptr<JsonDocument> d, Deserializer& ctx, std::size_t rank)
      : Layer(std::move(d)), rank_(rank) {
    config_default("trainable", "true");
    config_default("dtype", detail::kDefaultDTypePolicy);
    config_default("return_sequences", "false");
    config_default("return_state", "false");
    config_default("go_backwards", "false");
    config_default("stateful", "false");
    config_default("unroll", "false");
    config_default("zero_output_for_mask", "false");
    config_default("strides", "1");
    config_default("padding", "\"valid\"");
    config_default("data_format", "\"channels_last\"");
    config_default("dilation_rate", "1");
    config_default("activation", "\"tanh\"");
    config_default("recurrent_activation", "\"sigmoid\"");
    config_default("use_bias", "true");
    config_default("kernel_initializer", detail::kGlorotUniform);
    config_default(
        "recurrent_initializer",
        R"({"module": "keras.initializers", "class_name": "Orthogonal", "config": {"seed": null, "gain": 1.0}, "registered_name": null})");
    config_default("bias_initializer", detail::kZeros);
    config_default("unit_forget_bias", "true");
    for (const char* key :
         {"kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
          "kernel_constraint", "recurrent_constraint", "bias_constraint", "seed"}) {
      config_default(key, "null");
    }
    config_default("dropout", "0.0");
    config_default("recurrent_dropout", "0.0");
    const std::string where = describe();
    const JsonValue& c = config();
    filters_ = cfg::get_int(c, "filters", where);
    if (filters_ <= 0 || filters_ > cfg::kMaxShapeElements / 4) {
      cfg::fail(where, "filters must be a positive integer, got " + std::to_string(filters_));
    }
    if (cfg::find(c, "kernel_size") == nullptr) cfg::fail(where, "config has no 'kernel_size'");
    kernel_size_ = spatial::parse_tuple(c, "kernel_size", where, rank_, 1);
    strides_ = spatial::parse_tuple(c, "strides", where, rank_, 1);
    dilation_ = spatial::parse_tuple(c, "dilation_rate", where, rank_, 1);
    padding_ = spatial::parse_padding(c, where, false);
    channels_first_ = spatial::parse_channels_first(c, where);
    if (*std::max_element(strides_.begin(), strides_.end()) > 1 &&
        *std::max_element(dilation_.begin(), dilation_.end()) > 1) {
      cfg::fail(where, "strides > 1 are not compatible with dilation_rate > 1");
    }
    spatial::write_tuple(object_dict(), "kernel_size", kernel_size_);
    spatial::write_tuple(object_dict(), "strides", strides_);
    spatial::write_tuple(object_dict(), "dilation_rate", dilation_);
    spatial::write_string(object_dict(), "padding", spatial::padding_name(padding_));
    spatial::write_string(object_dict(), "data_format",
                          channels_first_ ? "channels_first" : "channels_last");
    activation_ = ctx.activation(cfg::find(c, "activation"), where);
    recurrent_activation_ = ctx.activation(cfg::find(c, "recurrent_activation"), where);
    return_sequences_ = cfg::get_bool(c, "return_sequences", where, false);
    return_state_ = cfg::get_bool(c, "return_state", where, false);
    go_backwards_ = cfg::get_bool(c, "go_backwards", where, false);
    stateful_ = cfg::get_bool(c, "stateful", where, false);
    zero_output_for_mask_ = cfg::get_bool(c, "zero_output_for_mask", where, false);
    (void)cfg::get_float(c, "dropout", where, 0.0);  // training only
    (void)cfg::get_float(c, "recurrent_dropout", where, 0.0);
    cell_ = std::make_shared<ConvLSTMCell>(cell_dict(*cfg::find(c, "dtype")), filters_,
                                           kernel_size_, cfg::get_bool(c, "use_bias", where, true));
  }

  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    const std::string& w = describe();
    if (inputs.empty()) throw ShapeError(w + " expects a sequence input");
    if (stateful_) {
      throw UnsupportedError(w + ": stateful=True (state kept across calls) is not supported");
    }
    const Tensor x = ops::as_float32(inputs[0]);
    step_geometry(x.shape());  // rank and channel checks
    if (!built()) build({detail::symbolic(x.shape())});
    const std::int64_t channels = cell_->kernel().dim(rank_);
    if (spatial::channels_of(step_shape(x.shape()), channels_first_) != channels) {
      throw ShapeError(w + ": expected " + std::to_string(channels) + " channels, got " +
                       shape_to_string(x.shape()));
    }
    const std::int64_t batch = x.dim(0);
    const std::int64_t steps = x.dim(1);
    if (steps == 0) throw ShapeError(w + ": the input has no time steps");
    const conv::Geometry g = step_geometry(x.shape());
    const std::int64_t positions = spatial::product(g.out);
    const std::int64_t f = filters_;
    const Shape state_shape = spatial::make_shape(batch, g.out, f, false);  // channels_last

    // The input half of every step at once: (batch * steps, *out, 4f), bias included.
    Shape merged = step_shape(x.shape());
    merged[0] = batch * steps;
    const Tensor xs = from_layer_format(x.reshaped(merged), channels_first_);
    const Tensor* bias = cell_->bias();
    const Tensor xin = conv::convolve(xs, cell_->kernel(), 1, g,
                                      conv::Epilogue{bias != nullptr ? bias->f32() : nullptr});

    // Initial states: extra positional inputs (h, c) in the layer's data format.
    Tensor h = Tensor::recycled_zeros(state_shape, DType::Float32);
    Tensor c = Tensor::recycled_zeros(state_shape, DType::Float32);
    if (inputs.size() > 1) {
      if (inputs.size() != 3) {
        throw ShapeError(w + ": expected 2 initial state tensors (h, c), got " +
                         std::to_string(inputs.size() - 1));
      }
      const Shape want = spatial::make_shape(batch, g.out, f, channels_first_);
      for (std::size_t s = 1; s < 3; ++s) {
        if (inputs[s].shape() != want) {
          throw ShapeError(w + ": initial state " + std::to_string(s - 1) + " must have shape " +
                           shape_to_string(want) + ", got " + shape_to_string(inputs[s].shape()));
        }
      }
      h = from_layer_format(ops::as_float32(inputs[1]), channels_first_).clone();
      c = from_layer_format(ops::as_float32(inputs[2]), channels_first_).clone();
    }

    // Mask (batch, steps): an explicit "mask" keyword wins over the input's mask.
    std::optional<Tensor> mask;
    if (auto it = ctx.kwargs.find("mask"); it != ctx.kwargs.end()) {
      mask = it->second;
    } else if (!ctx.input_masks.empty() && ctx.input_masks[0]) {
      mask = *ctx.input_masks[0];
    }
    detail::ByteBuffer keep;
    if (mask) {
      if (mask->rank() < 2 || mask->dim(0) != batch || mask->dim(1) != steps ||
          mask->num_elements() != batch * steps) {
        throw ShapeError(w + ": mask of shape " + shape_to_string(mask->shape()) +
                         " does not match inputs " + shape_to_string(x.shape()));
      }
      const Tensor mb = mask->to(DType::Bool);
      for (bool v : mb.values<bool>()) keep.push_back(v ? 1 : 0);
    }

    const std::int64_t per_sample = positions * f;  // one sample's state
    const std::int64_t rows = batch * positions;
    Tensor out = Tensor::recycled_zeros(state_shape, DType::Float32);  // the last output
    Tensor seq;
    if (return_sequences_) {
      Shape s = state_shape;
      s.insert(s.begin() + 1, steps);
      seq = Tensor::uninitialized(s, DType::Float32);  // every step is written
    }
    const conv::Geometry rg = recurrent_geometry(g.out);
    detail::FloatBuffer gi(static_cast<std::size_t>(rows * f)), gf(gi.size()), gc(gi.size()),
        go(gi.size()), act_c(gi.size());
    for (std::int64_t s = 0; s < steps; ++s) {
      const std::int64_t t = go_backwards_ ? steps - 1 - s : s;
      const Tensor hc = conv::convolve(h, cell_->recurrent_kernel(), 1, rg);
      const float* zr = hc.f32();
      for (std::int64_t b = 0; b < batch; ++b) {
        const float* zx = xin.f32() + (b * steps + t) * positions * 4 * f;
        for (std::int64_t p = 0; p < positions; ++p) {
          const std::int64_t r = b * positions + p;
          const float* a = zx + p * 4 * f;
          const float* q = zr + r * 4 * f;
          for (std::int64_t j = 0; j < f; ++j) {
            gi[static_cast<std::size_t>(r * f + j)] = a[j] + q[j];
            gf[static_cast<std::size_t>(r * f + j)] = a[f + j] + q[f + j];
            gc[static_cast<std::size_t>(r * f + j)] = a[2 * f + j] + q[2 * f + j];
            go[static_cast<std::size_t>(r * f + j)] = a[3 * f + j] + q[3 * f + j];
          }
        }
      }
      detail::apply_activation(recurrent_activation_, gi.data(), rows, f);
      detail::apply_activation(recurrent_activation_, gf.data(), rows, f);
      detail::apply_activation(activation_, gc.data(), rows, f);
      detail::apply_activation(recurrent_activation_, go.data(), rows, f);
      float* hv = h.f32_mut();
      float* cv = c.f32_mut();
      float* ov = out.f32_mut();
      for (std::int64_t b = 0; b < batch; ++b) {
        const bool live = keep.empty() || keep[static_cast<std::size_t>(b * steps + t)] != 0;
        const std::int64_t lo = b * per_sample;
        const std::int64_t hi = lo + per_sample;
        if (live) {
          for (std::int64_t i = lo; i < hi; ++i) {
            const auto k = static_cast<std::size_t>(i);
            act_c[k] = gf[k] * cv[i] + gi[k] * gc[k];
          }
        }
        // The new c, then h = o * activation(c); a masked sample keeps its states.
        if (live) {
          std::copy(act_c.data() + lo, act_c.data() + hi, cv + lo);
          detail::apply_activation(activation_, act_c.data() + lo, positions, f);
          for (std::int64_t i = lo; i < hi; ++i) {
            hv[i] = go[static_cast<std::size_t>(i)] * act_c[static_cast<std::size_t>(i)];
          }
          std::copy(hv + lo, hv + hi, ov + lo);
        } else if (zero_output_for_mask_) {
          std::fill(ov + lo, ov + hi, 0.0f);
        }
      }
      if (return_sequences_) {
        float* sd = seq.f32_mut();
        for (std::int64_t b = 0; b < batch; ++b) {
          std::copy(ov + b * per_sample, ov + (b + 1) * per_sample,
                    sd + (b * steps + s) * per_sample);
        }
      }
    }

    TensorList outputs;
    if (return_sequences_) {
      Shape m = state_shape;
      m[0] = batch * steps;
      Shape final_shape = spatial::make_shape(batch, g.out, f, channels_first_);
      final_shape.insert(final_shape.begin() + 1, steps);
      outputs.push_back(to_layer_format(seq.reshaped(m), channels_first_).reshaped(final_shape));
    } else {
      outputs.push_back(to_layer_format(out, channels_first_));
    }
    if (return_state_) {
      outputs.push_back(to_layer_format(h, channels_first_));
      outputs.push_back(to_layer_format(c, channels_first_));
    }
    ctx.output_masks.assign(outputs.size(), std::nullopt);  // RNN layers set no mask
    return outputs;
  }

  std::vector<Shape> compute_output_shape(const std::vector<Shape>& in) const override {
    if (in.empty()) throw ShapeError(describe() + " expects a sequence shape");
    const conv::Geometry g = step_geometry(in[0]);
    const Shape state = spatial::make_shape(in[0][0], g.out, filters_, channels_first_);
    Shape first = state;
    if (return_sequences_) first.insert(first.begin() + 1, in[0][1]);
    std::vector<Shape> out{first};
    if (return_state_) {
      out.push_back(state);
      out.push_back(state);
    }
    return out;
  }

  std::vector<TrackedChild> tracked_children() const override {
    return {TrackedChild{"cell", {cell_.get()}, false}};
  }

 protected:
  void build_impl(const std::vector<Shape>& in) override {
    if (in.empty()) throw ShapeError(describe() + " expects a sequence shape");
    const Shape step = step_shape(in[0]);
    const Dims sp = spatial::spatial_of(step, channels_first_);
    if (std::any_of(sp.begin(), sp.end(), [](std::int64_t v) { return v < 0; })) {
      throw ShapeError(describe() +
                       ": ConvLSTM layers only support static input shapes for the spatial "
                       "dimensions, got " +
                       shape_to_string(in[0]));
    }
    step_geometry(in[0]);
    cell_->build({Shape{spatial::channels_of(step, channels_first_)}});
  }

 private:
  // (batch, *step) of a (batch, steps, *step) sequence shape (rank checked).
  Shape step_shape(const Shape& seq) const {
    if (seq.size() != rank_ + 3) {
      throw ShapeError(describe() + ": expects inputs of rank " + std::to_string(rank_ + 3) +
                       " (batch, steps, " +
                       (channels_first_ ? "channels, spatial...)" : "spatial..., channels)") +
                       ", got " + shape_to_string(seq));
    }
    Shape s{seq[0]};
    s.insert(s.end(), seq.begin() + 2, seq.end());
    return s;
  }

  conv::Geometry step_geometry(const Shape& seq) const {
    const Shape step = step_shape(seq);
    if (spatial::channels_of(step, channels_first_) < 0) {
      throw ShapeError(describe() + ": the channel dimension of the inputs must be known, got " +
                       shape_to_string(seq));
    }
    const Dims in = spatial::spatial_of(step, channels_first_);
    conv::Geometry g{in, {}, kernel_size_, strides_, dilation_, {}};
    for (std::size_t d = 0; d < rank_; ++d) {
      const std::int64_t k_eff = spatial::effective_size(kernel_size_[d], dilation_[d]);
      const std::int64_t out = spatial::output_length(in[d], k_eff, strides_[d], padding_);
      if (in[d] >= 0 && out <= 0) {
        throw ShapeError(describe() + ": input spatial size " + std::to_string(in[d]) +
                         " is too small for a window of " + std::to_string(k_eff) +
                         " with padding 'valid'");
      }
      g.out.push_back(out);
      g.pad.push_back(in[d] < 0 ? 0 : spatial::pad_before(in[d], k_eff, strides_[d], padding_));
    }
    return g;
  }

  // The recurrent convolution: stride 1, no dilation, 'same' padding over the state's dims.
  conv::Geometry recurrent_geometry(const Dims& dims) const {
    conv::Geometry g{dims, dims, kernel_size_, Dims(rank_, 1), Dims(rank_, 1), {}};
    for (std::size_t d = 0; d < rank_; ++d) {
      g.pad.push_back(spatial::pad_before(dims[d], kernel_size_[d], 1, spatial::Padding::Same));
    }
    return g;
  }

  std::size_t rank_;
  std::int64_t filters_ = 0;
  Dims kernel_size_, strides_, dilation_;
  spatial::Padding padding_ = spatial::Padding::Valid;
  bool channels_first_ = false;
  Activation activation_, recurrent_activation_;
  bool return_sequences_ = false, return_state_ = false, go_backwards_ = false, stateful_ = false,
       zero_output_for_mask_ = false;
  std::shared_ptr<ConvLSTMCell> cell_;
};

class ConvLSTM1D final : public ConvLSTMBase {
 public:
  ConvLSTM1D(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : ConvLSTMBase(std::move(d), ctx, 1) {}
};
class ConvLSTM2D final : public ConvLSTMBase {
 public:
  ConvLSTM2D(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : ConvLSTMBase(std::move(d), ctx, 2) {}
};
class ConvLSTM3D final : public ConvLSTMBase {
 public:
  ConvLSTM3D(std::shared_ptr<JsonDocument> d, Deserializer& ctx)
      : ConvLSTMBase(std::move(d), ctx, 3) {}
};

}  // namespace

KSERDE_REGISTER_LAYER(ConvLSTM1D);
KSERDE_REGISTER_LAYER(ConvLSTM2D);
KSERDE_REGISTER_LAYER(ConvLSTM3D);

}  // namespace kserde
