#include "layers/merging/tensor_algebra.hpp"

#include <algorithm>
#include <cstring>

#include "json/config_access.hpp"
#include "kserde/error.hpp"

namespace kserde::detail {

Shape strides_of(const Shape& shape) {
  Shape s(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& where) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == db || db == 1) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else if (da < 0 || db < 0) {
      out[i] = da < 0 ? db : da;  // an unknown dim against a known one > 1 takes the known one
    } else {
      throw ShapeError(where + ": inputs have incompatible shapes " + shape_to_string(a) + " and " +
                       shape_to_string(b));
    }
  }
  return out;
}

Shape broadcast_strides(const Shape& shape, const Shape& target) {
  const auto own = strides_of(shape);
  Shape s(target.size(), 0);
  const std::size_t off = target.size() - shape.size();
  for (std::size_t i = 0; i < shape.size(); ++i) {
    s[off + i] = (shape[i] == 1 && target[off + i] != 1) ? 0 : own[i];
  }
  return s;
}

Tensor broadcast_to(const Tensor& x, const Shape& target, const std::string& where) {
  if (x.shape() == target) return x;
  if (broadcast_shapes(x.shape(), target, where) != target) {
    throw ShapeError(where + ": cannot broadcast " + shape_to_string(x.shape()) + " to " +
                     shape_to_string(target));
  }
  Tensor out = Tensor::recycled_zeros(target, x.dtype());
  const std::size_t es = dtype_size(x.dtype());
  const auto st = broadcast_strides(x.shape(), target);
  const auto src = x.bytes();
  auto dst = out.mutable_bytes();
  const std::int64_t n = out.num_elements();
  Shape idx(target.size(), 0);
  for (std::int64_t o = 0; o < n; ++o) {
    std::int64_t off = 0;
    for (std::size_t d = 0; d < target.size(); ++d) off += idx[d] * st[d];
    std::memcpy(dst.data() + o * static_cast<std::int64_t>(es),
                src.data() + off * static_cast<std::int64_t>(es), es);
    for (std::size_t d = target.size(); d-- > 0;) {
      if (++idx[d] < target[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

Tensor transpose(const Tensor& x, const Axes& perm) {
  const std::size_t rank = x.rank();
  bool identity = true;
  for (std::size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == i;
  if (identity) return x;
  Shape out_shape(rank);
  const auto in_strides = strides_of(x.shape());
  Shape st(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    out_shape[i] = x.dim(perm[i]);
    st[i] = in_strides[perm[i]];
  }
  Tensor out = Tensor::recycled_zeros(out_shape, x.dtype());
  const std::int64_t n = out.num_elements();
  if (n == 0) return out;
  const auto es = static_cast<std::int64_t>(dtype_size(x.dtype()));
  const std::byte* src = x.bytes().data();
  std::byte* dst = out.mutable_bytes().data();
  Shape idx(rank, 0);
  std::int64_t off = 0;
  for (std::int64_t o = 0; o < n; ++o) {
    std::memcpy(dst + o * es, src + off * es, static_cast<std::size_t>(es));
    for (std::size_t d = rank; d-- > 0;) {
      if (++idx[d] < out_shape[d]) {
        off += st[d];
        break;
      }
      off -= st[d] * (idx[d] - 1);
      idx[d] = 0;
    }
  }
  return out;
}

Axes axes_last_perm(std::size_t rank, const Axes& axes) {
  Axes perm;
  for (std::size_t d = 0; d < rank; ++d) {
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) perm.push_back(d);
  }
  perm.insert(perm.end(), axes.begin(), axes.end());
  return perm;
}

Axes inverse_perm(const Axes& perm) {
  Axes inv(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = i;
  return inv;
}

Tensor pad_or_crop(const Tensor& x, const Shape& before, const Shape& after) {
  const std::size_t rank = x.rank();
  Shape out_shape(rank);
  for (std::size_t d = 0; d < rank; ++d) out_shape[d] = x.dim(d) + before[d] + after[d];
  Tensor out = Tensor::recycled_zeros(out_shape, x.dtype());
  if (out.num_elements() == 0 || rank == 0) return out;
  const auto es = static_cast<std::int64_t>(dtype_size(x.dtype()));
  const auto in_strides = strides_of(x.shape());
  const std::byte* src = x.bytes().data();
  std::byte* dst = out.mutable_bytes().data();
  // Walk the output rows (all axes but the last); copy the overlapping span of each row.
  const std::int64_t last = out_shape.back();
  const std::int64_t lo = std::max<std::int64_t>(0, before.back());
  const std::int64_t hi = std::min(last, x.shape().back() + before.back());
  Shape idx(rank, 0);
  for (std::int64_t row = 0; row < out.num_elements() / last; ++row) {
    bool inside = true;
    std::int64_t off = 0;
    for (std::size_t d = 0; d + 1 < rank; ++d) {
      const std::int64_t i = idx[d] - before[d];
      inside = inside && i >= 0 && i < x.dim(d);
      off += i * in_strides[d];
    }
    if (inside && hi > lo) {
      std::memcpy(dst + (row * last + lo) * es, src + (off + lo - before.back()) * es,
                  static_cast<std::size_t>((hi - lo) * es));
    }
    for (std::size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

std::size_t canonical_axis(std::int64_t axis, std::size_t rank, const std::string& where) {
  const auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r) {
    throw ShapeError(where + ": axis " + std::to_string(axis) +
                     " is out of bounds for an input of rank " + std::to_string(rank));
  }
  return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

std::size_t canonical_axis(std::int64_t axis, std::size_t rank, const Layer& layer) {
  const auto r = static_cast<std::int64_t>(rank);
  if (axis < -r || axis >= r) return canonical_axis(axis, rank, layer.describe());
  return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

std::vector<std::int64_t> axis_values(const JsonValue& config, const char* key,
                                      const std::string& where, std::int64_t fallback) {
  const JsonValue* v = cfg::find(config, key);
  if (v != nullptr && !v->IsNull() && !v->IsArray() && !v->IsNumber()) {
    cfg::fail(where, std::string("'") + key + "' must be an integer or a list of integers");
  }
  if (v == nullptr || v->IsNull()) return {fallback};
  return cfg::get_int_tuple(config, key, where, 0);
}

namespace {

void collect_array(const JsonValue& v, std::size_t depth, Shape& shape, std::vector<float>& out,
                   const std::string& key, const std::string& where) {
  if (v.IsNumber()) {
    if (depth != shape.size()) cfg::fail(where, "'" + key + "' is a ragged list");
    out.push_back(static_cast<float>(v.GetDouble()));
    return;
  }
  if (!v.IsArray()) cfg::fail(where, "'" + key + "' must be a number or a list of numbers");
  const auto n = static_cast<std::int64_t>(v.Size());
  if (depth == shape.size()) {
    if (!out.empty()) cfg::fail(where, "'" + key + "' is a ragged list");
    shape.push_back(n);
  } else if (shape[depth] != n) {
    cfg::fail(where, "'" + key + "' is a ragged list");
  }
  for (const auto& e : v.GetArray()) collect_array(e, depth + 1, shape, out, key, where);
}

}  // namespace

Tensor array_from_json(const JsonValue& v, const std::string& key, const std::string& where) {
  if (v.IsObject()) {
    const JsonValue* c = cfg::find(v, "config");
    const JsonValue* value = c == nullptr ? nullptr : cfg::find(*c, "value");
    if (value == nullptr) cfg::fail(where, "'" + key + "' must be a number or an array");
    return array_from_json(*value, key, where);
  }
  Shape shape;
  std::vector<float> values;
  collect_array(v, 0, shape, values, key, where);
  if (shape_num_elements(shape) != static_cast<std::int64_t>(values.size())) {
    cfg::fail(where, "'" + key + "' is a ragged list");
  }
  return Tensor::from_floats(shape, values);
}

std::vector<std::pair<std::int64_t, std::int64_t>> border_pairs(JsonDocument& object_dict,
                                                                const char* key, std::size_t n,
                                                                const std::string& where) {
  JsonValue& c = object_dict["config"];
  const JsonValue* v = cfg::find(c, key);
  if (v == nullptr || v->IsNull()) cfg::fail(where, std::string("config has no '") + key + "'");
  auto as_int = [&](const JsonValue& e) {
    if (!e.IsInt64()) cfg::fail(where, std::string("'") + key + "' must hold integers");
    const std::int64_t x = e.GetInt64();
    if (x < 0) cfg::fail(where, std::string("'") + key + "' cannot be negative");
    return x;
  };
  auto pair_of = [&](const JsonValue& e) -> std::pair<std::int64_t, std::int64_t> {
    if (e.IsArray()) {
      if (e.Size() != 2)
        cfg::fail(where, std::string("each entry of '") + key + "' needs 2 values");
      return {as_int(e[0]), as_int(e[1])};
    }
    const std::int64_t x = as_int(e);
    return {x, x};
  };
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  if (n == 1 || !v->IsArray()) {
    out.assign(n, pair_of(*v));
  } else {
    if (v->Size() != n) {
      cfg::fail(where, std::string("'") + key + "' must have " + std::to_string(n) + " entries");
    }
    for (const auto& e : v->GetArray()) out.push_back(pair_of(e));
  }
  auto& a = object_dict.GetAllocator();
  auto pair_json = [&](const std::pair<std::int64_t, std::int64_t>& p) {
    JsonValue arr(rapidjson::kArrayType);
    arr.PushBack(JsonValue(p.first), a);
    arr.PushBack(JsonValue(p.second), a);
    return arr;
  };
  JsonValue norm(rapidjson::kArrayType);
  if (n == 1) {
    norm = pair_json(out[0]);
  } else {
    for (const auto& p : out) norm.PushBack(pair_json(p), a);
  }
  cfg::set(c, key, std::move(norm), a);
  return out;
}

}  // namespace kserde::detail
