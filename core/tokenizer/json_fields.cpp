#include "tokenizer/json_fields.h"

#include "error.h"
#include "unicode.h"

namespace lm::tok {

[[noreturn]] void fail_format(const std::string& what) {
  throw Error(ErrorKind::kFormat, "tokenizer.json: " + what);
}

[[noreturn]] void fail_unsupported(const std::string& component, const std::string& type) {
  throw Error(ErrorKind::kUnsupported, "tokenizer.json: unsupported " + component + " type '" + type + "'");
}

void check_nesting(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) {
        fail_format("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

const Json* member(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

bool is_null_or_absent(const Json* value) { return value == nullptr || value->is_null(); }

const Json& require(const Json& object, const char* key, const std::string& where) {
  const Json* value = member(object, key);
  if (value == nullptr) fail_format(where + " has no '" + key + "'");
  return *value;
}

std::string as_string(const Json& value, const std::string& where) {
  if (!value.is_string()) fail_format(where + " must be a string");
  return value.get<std::string>();
}

bool optional_bool(const Json& object, const char* key, bool fallback, const std::string& where) {
  const Json* value = member(object, key);
  if (is_null_or_absent(value)) return fallback;
  if (!value->is_boolean()) fail_format(where + "." + key + " must be true or false");
  return value->get<bool>();
}

std::optional<std::string> optional_string(const Json& object, const char* key, const std::string& where) {
  const Json* value = member(object, key);
  if (is_null_or_absent(value)) return std::nullopt;
  return as_string(*value, where + "." + key);
}

int64_t as_count(const Json& value, const std::string& where) {
  if (!value.is_number_integer() || value.get<int64_t>() < 0) {
    fail_format(where + " must be a non-negative integer");
  }
  return value.get<int64_t>();
}

int32_t as_token_id(const Json& value, const std::string& where) {
  const int64_t id = as_count(value, where);
  if (id > kMaxTokenId) fail_format(where + " = " + std::to_string(id) + " is out of range");
  return static_cast<int32_t>(id);
}

std::string component_type(const Json& component, const std::string& where) {
  if (!component.is_object()) fail_format(where + " must be an object or null");
  return as_string(require(component, "type", where), where + ".type");
}

std::string parse_string_pattern(const Json& object, const std::string& component, const std::string& where) {
  const Json& pattern = require(object, "pattern", where);
  if (const Json* literal = member(pattern, "String")) return as_string(*literal, where + ".pattern.String");
  if (member(pattern, "Regex") != nullptr) fail_unsupported(component + " Replace pattern", "Regex");
  fail_format(where + ".pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

std::string single_char(const Json& j, const char* key, const std::string& where) {
  std::string value = as_string(require(j, key, where), where + "." + key);
  size_t bad = 0;
  if (value.empty() || unicode::utf8_sequence_at(value, 0, bad) != value.size()) {
    fail_format(where + "." + key + " must be a single character");
  }
  return value;
}

}  // namespace lm::tok
