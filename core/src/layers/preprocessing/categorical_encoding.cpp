#include "layers/preprocessing/categorical_encoding.hpp"

#include <span>

#include "kserde/error.hpp"

namespace kserde::detail {

CategoricalMode parse_categorical_mode(const std::string& value, const std::string& who) {
  if (value == "one_hot") return CategoricalMode::OneHot;
  if (value == "multi_hot" || value == "binary") return CategoricalMode::MultiHot;
  if (value == "count") return CategoricalMode::Count;
  throw ConfigError(who + ": output_mode must be 'one_hot', 'multi_hot' or 'count', got '" + value +
                    "'");
}

Shape categorical_output_shape(const Shape& in, CategoricalMode mode, std::int64_t depth) {
  Shape out;
  if (mode == CategoricalMode::OneHot) {
    out = in;
    if (out.size() > 1 && out.back() == 1) out.pop_back();
  } else if (in.size() >= 2) {
    out.push_back(in[0]);
    for (std::size_t i = 2; i < in.size(); ++i) out.push_back(in[i]);
  }
  out.push_back(depth);
  return out;
}

Tensor encode_categorical(const Tensor& indices, CategoricalMode mode, std::int64_t depth,
                          DType dtype, const Tensor* count_weights, const std::string& who) {
  const Tensor ids = indices.to(DType::Int64);
  const auto idv = ids.values<std::int64_t>();
  Tensor w;
  if (count_weights != nullptr) {
    if (mode != CategoricalMode::Count) {
      throw ConfigError(who + ": count_weights is only used when output_mode is 'count'");
    }
    if (count_weights->shape() != indices.shape()) {
      throw ShapeError(who + ": count_weights has shape " +
                       shape_to_string(count_weights->shape()) + ", the inputs " +
                       shape_to_string(indices.shape()) + "; they must match");
    }
    w = count_weights->to(DType::Float64);
    dtype = count_weights->dtype();
  }
  const Shape out_shape = categorical_output_shape(indices.shape(), mode, depth);
  // Accumulated in double (exact for counts; weighted counts are rounded once, at the end) and
  // converted to the output dtype.
  Tensor acc = Tensor::recycled_zeros(out_shape, DType::Float64);
  const std::span<const double> weights =
      w.valid() && count_weights != nullptr ? w.values<double>() : std::span<const double>{};
  auto a = acc.mutable_values<double>();
  const auto in_range = [depth](std::int64_t id) { return id >= 0 && id < depth; };
  if (mode == CategoricalMode::OneHot) {
    for (std::size_t i = 0; i < idv.size(); ++i) {
      if (in_range(idv[i])) a[i * static_cast<std::size_t>(depth) + idv[i]] = 1.0;
    }
    return acc.to(dtype);
  }
  // multi_hot / count: element (b, s, r) of the indices seen as [outer, reduced, inner] lands in
  // output row (b, r); rank 0 and 1 reduce everything into one row.
  const Shape& s = indices.shape();
  const std::int64_t outer = s.size() >= 2 ? s[0] : 1;
  const std::int64_t reduced = s.size() >= 2 ? s[1] : static_cast<std::int64_t>(idv.size());
  const std::int64_t inner =
      outer * reduced == 0 ? 0 : static_cast<std::int64_t>(idv.size()) / (outer * reduced);
  for (std::int64_t b = 0; b < outer; ++b) {
    for (std::int64_t r = 0; r < reduced; ++r) {
      for (std::int64_t k = 0; k < inner; ++k) {
        const auto i = static_cast<std::size_t>((b * reduced + r) * inner + k);
        const std::int64_t id = idv[i];
        if (!in_range(id)) continue;
        double& slot = a[static_cast<std::size_t>((b * inner + k) * depth + id)];
        if (mode == CategoricalMode::MultiHot) {
          slot = 1.0;
        } else {
          slot += weights.empty() ? 1.0 : weights[i];
        }
      }
    }
  }
  return acc.to(dtype);
}

}  // namespace kserde::detail
