// Pre-tokenizers: split (and may rewrite) normalized text into the pieces
// the model encodes one at a time (ByteLevel, Split, Digits, Metaspace,
// Sequence).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace lm::tok {

// One piece of pre-tokenized text. `at_origin`: it starts where the input
// text starts (what Metaspace's prepend_scheme "first" asks, as HF's
// offsets_original().0 == 0 does).
struct PreToken {
  std::string text;
  bool at_origin = false;
};

// Splits (and may rewrite) normalized text into the pieces the model sees one
// at a time. As in HF's PreTokenizedString, each step rewrites the whole list
// of pieces and drops the empty ones; "pre_tokenizer": null hands the whole
// piece to the model (so merges cross word boundaries).
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(std::vector<PreToken>& pieces) const = 0;
};

// Metaspace's choice of where to prepend its replacement character.
enum class PrependScheme { kAlways, kFirst, kNever };

// Metaspace's prepend_scheme, or the older add_prefix_space flag (pre-tokenizer and decoder).
PrependScheme parse_prepend_scheme(const Json& j, const std::string& where);
// Metaspace's replacement character (old files call it str_rep).
std::string metaspace_replacement(const Json& j, const std::string& where);

// tokenizer.json's "pre_tokenizer" (null: none, returns nullptr).
std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& j, const std::string& where);

}  // namespace lm::tok
