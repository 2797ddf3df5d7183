#include "kserde/json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <vector>

#include "kserde/error.hpp"

namespace kserde {

namespace {

constexpr unsigned kParseFlags = rapidjson::kParseNanAndInfFlag | rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseFullPrecisionFlag |
                                 rapidjson::kParseValidateEncodingFlag;

// Iterative, so a hostile file's nesting cannot exhaust the stack here either.
std::size_t max_depth_of(const JsonValue& root, std::size_t limit) {
  std::vector<std::pair<const JsonValue*, std::size_t>> stack{{&root, 1}};
  std::size_t deepest = 0;
  while (!stack.empty()) {
    auto [v, d] = stack.back();
    stack.pop_back();
    deepest = std::max(deepest, d);
    if (deepest > limit) return deepest;
    if (v->IsArray()) {
      for (const auto& e : v->GetArray()) stack.emplace_back(&e, d + 1);
    } else if (v->IsObject()) {
      for (const auto& m : v->GetObject()) stack.emplace_back(&m.value, d + 1);
    }
  }
  return deepest;
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
  doc->Parse<kParseFlags>(text.data(), text.size());
  if (doc->HasParseError()) {
    throw ConfigError(what + ": malformed JSON at byte " + std::to_string(doc->GetErrorOffset()) +
                      ": " + rapidjson::GetParseError_En(doc->GetParseError()));
  }
  if (max_depth_of(*doc, limits.max_depth) > limits.max_depth) {
    throw LimitError(what + ": JSON nesting deeper than " + std::to_string(limits.max_depth) +
                     " levels");
  }
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
