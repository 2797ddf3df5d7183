// JSON as Keras writes it (Python's json.dumps dialect: NaN/Infinity tokens, \u escapes).
// Configs are carried as RapidJSON values so that keys kserde does not interpret survive a
// load -> save round trip unchanged. Only <rapidjson/fwd.h> is included here; code that reads
// values includes <rapidjson/document.h>.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <rapidjson/fwd.h>

namespace kserde {

using JsonValue = rapidjson::Value;
using JsonDocument = rapidjson::Document;

struct JsonLimits {
  std::size_t max_bytes = 256u << 20;
  std::size_t max_depth = 512;
};

// Parses Python-dialect JSON. ConfigError naming `what` (e.g. "m.keras!config.json") and the
// byte offset on malformed text; LimitError when over the limits.
std::shared_ptr<JsonDocument> parse_json(std::string_view text, const std::string& what,
                                         const JsonLimits& limits = {});
// Serializes like Python's json.dumps: ", " and ": " separators, ASCII only, NaN/Infinity tokens.
std::string to_json(const JsonValue& value);
// Indented form for humans (`kserde inspect --json`, sharded indexes use indent 4).
std::string to_pretty_json(const JsonValue& value, unsigned indent = 4);

}  // namespace kserde
