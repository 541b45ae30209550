// Reading tokenizer.json: typed access to its fields, each failure an
// lm::Error that names the field ("tokenizer.json: model.vocab must be ...").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace lm::tok {

using Json = nlohmann::json;

// Deeper nesting is refused before nlohmann parses anything: tokenizer.json
// needs about 6 levels, and the component parsers recurse on it.
inline constexpr int kMaxJsonDepth = 64;
// Ids index flat tables, so one huge id would allocate a huge table; real
// vocabularies stay far below this (Gemma's 262k is among the largest).
inline constexpr int64_t kMaxTokenId = (int64_t{1} << 22) - 1;

// lm::Error(kFormat) "tokenizer.json: <what>".
[[noreturn]] void fail_format(const std::string& what);
// lm::Error(kUnsupported) naming the component and its type.
[[noreturn]] void fail_unsupported(const std::string& component, const std::string& type);

// Fails when `text` nests objects or arrays deeper than kMaxJsonDepth.
void check_nesting(std::string_view text);

// `where` names the object in error messages ("model", "decoder.decoders[1]").
const Json* member(const Json& object, const char* key);  // nullptr when absent (or not an object)
bool is_null_or_absent(const Json* value);
const Json& require(const Json& object, const char* key, const std::string& where);
std::string as_string(const Json& value, const std::string& where);
bool optional_bool(const Json& object, const char* key, bool fallback, const std::string& where);
std::optional<std::string> optional_string(const Json& object, const char* key, const std::string& where);
int64_t as_count(const Json& value, const std::string& where);
int32_t as_token_id(const Json& value, const std::string& where);
// The "type" of a component object ("BPE", "Sequence", ...).
std::string component_type(const Json& component, const std::string& where);
// A Replace pattern: {"String": "..."}; {"Regex": "..."} is not supported yet.
std::string parse_string_pattern(const Json& object, const std::string& component, const std::string& where);
// The components of a Sequence: each element of the array j[key], parsed by
// parse(element, where) (a null element is refused).
template <class Parse>
auto parse_sequence(const Json& j, const char* key, const std::string& where, Parse parse) {
  const Json& list = require(j, key, where);
  if (!list.is_array()) fail_format(where + "." + key + " must be an array");
  std::vector<decltype(parse(list, where))> steps;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = where + "." + key + "[" + std::to_string(i) + "]";
    if (list[i].is_null()) fail_format(item + " must be an object");
    steps.push_back(parse(list[i], item));
  }
  return steps;
}

// A string field that holds a single character (Metaspace's replacement, Strip's content).
std::string single_char(const Json& j, const char* key, const std::string& where);

}  // namespace lm::tok
