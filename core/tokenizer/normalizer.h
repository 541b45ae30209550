// Normalizers: the first stage of encoding, rewriting the text (Prepend,
// Replace, NFC / NFD, Sequence). Added tokens with normalized=true are
// matched in the normalized text.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/json_fields.h"

namespace lm::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// tokenizer.json's "normalizer" (null: none, returns nullptr).
std::unique_ptr<Normalizer> parse_normalizer(const Json& j, const std::string& where);

}  // namespace lm::tok
