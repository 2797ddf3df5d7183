#include "json/config_access.hpp"

#include <algorithm>
#include <cmath>

#include "kserde/error.hpp"

namespace kserde::cfg {

namespace {

std::string kind_of(const JsonValue& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "a list";
  return "an object";
}

const JsonValue& require(const JsonValue& obj, std::string_view key, const std::string& where) {
  const JsonValue* v = find(obj, key);
  if (v == nullptr) fail(where, "config has no '" + std::string(key) + "'");
  return *v;
}

std::int64_t as_int(const JsonValue& v, std::string_view key, const std::string& where) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsUint64()) fail(where, "'" + std::string(key) + "' is out of range");
  if (v.IsDouble()) {  // Python may write 2.0 for an int-valued float
    const double d = v.GetDouble();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e15) {
      return static_cast<std::int64_t>(d);
    }
  }
  fail(where, "'" + std::string(key) + "' must be an integer, got " + kind_of(v));
}

}  // namespace

void fail(const std::string& where, const std::string& message) {
  throw ConfigError(where + ": " + message);
}

const JsonValue* find(const JsonValue& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(rapidjson::StringRef(key.data(), key.size()));
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

bool is_marker(const JsonValue& v, std::string_view marker) {
  const JsonValue* cn = find(v, "class_name");
  return cn != nullptr && cn->IsString() &&
         std::string_view(cn->GetString(), cn->GetStringLength()) == marker;
}

bool has_non_null(const JsonValue& obj, std::string_view key) {
  const JsonValue* v = find(obj, key);
  return v != nullptr && !v->IsNull();
}

std::int64_t get_int(const JsonValue& obj, std::string_view key, const std::string& where) {
  return as_int(require(obj, key, where), key, where);
}

std::int64_t get_int(const JsonValue& obj, std::string_view key, const std::string& where,
                     std::int64_t fallback) {
  const JsonValue* v = find(obj, key);
  if (v == nullptr || v->IsNull()) return fallback;
  return as_int(*v, key, where);
}

double get_float(const JsonValue& obj, std::string_view key, const std::string& where) {
  const JsonValue& v = require(obj, key, where);
  if (!v.IsNumber()) fail(where, "'" + std::string(key) + "' must be a number, got " + kind_of(v));
  return v.GetDouble();
}

double get_float(const JsonValue& obj, std::string_view key, const std::string& where,
                 double fallback) {
  const JsonValue* v = find(obj, key);
  if (v == nullptr || v->IsNull()) return fallback;
  return get_float(obj, key, where);
}

std::optional<double> get_optional_float(const JsonValue& obj, std::string_view key,
                                         const std::string& where) {
  const JsonValue* v = find(obj, key);
  if (v == nullptr || v->IsNull()) return std::nullopt;
  return get_float(obj, key, where);
}

bool get_bool(const JsonValue& obj, std::string_view key, const std::string& where,
              bool fallback) {
  const JsonValue* v = find(obj, key);
  if (v == nullptr || v->IsNull()) return fallback;
  if (!v->IsBool()) fail(where, "'" + std::string(key) + "' must be true or false");
  return v->GetBool();
}

std::string get_string(const JsonValue& obj, std::string_view key, const std::string& where) {
  const JsonValue& v = require(obj, key, where);
  if (!v.IsString()) fail(where, "'" + std::string(key) + "' must be a string, got " + kind_of(v));
  return {v.GetString(), v.GetStringLength()};
}

std::string get_string(const JsonValue& obj, std::string_view key, const std::string& where,
                       std::string_view fallback) {
  const JsonValue* v = find(obj, key);
  if (v == nullptr || v->IsNull()) return std::string(fallback);
  return get_string(obj, key, where);
}

std::vector<std::int64_t> get_int_tuple(const JsonValue& obj, std::string_view key,
                                        const std::string& where, std::size_t n,
                                        std::optional<std::int64_t> fallback) {
  const JsonValue* v = find(obj, key);
  if (v == nullptr || v->IsNull()) {
    if (!fallback) fail(where, "config has no '" + std::string(key) + "'");
    return std::vector<std::int64_t>(n, *fallback);
  }
  std::vector<std::int64_t> out;
  if (v->IsArray()) {
    for (const auto& e : v->GetArray()) out.push_back(as_int(e, key, where));
    if (n != 0 && out.size() != n) {
      fail(where, "'" + std::string(key) + "' must have " + std::to_string(n) + " entries, got " +
                      std::to_string(out.size()));
    }
  } else {
    out.assign(n == 0 ? 1 : n, as_int(*v, key, where));
  }
  return out;
}

Shape to_shape(const JsonValue& v, const std::string& where) {
  if (!v.IsArray()) fail(where, "a shape must be a list, got " + kind_of(v));
  if (v.Size() > kMaxShapeRank) {
    throw LimitError(where + ": a shape of rank " + std::to_string(v.Size()) +
                     " exceeds the limit of " + std::to_string(kMaxShapeRank) +
                     " (config shapes; docs/security.md)");
  }
  Shape s;
  std::int64_t known = 1;  // product of the known dimensions, at most kMaxShapeElements
  for (const auto& d : v.GetArray()) {
    if (d.IsNull()) {
      s.push_back(-1);
    } else {
      const std::int64_t x = as_int(d, "shape", where);
      if (x < 0) fail(where, "shape has a negative dimension");
      if (x > kMaxShapeElements || (x > 0 && known > kMaxShapeElements / x)) {
        throw LimitError(where + ": a shape whose known dimensions (here " + std::to_string(x) +
                         ") hold more than " + std::to_string(kMaxShapeElements) +
                         " elements, the limit for config shapes (docs/security.md); it could "
                         "not be computed");
      }
      known *= std::max<std::int64_t>(x, 1);
      s.push_back(x);
    }
  }
  return s;
}

JsonValue from_shape(const Shape& shape, JsonDocument::AllocatorType& a) {
  JsonValue arr(rapidjson::kArrayType);
  for (std::int64_t d : shape) {
    if (d < 0) {
      arr.PushBack(JsonValue(), a);
    } else {
      arr.PushBack(JsonValue(static_cast<std::int64_t>(d)), a);
    }
  }
  return arr;
}

JsonValue str(std::string_view s, JsonDocument::AllocatorType& a) {
  return JsonValue(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

void set(JsonValue& obj, std::string_view key, JsonValue value, JsonDocument::AllocatorType& a) {
  auto it = obj.FindMember(rapidjson::StringRef(key.data(), key.size()));
  if (it != obj.MemberEnd()) {
    it->value = std::move(value);
  } else {
    obj.AddMember(str(key, a), std::move(value), a);
  }
}

}  // namespace kserde::cfg
