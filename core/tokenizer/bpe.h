// The model stage: one pre-tokenized piece to ids. BPE with ranked merges
// is the one model type tokenizer.json files of Llama-family models use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_fields.h"

namespace lm::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
// A vocabulary, token text -> id (looked up by string_view, without a copy).
using TokenIds = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

inline std::optional<int32_t> find_id(const TokenIds& ids, std::string_view token) {
  const auto it = ids.find(token);
  if (it == ids.end()) return std::nullopt;
  return it->second;
}

// A tokenizer.json model: pieces to ids, and its vocabulary.
class TokenModel {
 public:
  virtual ~TokenModel() = default;
  // Appends the ids of one pre-tokenized, normalized piece.
  virtual void tokenize(std::string_view piece, std::vector<int32_t>& out) const = 0;
  virtual const TokenIds& vocab() const = 0;
};

// tokenizer.json's "model" (type BPE, or untyped with merges).
std::unique_ptr<TokenModel> parse_model(const Json& j, const std::string& where);

}  // namespace lm::tok
