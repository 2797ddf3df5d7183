#include "layers/convolutional/spatial.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>

#include "json/config_access.hpp"
#include "kserde/error.hpp"

namespace kserde::spatial {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool parse_channels_first(const JsonValue& config, const std::string& where) {
  const JsonValue* v = cfg::find(config, "data_format");
  if (v == nullptr || v->IsNull()) return false;
  const std::string f = cfg::get_string(config, "data_format", where);
  if (f == "channels_first") return true;
  if (f == "channels_last") return false;
  cfg::fail(where, "data_format must be 'channels_last' or 'channels_first', got '" + f + "'");
}

Padding parse_padding(const JsonValue& config, const std::string& where, bool allow_causal) {
  const JsonValue* v = cfg::find(config, "padding");
  if (v != nullptr && v->IsArray()) {
    cfg::fail(where, "explicit padding lists are not supported; use 'valid' or 'same'");
  }
  const std::string p = lower(cfg::get_string(config, "padding", where, "valid"));
  if (p == "valid") return Padding::Valid;
  if (p == "same") return Padding::Same;
  if (p == "causal" && allow_causal) return Padding::Causal;
  cfg::fail(where, std::string("padding must be one of 'valid', 'same'") +
                       (allow_causal ? ", 'causal'" : "") + ", got '" + p + "'");
}

const char* padding_name(Padding p) {
  switch (p) {
    case Padding::Valid:
      return "valid";
    case Padding::Same:
      return "same";
    case Padding::Causal:
      return "causal";
  }
  return "valid";
}

Dims parse_tuple(const JsonValue& config, std::string_view key, const std::string& where,
                 std::size_t n, std::int64_t fallback, bool allow_zero) {
  Dims v = cfg::get_int_tuple(config, key, where, n, fallback);
  for (std::int64_t x : v) {
    if (x < 0 || (x == 0 && !allow_zero)) {
      cfg::fail(where, "'" + std::string(key) + "' must contain only " +
                           (allow_zero ? "non-negative" : "positive") + " integers, got " +
                           std::to_string(x));
    }
  }
  return v;
}

void write_tuple(JsonDocument& object_dict, std::string_view key, const Dims& values) {
  auto& a = object_dict.GetAllocator();
  JsonValue arr(rapidjson::kArrayType);
  for (std::int64_t x : values) arr.PushBack(JsonValue(static_cast<std::int64_t>(x)), a);
  cfg::set(object_dict["config"], key, std::move(arr), a);
}

void write_string(JsonDocument& object_dict, std::string_view key, std::string_view value) {
  auto& a = object_dict.GetAllocator();
  cfg::set(object_dict["config"], key, cfg::str(value, a), a);
}

std::int64_t effective_size(std::int64_t k, std::int64_t dilation) {
  return (k - 1) * dilation + 1;
}

std::int64_t output_length(std::int64_t in, std::int64_t k_eff, std::int64_t stride, Padding p) {
  if (in < 0) return -1;
  if (p == Padding::Valid) {
    // floor division also for a negative numerator (input shorter than the window).
    const std::int64_t num = in - k_eff;
    const std::int64_t q = num >= 0 ? num / stride : -((-num + stride - 1) / stride);
    return q + 1;
  }
  return (in + stride - 1) / stride;
}

std::int64_t pad_before(std::int64_t in, std::int64_t k_eff, std::int64_t stride, Padding p) {
  switch (p) {
    case Padding::Valid:
      return 0;
    case Padding::Causal:
      return k_eff - 1;
    case Padding::Same: {
      const std::int64_t out = output_length(in, k_eff, stride, p);
      return std::max<std::int64_t>((out - 1) * stride + k_eff - in, 0) / 2;
    }
  }
  return 0;
}

Dims spatial_of(const Shape& s, bool channels_first) {
  if (s.size() < 2) return {};
  return channels_first ? Dims(s.begin() + 2, s.end()) : Dims(s.begin() + 1, s.end() - 1);
}

std::int64_t channels_of(const Shape& s, bool channels_first) {
  return channels_first ? s.at(1) : s.back();
}

Shape make_shape(std::int64_t batch, const Dims& spatial, std::int64_t channels,
                 bool channels_first) {
  Shape out{batch};
  if (channels_first) out.push_back(channels);
  out.insert(out.end(), spatial.begin(), spatial.end());
  if (!channels_first) out.push_back(channels);
  return out;
}

std::int64_t product(const Dims& d) {
  std::int64_t p = 1;
  for (std::int64_t x : d) p *= x;
  return p;
}

namespace {

// Swaps the two inner axes of a (N, A, B) view: out (N, B, A).
Tensor swap_inner(const Tensor& x_in, std::int64_t a, std::int64_t b, Shape out_shape) {
  const Tensor x = x_in.dtype() == DType::Float32 ? x_in : x_in.to(DType::Float32);
  Tensor out = Tensor::recycled_zeros(std::move(out_shape), DType::Float32);
  const float* src = x.f32();
  float* dst = out.f32_mut();
  const std::int64_t n = x.rank() == 0 ? 0 : x.dim(0);
  for (std::int64_t i = 0; i < n; ++i) {
    const float* s = src + i * a * b;
    float* d = dst + i * a * b;
    for (std::int64_t p = 0; p < a; ++p) {
      for (std::int64_t q = 0; q < b; ++q) d[q * a + p] = s[p * b + q];
    }
  }
  return out;
}

}  // namespace

Tensor to_channels_last(const Tensor& x) {
  const Shape& s = x.shape();
  if (s.size() < 3) return x;
  const std::int64_t c = s[1];
  const Dims sp(s.begin() + 2, s.end());
  return swap_inner(x, c, product(sp), make_shape(s[0], sp, c, false));
}

Tensor to_channels_first(const Tensor& x) {
  const Shape& s = x.shape();
  if (s.size() < 3) return x;
  const std::int64_t c = s.back();
  const Dims sp(s.begin() + 1, s.end() - 1);
  return swap_inner(x, product(sp), c, make_shape(s[0], sp, c, true));
}

}  // namespace kserde::spatial
