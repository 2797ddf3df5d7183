// Shape and reduction operations inside Functional graphs (keras.ops saved as graph nodes):
// GetItem (x[...] with ints, slices, Ellipsis and None), Reshape, Transpose, ExpandDims, Squeeze,
// Mean, Sum and Matmul. Constructor arguments come from the op's config, operands from the node's
// saved arguments.
#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "layers/common.hpp"
#include "layers/merging/tensor_algebra.hpp"
#include "ops/gemm.hpp"
#include "ops/gemm_f64.hpp"

namespace kserde {

namespace {

using cfg::is_marker;

std::vector<std::int64_t> int_list(const JsonValue* v, const std::string& where) {
  std::vector<std::int64_t> out;
  if (v == nullptr || v->IsNull()) return out;
  if (v->IsInt64()) return {v->GetInt64()};
  if (!v->IsArray()) cfg::fail(where, "expected an int or a list of ints");
  for (const auto& e : v->GetArray()) {
    if (!e.IsInt64()) cfg::fail(where, "expected an int or a list of ints");
    out.push_back(e.GetInt64());
  }
  return out;
}

std::size_t axis_of(std::int64_t a, std::size_t rank, const std::string& where) {
  const std::int64_t r = static_cast<std::int64_t>(rank);
  if (a < -r || a >= r)
    throw ShapeError(where + ": axis " + std::to_string(a) + " out of range for rank " +
                     std::to_string(r));
  return static_cast<std::size_t>(a < 0 ? a + r : a);
}

class ShapeOp : public Layer {
 public:
  using Layer::Layer;
  std::vector<Shape> compute_output_shape(const std::vector<Shape>&) const override { return {}; }
};

// x[key]: NumPy basic indexing.
class GetItem final : public ShapeOp {
 public:
  GetItem(std::shared_ptr<JsonDocument> d, Deserializer&) : ShapeOp(std::move(d)) {}
  TensorList call(const TensorList& inputs, CallContext& ctx) override {
    if (inputs.empty() || ctx.call_args == nullptr || !ctx.call_args->IsArray() ||
        ctx.call_args->Size() < 2) {
      throw ShapeError(describe() + ": needs a tensor and an index");
    }
    const Tensor& x = inputs[0];
    const JsonValue& key = (*ctx.call_args)[1];
    // Per-call lists draw on the tensor buffer cache: steady-state calls allocate nothing.
    std::vector<const JsonValue*, CachedAllocator<const JsonValue*>> items;
    if (key.IsArray()) {
      for (const auto& k : key.GetArray()) items.push_back(&k);
    } else {
      items.push_back(&key);
    }
    // Expand Ellipsis into full slices.
    std::size_t consuming = 0;
    for (const JsonValue* k : items)
      consuming += (k->IsNull() || is_marker(*k, "__ellipsis__")) ? 0 : 1;
    if (consuming > x.rank())
      throw ShapeError(describe() + ": too many indices for rank " + std::to_string(x.rank()));
    struct Dim {
      std::int64_t start = 0, step = 1, count = 0;
      bool keep = true;
      bool newaxis = false;
    };
    std::vector<Dim, CachedAllocator<Dim>> dims;
    std::size_t axis = 0;
    bool seen_ellipsis = false;
    auto full = [&](std::size_t a) { dims.push_back({0, 1, x.dim(a), true, false}); };
    for (const JsonValue* k : items) {
      if (is_marker(*k, "__ellipsis__")) {
        if (seen_ellipsis) throw ShapeError(describe() + ": more than one Ellipsis");
        seen_ellipsis = true;
        for (std::size_t n = x.rank() - consuming; n > 0; --n) full(axis++);
      } else if (k->IsNull()) {
        dims.push_back({0, 1, 1, true, true});
      } else if (k->IsInt64()) {
        const std::int64_t n = x.dim(axis);
        std::int64_t i = k->GetInt64();
        if (i < -n || i >= n)
          throw ShapeError(describe() + ": index " + std::to_string(i) + " out of range for size " +
                           std::to_string(n));
        dims.push_back({i < 0 ? i + n : i, 1, 1, false, false});
        ++axis;
      } else if (is_marker(*k, "__slice__")) {
        const JsonValue& c = (*k)["config"];
        const std::int64_t n = x.dim(axis);
        const std::int64_t step = cfg::get_int(c, "step", describe(), 1);
        if (step == 0) throw ShapeError(describe() + ": slice step cannot be zero");
        auto clampi = [&](const char* name, std::int64_t dflt) {
          if (!cfg::has_non_null(c, name)) return dflt;
          std::int64_t v = cfg::get_int(c, name, describe());
          if (v < 0) v += n;
          return step > 0 ? std::clamp<std::int64_t>(v, 0, n)
                          : std::clamp<std::int64_t>(v, -1, n - 1);
        };
        const std::int64_t start = clampi("start", step > 0 ? 0 : n - 1);
        const std::int64_t stop = clampi("stop", step > 0 ? n : -1);
        const std::int64_t count =
            step > 0 ? std::max<std::int64_t>(0, (stop - start + step - 1) / step)
                     : std::max<std::int64_t>(0, (start - stop - step - 1) / -step);
        dims.push_back({start, step, count, true, false});
        ++axis;
      } else {
        throw UnsupportedError(describe() + ": index kind not supported (tensors as indices)");
      }
    }
    while (axis < x.rank()) full(axis++);
    // Gather.
    Shape out_shape;
    Shape src_stride(x.rank(), 1);
    for (std::size_t a = x.rank(); a-- > 1;) src_stride[a - 1] = src_stride[a] * x.dim(a);
    Shape starts, steps, counts, strides;
    std::size_t src_axis = 0;
    for (const Dim& d : dims) {
      if (d.newaxis) {
        out_shape.push_back(1);
        continue;
      }
      if (d.keep) out_shape.push_back(d.count);
      starts.push_back(d.start);
      steps.push_back(d.step);
      counts.push_back(d.count);
      strides.push_back(src_stride[src_axis++]);
    }
    Tensor out = Tensor::recycled_zeros(out_shape, x.dtype());
    const std::size_t es = dtype_size(x.dtype());
    const std::byte* src = x.bytes().data();
    std::byte* dst = out.mutable_bytes().data();
    const std::int64_t total = out.num_elements();
    Shape idx(counts.size(), 0);
    for (std::int64_t o = 0; o < total; ++o) {
      std::int64_t off = 0;
      for (std::size_t a = 0; a < idx.size(); ++a)
        off += (starts[a] + idx[a] * steps[a]) * strides[a];
      std::memcpy(dst + o * static_cast<std::int64_t>(es),
                  src + off * static_cast<std::int64_t>(es), es);
      for (std::size_t a = idx.size(); a-- > 0;) {
        if (++idx[a] < counts[a]) break;
        idx[a] = 0;
      }
    }
    return {out};
  }
};

class ReshapeOp final : public ShapeOp {
 public:
  ReshapeOp(std::shared_ptr<JsonDocument> d, Deserializer&) : ShapeOp(std::move(d)) {
    target_ = int_list(cfg::find(config(), "newshape"), describe());
  }
  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    Shape s(target_.begin(), target_.end());
    std::int64_t known = 1;
    int unknown = -1;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == -1)
        unknown = static_cast<int>(i);
      else
        known *= s[i];
    }
    if (unknown >= 0 && known > 0)
      s[static_cast<std::size_t>(unknown)] = inputs[0].num_elements() / known;
    return {inputs[0].reshaped(s)};
  }

 private:
  std::vector<std::int64_t> target_;
};

class TransposeOp final : public ShapeOp {
 public:
  TransposeOp(std::shared_ptr<JsonDocument> d, Deserializer&) : ShapeOp(std::move(d)) {
    axes_ = int_list(cfg::find(config(), "axes"), describe());
  }
  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    const std::size_t r = inputs[0].rank();
    detail::Axes perm(r);
    if (axes_.empty()) {
      for (std::size_t i = 0; i < r; ++i) perm[i] = r - 1 - i;
    } else {
      if (axes_.size() != r) throw ShapeError(describe() + ": axes do not match the rank");
      for (std::size_t i = 0; i < r; ++i) perm[i] = axis_of(axes_[i], r, describe());
    }
    return {detail::transpose(inputs[0], perm)};
  }

 private:
  std::vector<std::int64_t> axes_;
};

class ExpandDimsOp final : public ShapeOp {
 public:
  ExpandDimsOp(std::shared_ptr<JsonDocument> d, Deserializer&) : ShapeOp(std::move(d)) {
    axes_ = int_list(cfg::find(config(), "axis"), describe());
  }
  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    const std::size_t out_rank = inputs[0].rank() + axes_.size();
    std::vector<bool, CachedAllocator<bool>> inserted(out_rank, false);
    for (std::int64_t a : axes_) inserted[axis_of(a, out_rank, describe())] = true;
    Shape s;
    std::size_t k = 0;
    for (std::size_t i = 0; i < out_rank; ++i) s.push_back(inserted[i] ? 1 : inputs[0].dim(k++));
    return {inputs[0].reshaped(s)};
  }

 private:
  std::vector<std::int64_t> axes_;
};

class SqueezeOp final : public ShapeOp {
 public:
  SqueezeOp(std::shared_ptr<JsonDocument> d, Deserializer&) : ShapeOp(std::move(d)) {
    axes_ = int_list(cfg::find(config(), "axis"), describe());
  }
  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    const Tensor& x = inputs[0];
    std::vector<bool, CachedAllocator<bool>> drop(x.rank(), false);
    if (axes_.empty()) {
      for (std::size_t i = 0; i < x.rank(); ++i) drop[i] = x.dim(i) == 1;
    } else {
      for (std::int64_t a : axes_) {
        const std::size_t i = axis_of(a, x.rank(), describe());
        if (x.dim(i) != 1)
          throw ShapeError(describe() + ": cannot squeeze an axis of size " +
                           std::to_string(x.dim(i)));
        drop[i] = true;
      }
    }
    Shape s;
    for (std::size_t i = 0; i < x.rank(); ++i) {
      if (!drop[i]) s.push_back(x.dim(i));
    }
    return {x.reshaped(s)};
  }

 private:
  std::vector<std::int64_t> axes_;
};

// Reductions over `axis` (all axes when null), keepdims: sum, mean, max, min, prod (float32
// results) and any, all (bool results, nonzero counts as true).
enum class Reduction { Sum, Mean, Max, Min, Prod, Any, All };

class ReduceOp final : public ShapeOp {
 public:
  ReduceOp(std::shared_ptr<JsonDocument> d, Reduction kind) : ShapeOp(std::move(d)), kind_(kind) {
    axes_ = int_list(cfg::find(config(), "axis"), describe());
    keepdims_ = cfg::get_bool(config(), "keepdims", describe(), false);
  }
  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 1);
    // A float64 operand is reduced in double and gives float64, as NumPy does.
    const bool f64 = inputs[0].dtype() == DType::Float64;
    const Tensor x = f64 ? inputs[0] : ops::as_float32(inputs[0]);
    const std::size_t r = x.rank();
    std::vector<bool, CachedAllocator<bool>> reduce(r, axes_.empty());
    for (std::int64_t a : axes_) reduce[axis_of(a, r, describe())] = true;
    Shape out_shape, kept;
    std::int64_t count = 1;
    for (std::size_t i = 0; i < r; ++i) {
      if (reduce[i]) {
        count *= x.dim(i);
        if (keepdims_) out_shape.push_back(1);
      } else {
        out_shape.push_back(x.dim(i));
        kept.push_back(x.dim(i));
      }
    }
    double init = 0.0;
    if (kind_ == Reduction::Max) init = -std::numeric_limits<double>::infinity();
    if (kind_ == Reduction::Min) init = std::numeric_limits<double>::infinity();
    if (kind_ == Reduction::Prod || kind_ == Reduction::All) init = 1.0;
    std::vector<double, CachedAllocator<double>> acc(
        static_cast<std::size_t>(shape_num_elements(kept)), init);
    Shape idx(r, 0);
    const float* vf = f64 ? nullptr : x.values<float>().data();
    const double* vd = f64 ? x.values<double>().data() : nullptr;
    for (std::int64_t o = 0; o < x.num_elements(); ++o) {
      std::int64_t k = 0;
      for (std::size_t i = 0; i < r; ++i) {
        if (!reduce[i]) k = k * x.dim(i) + idx[i];
      }
      double& a = acc[static_cast<std::size_t>(k)];
      const double e = f64 ? vd[o] : static_cast<double>(vf[o]);
      switch (kind_) {
        case Reduction::Sum:
        case Reduction::Mean:
          a += e;
          break;
        case Reduction::Max:
          a = std::max(a, e);
          break;
        case Reduction::Min:
          a = std::min(a, e);
          break;
        case Reduction::Prod:
          a *= e;
          break;
        case Reduction::Any:
          a = (a != 0.0 || e != 0.0) ? 1.0 : 0.0;
          break;
        case Reduction::All:
          a = (a != 0.0 && e != 0.0) ? 1.0 : 0.0;
          break;
      }
      for (std::size_t i = r; i-- > 0;) {
        if (++idx[i] < x.dim(i)) break;
        idx[i] = 0;
      }
    }
    const bool mean = kind_ == Reduction::Mean;
    auto result = [&](std::size_t i) {
      return mean && count > 0 ? acc[i] / static_cast<double>(count) : acc[i];
    };
    const bool boolean = kind_ == Reduction::Any || kind_ == Reduction::All;
    if (f64 && !boolean) {
      Tensor out = Tensor::recycled_zeros(out_shape, DType::Float64);
      auto ov = out.mutable_values<double>();
      for (std::size_t i = 0; i < acc.size(); ++i) ov[i] = result(i);
      return {out};
    }
    Tensor out = Tensor::recycled_zeros(out_shape, DType::Float32);
    auto ov = out.mutable_values<float>();
    for (std::size_t i = 0; i < acc.size(); ++i) ov[i] = static_cast<float>(result(i));
    if (kind_ == Reduction::Any || kind_ == Reduction::All) return {out.to(DType::Bool)};
    return {out};
  }

 private:
  Reduction kind_;
  bool keepdims_ = false;
  std::vector<std::int64_t> axes_;
};

template <Reduction K>
std::shared_ptr<Layer> make_reduce(std::shared_ptr<JsonDocument> d, Deserializer&) {
  return std::make_shared<ReduceOp>(std::move(d), K);
}

// a @ b with NumPy's matmul broadcasting over leading batch dimensions (ranks >= 2).
class MatmulOp final : public ShapeOp {
 public:
  MatmulOp(std::shared_ptr<JsonDocument> d, Deserializer&) : ShapeOp(std::move(d)) {}
  TensorList call(const TensorList& inputs, CallContext&) override {
    expect_inputs(inputs, 2);
    // With a float64 operand NumPy multiplies in double (the other operand promoted).
    const bool f64 = inputs[0].dtype() == DType::Float64 || inputs[1].dtype() == DType::Float64;
    const Tensor a = f64 ? inputs[0].to(DType::Float64) : ops::as_float32(inputs[0]);
    const Tensor b = f64 ? inputs[1].to(DType::Float64) : ops::as_float32(inputs[1]);
    if (a.rank() < 2 || b.rank() < 2 || a.shape().back() != b.dim(b.rank() - 2)) {
      throw ShapeError(describe() + ": cannot multiply " + shape_to_string(a.shape()) + " by " +
                       shape_to_string(b.shape()));
    }
    if (b.rank() == 2 && !f64) return {ops::matmul_last_axis(a, b)};
    Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
    const Shape batch = detail::broadcast_shapes(ba, bb, describe());
    const std::int64_t m = a.dim(a.rank() - 2), k = a.shape().back(), n = b.shape().back();
    Shape sa = batch, sb = batch;
    sa.push_back(m);
    sa.push_back(k);
    sb.push_back(k);
    sb.push_back(n);
    const Tensor A = detail::broadcast_to(a, sa, describe());
    const Tensor B = detail::broadcast_to(b, sb, describe());
    Shape so = batch;
    so.push_back(m);
    so.push_back(n);
    const std::int64_t nb = shape_num_elements(batch);
    if (f64) {
      Tensor out = Tensor::recycled_zeros(so, DType::Float64);
      if (b.rank() == 2) {  // b shared by every row of a
        ops::batched_gemm_f64(1, a.num_elements() / std::max<std::int64_t>(k, 1), n, k,
                              a.values<double>().data(), b.values<double>().data(), false,
                              out.mutable_values<double>().data());
        return {out};
      }
      ops::batched_gemm_f64(nb, m, n, k, A.values<double>().data(), B.values<double>().data(),
                            false, out.mutable_values<double>().data());
      return {out};
    }
    Tensor out = Tensor::recycled_zeros(so, DType::Float32);
    ops::batched_gemm(nb, m, n, k, A.f32(), B.f32(), false, out.f32_mut());
    return {out};
  }
};

template <class T>
LayerFactory factory() {
  return [](std::shared_ptr<JsonDocument> d, Deserializer& c) {
    return std::shared_ptr<Layer>(std::make_shared<T>(std::move(d), c));
  };
}

const BuiltinLayerRegistration kShapeOps[] = {
    {"ops.GetItem", factory<GetItem>()},        {"ops.Reshape", factory<ReshapeOp>()},
    {"ops.Transpose", factory<TransposeOp>()},  {"ops.ExpandDims", factory<ExpandDimsOp>()},
    {"ops.Squeeze", factory<SqueezeOp>()},      {"ops.Matmul", factory<MatmulOp>()},
    {"ops.Mean", make_reduce<Reduction::Mean>}, {"ops.Sum", make_reduce<Reduction::Sum>},
    {"ops.Max", make_reduce<Reduction::Max>},   {"ops.Min", make_reduce<Reduction::Min>},
    {"ops.Prod", make_reduce<Reduction::Prod>}, {"ops.Any", make_reduce<Reduction::Any>},
    {"ops.All", make_reduce<Reduction::All>},
};

}  // namespace

}  // namespace kserde
