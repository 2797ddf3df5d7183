#include "kserde/json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "kserde/error.hpp"

namespace kserde {

namespace {

// Numbers reach NumberHandler as text (kParseNumbersAsStringsFlag) and are converted with
// std::from_chars, which rounds correctly: RapidJSON 1.1's own full-precision conversion applies
// __builtin_clzll to a zero significand for inputs such as "0e-300" (undefined behaviour, found by
// fuzzing), and its normal-precision one is not exact.
constexpr unsigned kParseFlags = rapidjson::kParseNanAndInfFlag | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseNumbersAsStringsFlag |
                                 rapidjson::kParseValidateEncodingFlag;

// Forwards SAX events to a document, turning number text into the value RapidJSON would make:
// integers as Int/Uint/Int64/Uint64 when they fit, else (and for fractions and exponents) double.
class NumberHandler {
 public:
  explicit NumberHandler(JsonDocument& d) : d_(d) {}

  bool Null() { return d_.Null(); }
  bool Bool(bool b) { return d_.Bool(b); }
  bool Int(int i) { return d_.Int(i); }
  bool Uint(unsigned u) { return d_.Uint(u); }
  bool Int64(std::int64_t i) { return d_.Int64(i); }
  bool Uint64(std::uint64_t u) { return d_.Uint64(u); }
  bool Double(double v) { return d_.Double(v); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return d_.String(s, n, copy); }
  bool StartObject() { return d_.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return d_.Key(s, n, copy); }
  bool EndObject(rapidjson::SizeType n) { return d_.EndObject(n); }
  bool StartArray() { return d_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return d_.EndArray(n); }

  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view text(s, n);
    const bool negative = !text.empty() && text.front() == '-';
    const std::string_view magnitude = negative ? text.substr(1) : text;
    if (magnitude == "NaN") return d_.Double(std::numeric_limits<double>::quiet_NaN());
    if (magnitude == "Inf" || magnitude == "Infinity") {
      const double inf = std::numeric_limits<double>::infinity();
      return d_.Double(negative ? -inf : inf);
    }
    const char* end = s + n;
    if (text.find_first_of(".eE") == std::string_view::npos) {
      if (negative) {
        std::int64_t i = 0;
        const auto r = std::from_chars(s, end, i);
        if (r.ec == std::errc() && r.ptr == end) {
          return i >= std::numeric_limits<int>::min() ? d_.Int(static_cast<int>(i)) : d_.Int64(i);
        }
      } else {
        std::uint64_t u = 0;
        const auto r = std::from_chars(s, end, u);
        if (r.ec == std::errc() && r.ptr == end) {
          return u <= std::numeric_limits<unsigned>::max() ? d_.Uint(static_cast<unsigned>(u))
                                                           : d_.Uint64(u);
        }
      }
    }
    double v = 0;
    const auto r = std::from_chars(s, end, v);
    if (r.ptr != end) return false;  // RapidJSON has checked the syntax; defensive
    if (r.ec == std::errc::result_out_of_range) {
      // Too small for a double rounds to zero; too large is an error, as in RapidJSON.
      const std::size_t e = text.find_first_of("eE");
      if (e == std::string_view::npos || e + 1 >= text.size() || text[e + 1] != '-') return false;
      v = negative ? -0.0 : 0.0;
    }
    return d_.Double(v);
  }

 private:
  JsonDocument& d_;
};

// A key for a message: quoted, control characters and quotes escaped, cut at 80 bytes.
std::string shown_key(std::string_view k) {
  std::string out = "'";
  for (char c : k.substr(0, 80)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\'' || c == '\\') {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out + (k.size() > 80 ? "...'" : "'");
}

std::string_view name_of(const JsonValue::ConstMemberIterator& m) {
  return {m->name.GetString(), m->name.GetStringLength()};
}

// A key that appears twice in `object`, if any. RFC 8259 leaves the meaning of repeated names to
// each reader, and readers differ (RapidJSON's lookups find the first, Python's json keeps the
// last): a checker and a loader could see different models in one file.
std::optional<std::string_view> repeated_key(const JsonValue& object,
                                             std::vector<std::string_view>& scratch) {
  const auto begin = object.MemberBegin(), end = object.MemberEnd();
  const auto n = static_cast<std::size_t>(end - begin);
  if (n < 2) return std::nullopt;
  if (n <= 16) {
    for (auto i = begin; i != end; ++i) {
      for (auto j = i + 1; j != end; ++j) {
        if (name_of(i) == name_of(j)) return name_of(i);
      }
    }
    return std::nullopt;
  }
  scratch.clear();
  for (auto i = begin; i != end; ++i) scratch.push_back(name_of(i));
  std::sort(scratch.begin(), scratch.end());
  const auto dup = std::adjacent_find(scratch.begin(), scratch.end());
  if (dup == scratch.end()) return std::nullopt;
  return *dup;
}

// Iterative, so a hostile file's nesting cannot exhaust the stack here either. Checks the depth
// limit and that no object repeats a key.
void check_structure(const JsonValue& root, const std::string& what, std::size_t limit) {
  std::vector<std::pair<const JsonValue*, std::size_t>> stack{{&root, 1}};
  std::vector<std::string_view> scratch;
  while (!stack.empty()) {
    auto [v, d] = stack.back();
    stack.pop_back();
    if (d > limit) {
      throw LimitError(what + ": JSON nesting deeper than " + std::to_string(limit) + " levels");
    }
    if (v->IsArray()) {
      for (const auto& e : v->GetArray()) stack.emplace_back(&e, d + 1);
    } else if (v->IsObject()) {
      if (auto key = repeated_key(*v, scratch)) {
        throw ConfigError(what + ": the key " + shown_key(*key) +
                          " appears twice in one JSON object; refusing an ambiguous file "
                          "(readers disagree on which value counts)");
      }
      for (const auto& m : v->GetObject()) stack.emplace_back(&m.value, d + 1);
    }
  }
}

// Python writes "NaN", "Infinity", "-Infinity"; RapidJSON's writer spells them the same with
// kWriteNanAndInfFlag. ASCII output escapes everything else as \uXXXX like ensure_ascii=True.
template <class W>
void write_python_style(const JsonValue& v, W& w) {
  v.Accept(w);
}

}  // namespace

std::shared_ptr<JsonDocument> parse_json(std::string_view text, const std::string& what,
                                         const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    throw LimitError(what + ": JSON of " + std::to_string(text.size()) +
                     " bytes exceeds the limit of " + std::to_string(limits.max_bytes) +
                     " bytes (raise JsonLimits::max_bytes if the file is trusted)");
  }
  auto doc = std::make_shared<JsonDocument>();
  rapidjson::Reader reader;
  auto generate = [&](JsonDocument& d) {
    rapidjson::MemoryStream ms(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
    NumberHandler handler(d);
    return !reader.Parse<kParseFlags>(is, handler).IsError();
  };
  doc->Populate(generate);
  if (reader.HasParseError()) {
    const bool number = reader.GetParseErrorCode() == rapidjson::kParseErrorTermination;
    throw ConfigError(what + ": malformed JSON at byte " + std::to_string(reader.GetErrorOffset()) +
                      ": " +
                      (number ? "number too big to be stored in double"
                              : rapidjson::GetParseError_En(reader.GetParseErrorCode())));
  }
  check_structure(*doc, what, limits.max_depth);
  return doc;
}

std::string to_json(const JsonValue& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::ASCII<>,
                    rapidjson::CrtAllocator, rapidjson::kWriteNanAndInfFlag>
      writer(buffer);
  write_python_style(value, writer);
  // Python's separators: insert a space after ',' and ':' outside strings.
  std::string compact(buffer.GetString(), buffer.GetSize());
  std::string out;
  out.reserve(compact.size() + compact.size() / 8);
  bool in_string = false;
  bool escaped = false;
  for (char c : compact) {
    out.push_back(c);
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == ',' || c == ':') {
      out.push_back(' ');
    }
  }
  return out;
}

namespace {

std::string scalar_json(const JsonValue& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::ASCII<>,
                    rapidjson::CrtAllocator, rapidjson::kWriteNanAndInfFlag>
      writer(buffer);
  v.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

// Python's json.dumps(indent=N) layout. (RapidJSON 1.1's PrettyWriter does not compile with
// the NaN/Infinity flag on GCC 12, hence this small printer.)
void pretty(const JsonValue& v, unsigned indent, unsigned level, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent) * (level + 1), ' ');
  const std::string close_pad(static_cast<std::size_t>(indent) * level, ' ');
  if (v.IsObject() && v.MemberCount() > 0) {
    out += "{\n";
    bool first = true;
    for (const auto& m : v.GetObject()) {
      if (!first) out += ",\n";
      first = false;
      out += pad + scalar_json(m.name) + ": ";
      pretty(m.value, indent, level + 1, out);
    }
    out += "\n" + close_pad + "}";
  } else if (v.IsArray() && !v.Empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& e : v.GetArray()) {
      if (!first) out += ",\n";
      first = false;
      out += pad;
      pretty(e, indent, level + 1, out);
    }
    out += "\n" + close_pad + "]";
  } else {
    out += scalar_json(v);
  }
}

}  // namespace

std::string to_pretty_json(const JsonValue& value, unsigned indent) {
  std::string out;
  pretty(value, indent, 0, out);
  return out;
}

}  // namespace kserde
