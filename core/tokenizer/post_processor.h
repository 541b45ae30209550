// Post-processors: what encode() adds around the ids of a sequence when asked
// for special tokens (TemplateProcessing's BOS, ByteLevel, Sequence).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace lm::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Wraps the ids of one encoded sequence (applied only with add_special_tokens).
  virtual void process(std::vector<int32_t>& ids) const = 0;
  virtual std::optional<int32_t> leading_id() const = 0;
};

// tokenizer.json's "post_processor" (null: none, returns nullptr); special
// token ids must lie below vocab_size.
std::unique_ptr<PostProcessor> parse_post_processor(const Json& j, const std::string& where, int32_t vocab_size);

}  // namespace lm::tok
