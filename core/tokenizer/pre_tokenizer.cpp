#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/split_regex.h"
#include "tokenizer/text.h"
#include "unicode.h"

namespace lm::tok {
namespace {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// HF's NormalizedString::split: `spans` cover `piece` in order; appends the
// non-empty pieces that `behavior` makes of them.
void split_piece(const PreToken& piece, const std::vector<Span>& spans, SplitBehavior behavior,
                 std::vector<PreToken>& out) {
  struct Part {
    size_t start;
    size_t end;
    bool remove;
  };
  std::vector<Part> parts;
  parts.reserve(spans.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Span& span : spans) parts.push_back(Part{span.start, span.end, span.match});
      break;
    case SplitBehavior::kIsolated:
      for (const Span& span : spans) parts.push_back(Part{span.start, span.end, false});
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Span& span : spans) {
        if (span.match && !previous_match && !parts.empty()) {
          parts.back().end = span.end;
        } else {
          parts.push_back(Part{span.start, span.end, false});
        }
        previous_match = span.match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !previous_match && !parts.empty()) {
          parts.back().start = it->start;
        } else {
          parts.push_back(Part{it->start, it->end, false});
        }
        previous_match = it->match;
      }
      std::reverse(parts.begin(), parts.end());
      break;
    case SplitBehavior::kContiguous:
      for (const Span& span : spans) {
        if (span.match == previous_match && !parts.empty()) {
          parts.back().end = span.end;
        } else {
          parts.push_back(Part{span.start, span.end, false});
        }
        previous_match = span.match;
      }
      break;
  }
  for (const Part& part : parts) {
    if (part.remove || part.start >= part.end) continue;
    out.push_back(PreToken{piece.text.substr(part.start, part.end - part.start), piece.at_origin && part.start == 0});
  }
}

// The spans of a literal pattern (HF's &str Pattern): each occurrence, left
// to right without overlap, and the text between; an empty pattern matches
// nothing.
void literal_spans(std::string_view text, std::string_view pattern, std::vector<Span>& spans) {
  size_t previous = 0;
  if (!pattern.empty()) {
    for (size_t pos = text.find(pattern); pos != std::string_view::npos; pos = text.find(pattern, pos)) {
      if (previous < pos) spans.push_back(Span{previous, pos, false});
      spans.push_back(Span{pos, pos + pattern.size(), true});
      pos += pattern.size();
      previous = pos;
    }
  }
  if (previous < text.size()) spans.push_back(Span{previous, text.size(), false});
}

// The spans of a character predicate (HF's Fn(char) -> bool Pattern): each
// matching character alone, and the runs between.
template <typename Predicate>
void char_spans(std::string_view text, Predicate matches, std::vector<Span>& spans) {
  size_t previous = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t len = utf8_length(static_cast<unsigned char>(text[i]));
    if (matches(code_point_at(text, i))) {
      if (previous < i) spans.push_back(Span{previous, i, false});
      spans.push_back(Span{i, i + len, true});
      previous = i + len;
    }
    i += len;
  }
  if (previous < text.size()) spans.push_back(Span{previous, text.size(), false});
}

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// Split: a regex (one of the known ones) or a literal, a behavior, invert.
class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::optional<SplitRegex> regex, std::string literal, SplitBehavior behavior, bool invert)
      : regex_(regex), literal_(std::move(literal)), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    std::vector<PreToken> out;
    std::vector<Span> spans;
    for (const PreToken& piece : pieces) {
      spans.clear();
      if (regex_) {
        split_regex_spans(*regex_, piece.text, spans);
      } else {
        literal_spans(piece.text, literal_, spans);
      }
      if (invert_) {
        for (Span& span : spans) span.match = !span.match;
      }
      split_piece(piece, spans, behavior_, out);
    }
    pieces = std::move(out);
  }

 private:
  std::optional<SplitRegex> regex_;
  std::string literal_;
  SplitBehavior behavior_;
  bool invert_;
};

// ByteLevel: optionally a leading space and the GPT-2 split, then every byte
// becomes its printable character.
class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    std::vector<PreToken> out;
    std::vector<Span> spans;
    for (PreToken& piece : pieces) {
      if (add_prefix_space_ && !piece.text.starts_with(' ')) piece.text.insert(0, 1, ' ');
      if (use_regex_) {
        spans.clear();
        split_regex_spans(SplitRegex::kGpt2, piece.text, spans);
        split_piece(piece, spans, SplitBehavior::kIsolated, out);
      } else if (!piece.text.empty()) {
        out.push_back(std::move(piece));
      }
    }
    for (PreToken& piece : out) piece.text = byte_level_encode(piece.text);
    pieces = std::move(out);
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
};

// Digits: numbers (Unicode N) split from the rest, one by one or in runs.
class DigitsPreTokenizer final : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}

  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    std::vector<PreToken> out;
    std::vector<Span> spans;
    for (const PreToken& piece : pieces) {
      spans.clear();
      char_spans(piece.text, unicode::is_number, spans);
      split_piece(piece, spans, individual_ ? SplitBehavior::kIsolated : SplitBehavior::kContiguous, out);
    }
    pieces = std::move(out);
  }

 private:
  bool individual_;
};

// Metaspace: spaces become the replacement character (U+2581), which is also
// prepended (always, or only to the piece at the start of the text), then
// optionally a split before each replacement character.
class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}

  void pre_tokenize(std::vector<PreToken>& pieces) const override {
    std::vector<PreToken> out;
    std::vector<Span> spans;
    for (PreToken& piece : pieces) {
      replace_all(piece.text, " ", replacement_);
      const bool prepend = scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && piece.at_origin);
      if (prepend && !piece.text.starts_with(replacement_)) piece.text.insert(0, replacement_);
      if (split_) {
        spans.clear();
        literal_spans(piece.text, replacement_, spans);
        split_piece(piece, spans, SplitBehavior::kMergedWithNext, out);
      } else if (!piece.text.empty()) {
        out.push_back(std::move(piece));
      }
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

SplitBehavior parse_split_behavior(const Json& j, const std::string& where) {
  const std::string behavior = as_string(require(j, "behavior", where), where + ".behavior");
  if (behavior == "Removed") return SplitBehavior::kRemoved;
  if (behavior == "Isolated") return SplitBehavior::kIsolated;
  if (behavior == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (behavior == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (behavior == "Contiguous") return SplitBehavior::kContiguous;
  fail_format(where + ".behavior '" + behavior + "' is not a split behavior");
}

}  // namespace

PrependScheme parse_prepend_scheme(const Json& j, const std::string& where) {
  if (const auto scheme = optional_string(j, "prepend_scheme", where)) {
    if (*scheme == "always") return PrependScheme::kAlways;
    if (*scheme == "first") return PrependScheme::kFirst;
    if (*scheme == "never") return PrependScheme::kNever;
    fail_format(where + ".prepend_scheme must be \"always\", \"first\" or \"never\"");
  }
  return optional_bool(j, "add_prefix_space", true, where) ? PrependScheme::kAlways : PrependScheme::kNever;
}

std::string metaspace_replacement(const Json& j, const std::string& where) {
  // Old files call it str_rep.
  if (member(j, "replacement") == nullptr && member(j, "str_rep") != nullptr) return single_char(j, "str_rep", where);
  return single_char(j, "replacement", where);
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, where);
  if (type == "Sequence") {
    return std::make_unique<SequencePreTokenizer>(parse_sequence(j, "pretokenizers", where, parse_pre_tokenizer));
  }
  if (type == "ByteLevel") {
    // trim_offsets only moves offsets, which this API does not report.
    return std::make_unique<ByteLevelPreTokenizer>(optional_bool(j, "add_prefix_space", true, where),
                                                   optional_bool(j, "use_regex", true, where));
  }
  if (type == "Split") {
    const Json& pattern = require(j, "pattern", where);
    std::optional<SplitRegex> regex;
    std::string literal;
    if (const Json* text = member(pattern, "String")) {
      literal = as_string(*text, where + ".pattern.String");
    } else if (const Json* re = member(pattern, "Regex")) {
      const std::string source = as_string(*re, where + ".pattern.Regex");
      regex = known_split_regex(source);
      if (!regex) {
        throw Error(ErrorKind::kUnsupported,
                    "tokenizer.json: unsupported pre-tokenizer regex '" + source +
                        "' (supported: the GPT-2, Llama-3 and Qwen2 split patterns)");
      }
    } else {
      fail_format(where + ".pattern must be {\"String\": ...} or {\"Regex\": ...}");
    }
    return std::make_unique<SplitPreTokenizer>(regex, std::move(literal), parse_split_behavior(j, where),
                                               optional_bool(j, "invert", false, where));
  }
  if (type == "Digits") {
    return std::make_unique<DigitsPreTokenizer>(optional_bool(j, "individual_digits", false, where));
  }
  if (type == "Metaspace") {
    return std::make_unique<MetaspacePreTokenizer>(metaspace_replacement(j, where), parse_prepend_scheme(j, where),
                                                   optional_bool(j, "split", true, where));
  }
  fail_unsupported("pre_tokenizer", type);
}

}  // namespace lm::tok
