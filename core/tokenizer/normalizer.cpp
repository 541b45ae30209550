#include "tokenizer/normalizer.h"

#include <utility>
#include <vector>

#include "tokenizer/text.h"
#include "unicode.h"

namespace lm::tok {
namespace {

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  // HF prepends only to non-empty text: "" stays "" (and encodes to just BOS).
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::string pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override { replace_all(text, pattern_, content_); }

 private:
  std::string pattern_;
  std::string content_;
};

// Unicode normalization forms C and D (core/unicode.h).
class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(bool compose) : compose_(compose) {}
  void normalize(std::string& text) const override {
    if (compose_ && unicode::is_nfc_quick(text)) return;
    std::string out;
    out.reserve(text.size() + 8);
    if (compose_) {
      unicode::nfc(text, out);
    } else {
      unicode::nfd(text, out);
    }
    text = std::move(out);
  }

 private:
  bool compose_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> parse_normalizer(const Json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, where);
  if (type == "Sequence") {
    return std::make_unique<SequenceNormalizer>(parse_sequence(j, "normalizers", where, parse_normalizer));
  }
  if (type == "Prepend") {
    return std::make_unique<PrependNormalizer>(as_string(require(j, "prepend", where), where + ".prepend"));
  }
  if (type == "Replace") {
    std::string pattern = parse_string_pattern(j, "normalizer", where);
    return std::make_unique<ReplaceNormalizer>(std::move(pattern),
                                               as_string(require(j, "content", where), where + ".content"));
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(true);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(false);
  fail_unsupported("normalizer", type);
}

}  // namespace lm::tok
