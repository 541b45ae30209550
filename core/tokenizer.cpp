// Tokenizer: a Hugging Face tokenizer.json pipeline, or a SentencePiece model.
//
// encode(text):
//   1. invalid UTF-8 becomes U+FFFD, so every later stage sees valid UTF-8;
//   2. added tokens with normalized=false are split out of the raw text;
//   3. each remaining piece is normalized, then added tokens with
//      normalized=true are split out of the normalized piece (their patterns
//      are their normalized content, so "<s>" under Prepend('▁') is "▁<s>");
//   4. each remaining piece goes through the pre-tokenizer (which splits it
//      into words: ByteLevel, Split with the known regexes, Digits,
//      Metaspace) and each word through the model; 5. the post-processor
//      adds BOS etc.
// decode(ids): each id becomes its piece (an added token: its content), the
// special ones are dropped when asked, and the decoder chain turns the pieces
// into text, streaming them into the output (see Decoder).
//
// Every encode stage is a small class chosen from the JSON when loading, so
// new normalizers, pre-tokenizers and models slot in as new subclasses plus
// one line in the matching parse_* function; a new decoder is a new
// DecodeStep kind.
//
// A SentencePiece tokenizer.model (from_sentencepiece) encodes with
// sentencepiece::Encoder (sentencepiece.h) instead of stages 1-4, and decodes
// through the same Decoder with one SentencePiece step.
#include "tokenizer.h"

#include <algorithm>
#include <array>
#include <new>
#include <queue>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "error.h"
#include "sentencepiece.h"
#include "unicode.h"

namespace lm {
namespace {

using Json = nlohmann::json;

// Deeper nesting is refused before nlohmann parses anything: tokenizer.json
// needs about 6 levels, and the component parsers below recurse on it.
constexpr int kMaxJsonDepth = 64;
// Ids index flat tables, so one huge id would allocate a huge table; real
// vocabularies stay far below this (Gemma's 262k is among the largest).
constexpr int64_t kMaxTokenId = (int64_t{1} << 22) - 1;

[[noreturn]] void fail_format(const std::string& what) {
  throw Error(ErrorKind::kFormat, "tokenizer.json: " + what);
}

[[noreturn]] void fail_unsupported(const std::string& component, const std::string& type) {
  throw Error(ErrorKind::kUnsupported, "tokenizer.json: unsupported " + component + " type '" + type + "'");
}

// ------------------------------------------------------------ JSON access ---

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

// The "type" of a component object ("BPE", "Sequence", ...).
std::string component_type(const Json& component, const std::string& where) {
  if (!component.is_object()) fail_format(where + " must be an object or null");
  return as_string(require(component, "type", where), where + ".type");
}

// ------------------------------------------------------------------ UTF-8 ---


std::string sanitize_utf8(std::string_view s) {
  if (unicode::is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  size_t bad = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = unicode::utf8_sequence_at(s, i, bad);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      i += bad;
    } else {
      out.append(s, i, len);
      i += len;
    }
  }
  return out;
}

// The following helpers assume valid UTF-8.
size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

char32_t code_point_at(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const size_t len = utf8_length(lead);
  if (len == 1) return lead;
  char32_t cp = lead & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

// Start of the character that ends at `end` (end > 0).
size_t previous_char_start(std::string_view s, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

// Rust's char::is_whitespace / regex \s: the Unicode White_Space property.
bool is_unicode_whitespace(char32_t c) { return unicode::is_whitespace(c); }

// Regex \w, which only the single_word option of added tokens consults.
bool is_word_char(char32_t c) { return unicode::is_word(c); }

// Rewrites `text` in place as Rust's String::from_utf8_lossy does: each
// maximal ill-formed subsequence becomes one U+FFFD. Allocates only when the
// text outgrows its capacity.
void make_valid_utf8(std::string& text) {
  size_t bad = 0;
  size_t grown = text.size();
  bool valid = true;
  for (size_t i = 0; i < text.size();) {
    const size_t len = unicode::utf8_sequence_at(text, i, bad);
    if (len == 0) {
      valid = false;
      grown += 3 - bad;
      i += bad;
    } else {
      i += len;
    }
  }
  if (valid) return;
  // Move the text to the end of the grown buffer and rewrite it from the
  // front: each subsequence of 1-3 bytes becomes 3, so the writer never
  // passes the reader.
  const size_t old_size = text.size();
  text.resize(grown);
  size_t read = grown - old_size;
  std::char_traits<char>::move(text.data() + read, text.data(), old_size);
  size_t write = 0;
  while (read < grown) {
    const std::string_view rest(text.data() + read, grown - read);
    const size_t len = unicode::utf8_sequence_at(rest, 0, bad);
    if (len == 0) {
      std::char_traits<char>::copy(text.data() + write, "\xEF\xBF\xBD", 3);
      write += 3;
      read += bad;
    } else {
      std::char_traits<char>::move(text.data() + write, text.data() + read, len);
      write += len;
      read += len;
    }
  }
  text.resize(write);
}

// Literal, non-overlapping, left to right; an empty pattern matches nothing
// (as HF's string Pattern). In place: allocates only when `text` outgrows its
// capacity.
void replace_all(std::string& text, std::string_view pattern, std::string_view content) {
  if (pattern.empty()) return;
  size_t pos = text.find(pattern);
  if (pos == std::string::npos) return;
  // The unread input is text[read, end). It starts at 0 unless the text grows:
  // then it is first moved to the end of the grown buffer. Either way the
  // writer never passes the reader, so a pass from the front rewrites it.
  size_t read = 0;
  if (content.size() > pattern.size()) {
    size_t count = 0;
    for (size_t p = pos; p != std::string::npos; p = text.find(pattern, p + pattern.size())) ++count;
    const size_t old_size = text.size();
    text.resize(old_size + count * (content.size() - pattern.size()));
    read = text.size() - old_size;
    std::char_traits<char>::move(text.data() + read, text.data(), old_size);
    pos += read;
  }
  char* data = text.data();
  const std::string_view view(data, text.size());
  size_t write = 0;
  for (; pos != std::string::npos; pos = view.find(pattern, read)) {
    std::char_traits<char>::move(data + write, data + read, pos - read);
    write += pos - read;
    std::char_traits<char>::copy(data + write, content.data(), content.size());
    write += content.size();
    read = pos + pattern.size();
  }
  std::char_traits<char>::move(data + write, data + read, view.size() - read);
  text.resize(write + view.size() - read);
}

// A Replace pattern: {"String": "..."}; {"Regex": "..."} is not supported yet.
std::string parse_string_pattern(const Json& object, const std::string& component, const std::string& where) {
  const Json& pattern = require(object, "pattern", where);
  if (const Json* literal = member(pattern, "String")) return as_string(*literal, where + ".pattern.String");
  if (member(pattern, "Regex") != nullptr) fail_unsupported(component + " Replace pattern", "Regex");
  fail_format(where + ".pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

// ------------------------------------------------------------ normalizers ---

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

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

std::unique_ptr<Normalizer> parse_normalizer(const Json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, where);
  if (type == "Sequence") {
    const Json& list = require(j, "normalizers", where);
    if (!list.is_array()) fail_format(where + ".normalizers must be an array");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item = where + ".normalizers[" + std::to_string(i) + "]";
      if (list[i].is_null()) fail_format(item + " must be an object");
      steps.push_back(parse_normalizer(list[i], item));
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
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

// --------------------------------------------------------- pre-tokenizers ---

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

// A part of a piece, and whether the split pattern matched it.
struct Span {
  size_t start;
  size_t end;
  bool match;
};

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

// ---- The split regexes of byte-level BPE tokenizers ----
//
// std::regex has no \p{L} / \p{N}, so the patterns real tokenizer.json files
// use are recognized by their exact text and matched by hand. Each is an
// alternation tried left to right at every position, and since every
// character is a letter, a number, white space or something else, a match
// always starts where the last one ended: the matches tile the text.
enum class SplitRegex { kGpt2, kLlama3, kQwen2 };

// GPT-2's (also ByteLevel's own when use_regex is set).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Llama-3's: case-insensitive contractions, a letter run may take one leading
// non-letter, numbers in groups of up to three, newlines kept together.
constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2's: Llama-3's with single digits.
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::optional<SplitRegex> known_split_regex(std::string_view pattern) {
  if (pattern == kGpt2Pattern) return SplitRegex::kGpt2;
  if (pattern == kLlama3Pattern) return SplitRegex::kLlama3;
  if (pattern == kQwen2Pattern) return SplitRegex::kQwen2;
  return std::nullopt;
}

class RegexMatcher {
 public:
  // The spans of `regex`'s matches in `text` (they cover it).
  static void spans(SplitRegex regex, std::string_view text, std::vector<Span>& out) {
    RegexMatcher m(text);
    for (size_t i = 0; i < m.chars_.size();) {
      const size_t end = m.match_at(regex, i);
      out.push_back(Span{m.offset(i), m.offset(end), true});
      i = end;
    }
  }

 private:
  enum class Class : uint8_t { kLetter, kNumber, kSpace, kOther };
  struct Char {
    size_t offset;
    char32_t cp;
    Class cls;
  };

  explicit RegexMatcher(std::string_view text) : size_(text.size()) {
    chars_.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      const char32_t cp = code_point_at(text, i);
      Class cls = Class::kOther;
      if (unicode::is_whitespace(cp)) {
        cls = Class::kSpace;
      } else if (unicode::is_letter(cp)) {
        cls = Class::kLetter;
      } else if (unicode::is_number(cp)) {
        cls = Class::kNumber;
      }
      chars_.push_back(Char{i, cp, cls});
      i += utf8_length(static_cast<unsigned char>(text[i]));
    }
  }

  size_t offset(size_t k) const { return k < chars_.size() ? chars_[k].offset : size_; }
  Class cls(size_t k) const { return chars_[k].cls; }
  bool is(size_t k, char32_t c) const { return k < chars_.size() && chars_[k].cp == c; }
  bool is_cr_lf(size_t k) const { return is(k, '\r') || is(k, '\n'); }

  // The end of the run of `c` characters from k.
  size_t run_end(size_t k, Class c) const {
    while (k < chars_.size() && chars_[k].cls == c) ++k;
    return k;
  }

  // 's 't 're 've 'm 'll 'd: the match length at k, 0 if none. Ignoring case
  // (Unicode simple case folding), U+017F LATIN SMALL LETTER LONG S is an s too.
  size_t contraction(size_t k, bool ignore_case) const {
    if (!is(k, '\'') || k + 1 >= chars_.size()) return 0;
    const auto folded = [&](size_t at) -> char32_t {
      if (at >= chars_.size()) return 0;
      char32_t c = chars_[at].cp;
      if (ignore_case) {
        if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
        if (c == 0x17F) c = 's';
      }
      return c;
    };
    const char32_t a = folded(k + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    const char32_t b = folded(k + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  }

  // \s+(?!\S)|\s+ at white space k: the whole run at the end of the text,
  // else all of it but the last character (which goes with the next word),
  // else the one character.
  size_t whitespace_end(size_t k) const {
    const size_t end = run_end(k, Class::kSpace);
    if (end == chars_.size()) return end;
    return end - k >= 2 ? end - 1 : end;
  }

  size_t match_at(SplitRegex regex, size_t i) const {
    if (regex == SplitRegex::kGpt2) {
      if (const size_t len = contraction(i, false)) return i + len;
      // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
      const size_t j = i + (is(i, ' ') ? 1 : 0);
      if (j < chars_.size() && cls(j) != Class::kSpace) return run_end(j, cls(j));
      return whitespace_end(i);
    }
    if (const size_t len = contraction(i, true)) return i + len;
    const Class first = cls(i);
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (first == Class::kLetter) return run_end(i, Class::kLetter);
    if (first != Class::kNumber && !is_cr_lf(i) && i + 1 < chars_.size() && cls(i + 1) == Class::kLetter) {
      return run_end(i + 1, Class::kLetter);
    }
    // \p{N}{1,3} (Qwen2: \p{N})
    if (first == Class::kNumber) {
      const size_t limit = regex == SplitRegex::kLlama3 ? 3 : 1;
      size_t j = i;
      while (j < chars_.size() && j - i < limit && cls(j) == Class::kNumber) ++j;
      return j;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    size_t j = i + (is(i, ' ') ? 1 : 0);
    if (j < chars_.size() && cls(j) == Class::kOther) {
      j = run_end(j, Class::kOther);
      while (is_cr_lf(j)) ++j;
      return j;
    }
    // Here chars_[i] is white space. \s*[\r\n]+: up to the last CR/LF of the run.
    const size_t end = run_end(i, Class::kSpace);
    for (size_t k = end; k > i; --k) {
      if (is_cr_lf(k - 1)) return k;
    }
    return whitespace_end(i);
  }

  std::vector<Char> chars_;
  size_t size_;
};

// ---- ByteLevel: bytes as printable characters ----

// GPT-2's byte-to-character map: printable Latin-1 bytes stand for
// themselves, the other 68 bytes for U+0100 onwards in byte order.
struct ByteLevelAlphabet {
  std::array<std::string, 256> utf8;  // byte -> its character, UTF-8
  std::array<int16_t, 324> byte_of;   // character (below U+0144) -> byte, -1 if none

  ByteLevelAlphabet() {
    byte_of.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : next++;
      unicode::append_utf8(c, utf8[static_cast<size_t>(b)]);
      byte_of[c] = static_cast<int16_t>(b);
    }
  }

  int byte(char32_t c) const { return c < byte_of.size() ? byte_of[c] : -1; }
};

const ByteLevelAlphabet& byte_level_alphabet() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

std::string byte_level_encode(std::string_view text) {
  const ByteLevelAlphabet& alphabet = byte_level_alphabet();
  std::string out;
  out.reserve(text.size() * 2);
  for (const char c : text) out += alphabet.utf8[static_cast<unsigned char>(c)];
  return out;
}

// HF's ByteLevel decoder on one token: its characters' bytes, or when one of
// them is outside the alphabet, the token's own UTF-8. Appends to `out`.
void byte_level_decode(std::string_view token, std::string& out) {
  const ByteLevelAlphabet& alphabet = byte_level_alphabet();
  for (size_t i = 0; i < token.size();) {
    if (alphabet.byte(code_point_at(token, i)) < 0) {
      out += token;
      return;
    }
    i += utf8_length(static_cast<unsigned char>(token[i]));
  }
  for (size_t i = 0; i < token.size();) {
    out += static_cast<char>(alphabet.byte(code_point_at(token, i)));
    i += utf8_length(static_cast<unsigned char>(token[i]));
  }
}

// ---- the pre-tokenizers ----

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
        RegexMatcher::spans(*regex_, piece.text, spans);
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
        RegexMatcher::spans(SplitRegex::kGpt2, piece.text, spans);
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

enum class PrependScheme { kAlways, kFirst, kNever };

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

// A single character (Metaspace's replacement).
std::string single_char(const Json& j, const char* key, const std::string& where) {
  std::string value = as_string(require(j, key, where), where + "." + key);
  size_t bad = 0;
  if (value.empty() || unicode::utf8_sequence_at(value, 0, bad) != value.size()) {
    fail_format(where + "." + key + " must be a single character");
  }
  return value;
}

// Metaspace's prepend_scheme, or the older add_prefix_space flag.
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

SplitBehavior parse_split_behavior(const Json& j, const std::string& where) {
  const std::string behavior = as_string(require(j, "behavior", where), where + ".behavior");
  if (behavior == "Removed") return SplitBehavior::kRemoved;
  if (behavior == "Isolated") return SplitBehavior::kIsolated;
  if (behavior == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (behavior == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (behavior == "Contiguous") return SplitBehavior::kContiguous;
  fail_format(where + ".behavior '" + behavior + "' is not a split behavior");
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, where);
  if (type == "Sequence") {
    const Json& list = require(j, "pretokenizers", where);
    if (!list.is_array()) fail_format(where + ".pretokenizers must be an array");
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item = where + ".pretokenizers[" + std::to_string(i) + "]";
      if (list[i].is_null()) fail_format(item + " must be an object");
      steps.push_back(parse_pre_tokenizer(list[i], item));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
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

// ------------------------------------------------------------------ model ---

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using TokenIds = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

std::optional<int32_t> find_id(const TokenIds& ids, std::string_view token) {
  const auto it = ids.find(token);
  if (it == ids.end()) return std::nullopt;
  return it->second;
}

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of one pre-tokenized, normalized piece.
  virtual void tokenize(std::string_view piece, std::vector<int32_t>& out) const = 0;
  virtual const TokenIds& vocab() const = 0;
};

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

// Byte-pair encoding with ranked merges, merging exactly as HF's Word does:
// a min-heap of candidate pairs ordered by (rank, position) over a linked
// list of symbols, with stale candidates skipped when popped.
class BpeModel final : public Model {
 public:
  BpeModel(TokenIds vocab, BpeOptions options) : vocab_(std::move(vocab)), options_(std::move(options)) {
    byte_ids_.fill(-1);
    if (options_.byte_fallback) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      for (int b = 0; b < 256; ++b) {
        const std::string token = std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
        if (auto id = find_id(vocab_, token)) byte_ids_[static_cast<size_t>(b)] = *id;
      }
    }
    if (options_.unk_token) unk_id_ = find_id(vocab_, *options_.unk_token);
  }

  // Merges are added in rank order; a repeated pair keeps the later rank (as
  // HF's HashMap collect does).
  void add_merge(const std::string& left, const std::string& right, uint32_t rank) {
    const auto fail = [&](const std::string& why) {
      fail_format("BPE merge '" + left + " " + right + "' " + why);
    };
    const auto left_id = find_id(vocab_, left);
    if (!left_id) fail("uses '" + left + "', which is not in the vocab");
    const auto right_id = find_id(vocab_, right);
    if (!right_id) fail("uses '" + right + "', which is not in the vocab");
    const size_t prefix = options_.continuing_subword_prefix.size();
    if (right.size() < prefix) fail("is shorter than continuing_subword_prefix");
    merged_scratch_.assign(left).append(right, prefix);
    const auto merged_id = find_id(vocab_, merged_scratch_);
    if (!merged_id) fail("makes '" + merged_scratch_ + "', which is not in the vocab");
    merges_[pair_key(*left_id, *right_id)] = Merge{rank, *merged_id};
  }

  const TokenIds& vocab() const override { return vocab_; }

  void tokenize(std::string_view piece, std::vector<int32_t>& out) const override {
    if (piece.empty()) return;
    if (options_.ignore_merges) {
      if (auto id = find_id(vocab_, piece)) {
        out.push_back(*id);
        return;
      }
    }
    std::vector<Symbol> symbols = initial_symbols(piece);
    merge_all(symbols);
    for (const Symbol& symbol : symbols) {
      if (symbol.alive) out.push_back(symbol.id);
    }
  }

 private:
  struct Merge {
    uint32_t rank;
    int32_t new_id;
  };
  struct Symbol {
    int32_t id;
    int32_t prev;  // index of the previous live symbol, -1 if none
    int32_t next;  // index of the next live symbol, -1 if none
    bool alive;
  };
  struct Candidate {
    uint32_t rank;
    int32_t pos;  // index of the left symbol
    int32_t new_id;
  };
  // std::priority_queue keeps the "largest" on top: make that the lowest
  // rank, then the leftmost position.
  struct LaterCandidate {
    bool operator()(const Candidate& a, const Candidate& b) const {
      return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    }
  };

  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  const Merge* find_merge(int32_t left, int32_t right) const {
    const auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  }

  int32_t unk_id() const {
    if (!unk_id_) fail_format("BPE unk_token '" + *options_.unk_token + "' is not in the vocab");
    return *unk_id_;
  }

  // One symbol per character (with the subword prefix / word suffix when
  // configured); unknown characters become <0xNN> byte tokens when the vocab
  // has all of them, else <unk> (consecutive ones fused when fuse_unk), else
  // they are dropped (no unk_token).
  std::vector<Symbol> initial_symbols(std::string_view piece) const {
    std::vector<Symbol> symbols;
    symbols.reserve(piece.size());
    const auto add = [&symbols](int32_t id) {
      const auto index = static_cast<int32_t>(symbols.size());
      if (!symbols.empty()) symbols.back().next = index;
      symbols.push_back(Symbol{id, index - 1, -1, true});
    };
    const bool affixed = !options_.continuing_subword_prefix.empty() || !options_.end_of_word_suffix.empty();
    std::string affixed_char;
    bool unk_pending = false;
    for (size_t i = 0; i < piece.size();) {
      const size_t len = utf8_length(static_cast<unsigned char>(piece[i]));
      std::string_view ch = piece.substr(i, len);
      if (affixed) {
        affixed_char.clear();
        if (i > 0) affixed_char += options_.continuing_subword_prefix;
        affixed_char += ch;
        if (i + len == piece.size()) affixed_char += options_.end_of_word_suffix;
        ch = affixed_char;
      }
      i += len;
      if (auto id = find_id(vocab_, ch)) {
        if (unk_pending) add(unk_id());
        unk_pending = false;
        add(*id);
        continue;
      }
      if (options_.byte_fallback && all_bytes_known(ch)) {
        // HF adds the byte tokens without first flushing a pending <unk>, so
        // that <unk> lands after them; kept for identical output.
        for (const char byte : ch) add(byte_ids_[static_cast<unsigned char>(byte)]);
        continue;
      }
      if (!options_.unk_token) continue;
      if (unk_pending && !options_.fuse_unk) add(unk_id());
      unk_pending = true;
    }
    if (unk_pending) add(unk_id());
    return symbols;
  }

  bool all_bytes_known(std::string_view ch) const {
    for (const char byte : ch) {
      if (byte_ids_[static_cast<unsigned char>(byte)] < 0) return false;
    }
    return true;
  }

  void merge_all(std::vector<Symbol>& symbols) const {
    std::vector<Candidate> storage;
    storage.reserve(symbols.size());
    std::priority_queue<Candidate, std::vector<Candidate>, LaterCandidate> queue(LaterCandidate{},
                                                                                 std::move(storage));
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (const Merge* m = find_merge(symbols[i].id, symbols[i + 1].id)) {
        queue.push(Candidate{m->rank, static_cast<int32_t>(i), m->new_id});
      }
    }
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& left = symbols[static_cast<size_t>(top.pos)];
      if (!left.alive || left.next < 0) continue;
      const Symbol right = symbols[static_cast<size_t>(left.next)];
      // A stale candidate: the pair at this position changed since it was queued.
      const Merge* current = find_merge(left.id, right.id);
      if (current == nullptr || current->new_id != top.new_id) continue;

      symbols[static_cast<size_t>(left.next)].alive = false;
      left.id = top.new_id;
      left.next = right.next;
      if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.pos;

      if (left.prev >= 0) {
        if (const Merge* m = find_merge(symbols[static_cast<size_t>(left.prev)].id, left.id)) {
          queue.push(Candidate{m->rank, left.prev, m->new_id});
        }
      }
      if (left.next >= 0) {
        if (const Merge* m = find_merge(left.id, symbols[static_cast<size_t>(left.next)].id)) {
          queue.push(Candidate{m->rank, top.pos, m->new_id});
        }
      }
    }
  }

  TokenIds vocab_;
  BpeOptions options_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};  // id of "<0xNN>", -1 if absent
  std::optional<int32_t> unk_id_;
  std::string merged_scratch_;  // add_merge's buffer, kept to avoid an allocation per merge
};

TokenIds parse_vocab(const Json& j, const std::string& where) {
  if (!j.is_object()) fail_format(where + " must be an object of token -> id");
  TokenIds vocab;
  vocab.reserve(j.size());
  for (const auto& [token, id] : j.items()) vocab[token] = as_token_id(id, where + "['" + token + "']");
  return vocab;
}

std::unique_ptr<Model> parse_bpe(const Json& j, const std::string& where) {
  const Json* dropout = member(j, "dropout");
  if (!is_null_or_absent(dropout)) {
    if (!dropout->is_number() || dropout->get<double>() < 0.0 || dropout->get<double>() > 1.0) {
      fail_format(where + ".dropout must be null or a number in [0, 1]");
    }
    // Dropout randomizes merges (a training aid); 0 is the same as none.
    if (dropout->get<double>() > 0.0) fail_unsupported("model BPE dropout", "random");
  }
  BpeOptions options;
  options.unk_token = optional_string(j, "unk_token", where);
  options.continuing_subword_prefix = optional_string(j, "continuing_subword_prefix", where).value_or("");
  options.end_of_word_suffix = optional_string(j, "end_of_word_suffix", where).value_or("");
  options.fuse_unk = optional_bool(j, "fuse_unk", false, where);
  options.byte_fallback = optional_bool(j, "byte_fallback", false, where);
  options.ignore_merges = optional_bool(j, "ignore_merges", false, where);

  auto model = std::make_unique<BpeModel>(parse_vocab(require(j, "vocab", where), where + ".vocab"),
                                          std::move(options));
  const Json& merges = require(j, "merges", where);
  if (!merges.is_array()) fail_format(where + ".merges must be an array");
  // Each merge makes a token, so there are fewer than ids; the bound keeps
  // ranks in uint32_t and the merge table small.
  if (merges.size() > static_cast<size_t>(kMaxTokenId) + 1) {
    fail_format(where + ".merges has " + std::to_string(merges.size()) + " entries; at most " +
                std::to_string(kMaxTokenId + 1) + " are accepted");
  }
  uint32_t rank = 0;
  std::string left;
  std::string right;
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& entry = merges[i];
    const auto item = [&] { return where + ".merges[" + std::to_string(i) + "]"; };
    if (entry.is_string()) {
      // Legacy "left right" lines: exactly one space; "#version" lines are comments.
      const std::string& line = entry.get_ref<const std::string&>();
      if (line.starts_with("#version")) continue;
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        fail_format(item() + " = '" + line + "' is not two tokens separated by one space");
      }
      left.assign(line, 0, space);
      right.assign(line, space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      left = entry[0].get_ref<const std::string&>();
      right = entry[1].get_ref<const std::string&>();
    } else {
      fail_format(item() + " must be \"left right\" or [\"left\", \"right\"]");
    }
    model->add_merge(left, right, rank++);
  }
  return model;
}

std::unique_ptr<Model> parse_model(const Json& j, const std::string& where) {
  if (!j.is_object()) fail_format(where + " must be an object");
  // Old files leave out the type; HF then recognizes a BPE by its merges.
  const Json* type = member(j, "type");
  if (type == nullptr && member(j, "merges") != nullptr) return parse_bpe(j, where);
  const std::string name = component_type(j, where);
  if (name == "BPE") return parse_bpe(j, where);
  fail_unsupported("model", name);
}

// ---------------------------------------------------------- added tokens ---

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// Finds added-token patterns like HF's aho-corasick with LeftmostLongest:
// the match starting first, the longest of those, then searching on after it.
// A byte trie suffices: added tokens are few and short.
class PatternMatcher {
 public:
  struct Match {
    size_t start;
    size_t end;
    int32_t value;
  };

  // The first pattern added keeps a duplicate.
  void add(std::string_view pattern, int32_t value) {
    if (pattern.empty()) return;
    if (nodes_.empty()) nodes_.emplace_back();
    size_t node = 0;
    for (const char c : pattern) {
      const auto byte = static_cast<unsigned char>(c);
      size_t child = find_child(node, byte);
      if (child == 0) {
        child = nodes_.size();
        nodes_[node].children.emplace_back(byte, child);
        nodes_.emplace_back();
      }
      node = child;
    }
    if (nodes_[node].value < 0) nodes_[node].value = value;
    first_bytes_[static_cast<unsigned char>(pattern[0])] = true;
  }

  std::optional<Match> find(std::string_view text, size_t from) const {
    if (nodes_.empty()) return std::nullopt;
    for (size_t start = from; start < text.size(); ++start) {
      if (!first_bytes_[static_cast<unsigned char>(text[start])]) continue;
      std::optional<Match> longest;
      size_t node = 0;
      for (size_t i = start; i < text.size(); ++i) {
        node = find_child(node, static_cast<unsigned char>(text[i]));
        if (node == 0) break;
        if (nodes_[node].value >= 0) longest = Match{start, i + 1, nodes_[node].value};
      }
      if (longest) return longest;
    }
    return std::nullopt;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, size_t>> children;
    int32_t value = -1;
  };

  // 0 (the root, never a child) when absent.
  size_t find_child(size_t node, unsigned char byte) const {
    for (const auto& [b, child] : nodes_[node].children) {
      if (b == byte) return child;
    }
    return 0;
  }

  std::vector<Node> nodes_;
  std::array<bool, 256> first_bytes_{};
};

// A piece of text, or an added token (id >= 0) found in it.
struct Piece {
  std::string_view text;
  int32_t id = -1;
};

class AddedVocabulary {
 public:
  // Registers a token from "added_tokens" (as HF's add_tokens does): a token
  // whose content the model already has takes the model's id, a repeated
  // content updates the earlier entry, an empty content is ignored.
  void add(AddedToken token, const TokenIds& model_vocab) {
    if (token.content.empty()) return;
    if (auto it = by_content_.find(token.content); it != by_content_.end()) {
      token.id = tokens_[it->second].id;
      tokens_[it->second] = std::move(token);
      return;
    }
    if (auto model_id = find_id(model_vocab, token.content)) token.id = *model_id;
    by_content_.emplace(token.content, tokens_.size());
    tokens_.push_back(std::move(token));
  }

  // Builds the two matchers; normalized tokens are matched by their
  // normalized content. Special tokens go first, as in HF (this only decides
  // which of two identical patterns wins).
  void build(const Normalizer* normalizer) {
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < tokens_.size(); ++i) {
        const AddedToken& token = tokens_[i];
        if (token.special != (pass == 0)) continue;
        const auto index = static_cast<int32_t>(i);
        if (!token.normalized) {
          raw_.add(token.content, index);
          continue;
        }
        std::string pattern = token.content;
        if (normalizer != nullptr) normalizer->normalize(pattern);
        normalized_.add(pattern, index);
      }
    }
  }

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const PatternMatcher& raw() const { return raw_; }
  const PatternMatcher& normalized() const { return normalized_; }

  std::optional<int32_t> id_of(std::string_view content) const {
    const auto it = by_content_.find(content);
    if (it == by_content_.end()) return std::nullopt;
    return tokens_[it->second].id;
  }

  // HF's AddedVocabulary::find_matches: split `text` into the added tokens
  // found by `matcher` and the text between them, honouring single_word,
  // lstrip and rstrip. Empty in-between pieces are left out.
  void split(std::string_view text, const PatternMatcher& matcher, std::vector<Piece>& out) const {
    size_t start_offset = 0;
    size_t search_from = 0;
    while (auto match = matcher.find(text, search_from)) {
      search_from = match->end;
      size_t start = match->start;
      size_t stop = match->end;
      const AddedToken& token = tokens_[static_cast<size_t>(match->value)];
      if (token.single_word) {
        const bool word_before =
            start > 0 && is_word_char(code_point_at(text, previous_char_start(text, start)));
        const bool word_after = stop < text.size() && is_word_char(code_point_at(text, stop));
        if (word_before || word_after) continue;
      }
      if (token.lstrip) {
        // Spaces already taken by the previous token (its rstrip) stay there.
        // (HF trims all of text[..start]; stopping at start_offset gives the
        // same result without rescanning, so many matches stay linear.)
        while (start > start_offset) {
          const size_t prev = previous_char_start(text, start);
          if (!is_unicode_whitespace(code_point_at(text, prev))) break;
          start = prev;
        }
        start = std::max(start, start_offset);
      }
      if (token.rstrip) {
        // A match inside the spaces the previous token's rstrip took (HF
        // still emits it) takes the same spaces: all of them up to
        // start_offset, so the scan can start there.
        stop = std::max(stop, start_offset);
        while (stop < text.size() && is_unicode_whitespace(code_point_at(text, stop))) {
          stop += utf8_length(static_cast<unsigned char>(text[stop]));
        }
      }
      if (start_offset < start) out.push_back(Piece{text.substr(start_offset, start - start_offset)});
      out.push_back(Piece{text.substr(start, stop - start), token.id});
      start_offset = stop;
    }
    if (start_offset < text.size()) out.push_back(Piece{text.substr(start_offset)});
  }

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> by_content_;
  PatternMatcher raw_;
  PatternMatcher normalized_;
};

AddedToken parse_added_token(const Json& j, const std::string& where) {
  if (!j.is_object()) fail_format(where + " must be an object");
  AddedToken token;
  token.content = as_string(require(j, "content", where), where + ".content");
  token.id = as_token_id(require(j, "id", where), where + ".id");
  token.special = optional_bool(j, "special", false, where);
  token.single_word = optional_bool(j, "single_word", false, where);
  token.lstrip = optional_bool(j, "lstrip", false, where);
  token.rstrip = optional_bool(j, "rstrip", false, where);
  token.normalized = optional_bool(j, "normalized", true, where);
  return token;
}

// -------------------------------------------------------- post-processors ---

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Wraps the ids of one encoded sequence (applied only with add_special_tokens).
  virtual void process(std::vector<int32_t>& ids) const = 0;
  virtual std::optional<int32_t> leading_id() const = 0;
};

// TemplateProcessing, "single" template: special-token ids and the sequence
// "$A" in the order given.
class TemplateProcessor final : public PostProcessor {
 public:
  struct Item {
    std::vector<int32_t> ids;  // a special token's ids; unused for the sequence
    bool is_sequence = false;
  };
  explicit TemplateProcessor(std::vector<Item> items) : items_(std::move(items)) {}

  void process(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    size_t extra = 0;
    for (const Item& item : items_) extra += item.is_sequence ? ids.size() : item.ids.size();
    out.reserve(extra);
    for (const Item& item : items_) {
      const auto& source = item.is_sequence ? ids : item.ids;
      out.insert(out.end(), source.begin(), source.end());
    }
    ids = std::move(out);
  }

  std::optional<int32_t> leading_id() const override {
    if (items_.empty() || items_.front().is_sequence || items_.front().ids.empty()) return std::nullopt;
    return items_.front().ids.front();
  }

 private:
  std::vector<Item> items_;
};

std::unique_ptr<PostProcessor> parse_template(const Json& j, const std::string& where, int32_t vocab_size) {
  const Json& special_tokens = require(j, "special_tokens", where);
  if (!special_tokens.is_object()) fail_format(where + ".special_tokens must be an object");
  const Json& single = require(j, "single", where);
  if (!single.is_array()) fail_format(where + ".single must be an array");
  std::vector<TemplateProcessor::Item> items;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string item_where = where + ".single[" + std::to_string(i) + "]";
    const Json& piece = single[i];
    if (const Json* sequence = member(piece, "Sequence")) {
      const std::string id =
          as_string(require(*sequence, "id", item_where + ".Sequence"), item_where + ".Sequence.id");
      if (id != "A") fail_format(item_where + " uses sequence '" + id + "' in the single template");
      items.push_back(TemplateProcessor::Item{{}, true});
    } else if (const Json* special = member(piece, "SpecialToken")) {
      const std::string name =
          as_string(require(*special, "id", item_where + ".SpecialToken"), item_where + ".SpecialToken.id");
      const Json* entry = member(special_tokens, name.c_str());
      if (entry == nullptr) fail_format(item_where + " names '" + name + "', which special_tokens lacks");
      const Json& ids = require(*entry, "ids", where + ".special_tokens['" + name + "']");
      if (!ids.is_array()) fail_format(where + ".special_tokens['" + name + "'].ids must be an array");
      TemplateProcessor::Item item;
      for (const Json& id : ids) {
        const int32_t value = as_token_id(id, where + ".special_tokens['" + name + "'].ids[]");
        if (value >= vocab_size) {
          fail_format(where + " special token '" + name + "' has id " + std::to_string(value) +
                      " outside the vocab");
        }
        item.ids.push_back(value);
      }
      items.push_back(std::move(item));
    } else {
      fail_format(item_where + " must be {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
  }
  return std::make_unique<TemplateProcessor>(std::move(items));
}

// ByteLevel as a post-processor only trims offsets: the ids stay as they are.
class IdentityProcessor final : public PostProcessor {
 public:
  void process(std::vector<int32_t>&) const override {}
  std::optional<int32_t> leading_id() const override { return std::nullopt; }
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& step : steps_) step->process(ids);
  }
  // The id the last step that prepends one puts first.
  std::optional<int32_t> leading_id() const override {
    std::optional<int32_t> id;
    for (const auto& step : steps_) {
      if (auto leading = step->leading_id()) id = leading;
    }
    return id;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

std::unique_ptr<PostProcessor> parse_post_processor(const Json& j, const std::string& where,
                                                    int32_t vocab_size) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, where);
  if (type == "TemplateProcessing") return parse_template(j, where, vocab_size);
  if (type == "ByteLevel") return std::make_unique<IdentityProcessor>();
  if (type == "Sequence") {
    const Json& list = require(j, "processors", where);
    if (!list.is_array()) fail_format(where + ".processors must be an array");
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item = where + ".processors[" + std::to_string(i) + "]";
      if (list[i].is_null()) fail_format(item + " must be an object");
      steps.push_back(parse_post_processor(list[i], item, vocab_size));
    }
    return std::make_unique<SequenceProcessor>(std::move(steps));
  }
  fail_unsupported("post_processor", type);
}

// --------------------------------------------------------------- decoders ---

// One step of the decoder chain (a Sequence is flattened into its steps).
struct DecodeStep {
  enum class Kind { kReplace, kByteFallback, kFuse, kStrip, kByteLevel, kMetaspace, kSentencePiece };
  Kind kind;
  std::string pattern;  // Replace: what to find
  std::string content;  // Replace: its replacement; Strip: the character to strip; Metaspace: the replacement
  size_t start = 0;     // Strip: at most this many at the front
  size_t stop = 0;      //        and this many at the back
  bool prepend = false;  // Metaspace: the first token loses its replacement characters;
                         // SentencePiece: the first piece loses one leading U+2581
  bool bytes = false;    // SentencePiece: <0xNN> pieces are bytes (byte_fallback)
  bool all_leading = false;  // SentencePiece: so does every piece until there is text
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "<0xNN>" with NN read like Rust's u8::from_str_radix(NN, 16), which also
// takes "+N".
std::optional<int> byte_token_value(std::string_view token) {
  if (token.size() != 6 || !token.starts_with("<0x") || token.back() != '>') return std::nullopt;
  const int high = hex_digit(token[3]);
  const int low = hex_digit(token[4]);
  if (token[3] == '+' && low >= 0) return low;
  if (high < 0 || low < 0) return std::nullopt;
  return high * 16 + low;
}

// Strip: the [begin, end) of `text` left after removing up to `start` leading
// and `stop` trailing `content` characters (never past each other).
std::pair<size_t, size_t> strip_range(std::string_view text, const DecodeStep& step) {
  const std::string_view c = step.content;
  size_t begin = 0;
  for (size_t n = 0; n < step.start && text.substr(begin).starts_with(c); ++n) begin += c.size();
  size_t end = text.size();
  for (size_t n = 0; n < step.stop && end - begin >= c.size() && text.substr(0, end).ends_with(c); ++n) {
    end -= c.size();
  }
  return {begin, end};
}

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581, SentencePiece's space
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

bool is_fusing(DecodeStep::Kind kind) {
  return kind == DecodeStep::Kind::kFuse || kind == DecodeStep::Kind::kByteLevel;
}

// HF's decoders each rewrite the whole list of token strings in turn
// (Decoder::decode_chain), and the list is then joined. Up to the first
// fusing step (Fuse, or ByteLevel, which turns all tokens into one string of
// their bytes) every step acts on one token at a time (Replace, Strip,
// Metaspace, which also needs the token's place in the list) or on a run of
// tokens (ByteFallback: a run of "<0xNN>" becomes its bytes when they are
// valid UTF-8, else one U+FFFD per byte); after it the list is one string.
// So a Decoder::Run streams each token through the steps before the fusing
// one straight into the output (as bytes for ByteLevel, which are then made
// valid UTF-8 in place), then applies the remaining steps to the output in
// place: the same result, without building the list. Tokens rewritten by a
// step go through per-thread scratch strings, which stop growing once they
// have held the longest token, so decoding into a string with enough
// capacity does not allocate.
//
// SentencePiece's decoding is one more token step: byte pieces join into
// characters (each byte of an invalid sequence becomes U+FFFD), U+2581
// becomes a space, and the first piece loses one leading U+2581 (the dummy
// prefix; with remove_extra_whitespaces, every piece until there is text).
// An empty token (a skipped control piece) only ends a byte run.
class Decoder {
 public:
  // `max_piece_size`: the longest vocab piece, to size the scratch up front.
  Decoder(std::vector<DecodeStep> steps, size_t max_piece_size) {
    for (const DecodeStep& step : steps) {
      if (step.kind == DecodeStep::Kind::kByteFallback ||
          (step.kind == DecodeStep::Kind::kSentencePiece && step.bytes)) {
        has_byte_runs_ = true;
      }
      if (step.kind == DecodeStep::Kind::kByteLevel) has_byte_level_ = true;
    }
    const auto fuse = std::find_if(steps.begin(), steps.end(), [](const DecodeStep& s) { return is_fusing(s.kind); });
    if (fuse != steps.end()) fuse_kind_ = fuse->kind;
    token_steps_.assign(std::make_move_iterator(steps.begin()), std::make_move_iterator(fuse));
    if (fuse != steps.end()) {
      text_steps_.assign(std::make_move_iterator(fuse + 1), std::make_move_iterator(steps.end()));
    }
    // A bound on the token a step writes to its scratch: Replace can only
    // grow a piece by content/pattern, and byte runs are usually a character.
    constexpr size_t kMaxReserve = size_t{1} << 16;
    size_t bound = std::max<size_t>(max_piece_size, 16);
    for (const DecodeStep& step : token_steps_) {
      const bool rewrites = step.kind == DecodeStep::Kind::kReplace || step.kind == DecodeStep::Kind::kMetaspace ||
                            step.kind == DecodeStep::Kind::kSentencePiece;
      if (step.kind == DecodeStep::Kind::kReplace && !step.pattern.empty() &&
          step.content.size() > step.pattern.size()) {
        const size_t growth = step.content.size() - step.pattern.size();
        bound = std::min(kMaxReserve, bound + bound / step.pattern.size() * growth);
      }
      scratch_reserve_.push_back(rewrites ? bound : 16);
    }
  }

  // Whether the text of a run ending with this piece may still change when
  // more pieces follow (for streaming): a "<0xNN>" piece that ByteFallback
  // (or SentencePiece's byte pieces) may join with the bytes after it. The
  // other token steps only ever extend the output: Strip removes at most a
  // fixed number of characters at either end, which keeps every earlier
  // output a prefix of later ones. ByteLevel is handled by the tokenizer (it
  // knows each piece's bytes).
  bool holds_open(std::string_view piece) const { return has_byte_runs_ && byte_token_value(piece).has_value(); }
  bool has_byte_level() const { return has_byte_level_; }

  // Decoding one token sequence into `out` (cleared first): push() each
  // token, then finish(). One Run at a time per thread (they share scratch).
  class Run {
   public:
    Run(const Decoder& decoder, std::string& out)
        : decoder_(decoder), out_(out), scratch_(thread_scratch()), state_(thread_state()) {
      out_.clear();
      const size_t steps = decoder_.token_steps_.size();
      if (scratch_.size() < steps) scratch_.resize(steps);
      if (state_.size() < steps) state_.resize(steps);
      for (size_t k = 0; k < steps; ++k) {
        scratch_[k].clear();
        scratch_[k].reserve(decoder_.scratch_reserve_[k]);
        state_[k] = StepState{};
      }
    }
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    void push(std::string_view token) { emit(0, token); }

    void finish() {
      for (size_t k = 0; k < decoder_.token_steps_.size(); ++k) {
        const DecodeStep::Kind kind = decoder_.token_steps_[k].kind;
        if (kind == DecodeStep::Kind::kByteFallback) flush_bytes(k);
        if (kind == DecodeStep::Kind::kSentencePiece) flush_piece_bytes(k);
      }
      if (decoder_.fuse_kind_ == DecodeStep::Kind::kByteLevel) make_valid_utf8(out_);
      for (const DecodeStep& step : decoder_.text_steps_) apply_to_text(step);
    }

   private:
    struct StepState {
      size_t index = 0;       // tokens this step has received
      bool produced = false;  // SentencePiece: it has emitted text
      bool seen = false;      // SentencePiece: it has had a piece
    };

    static std::vector<std::string>& thread_scratch() {
      thread_local std::vector<std::string> scratch;
      return scratch;
    }
    static std::vector<StepState>& thread_state() {
      thread_local std::vector<StepState> state;
      return state;
    }

    // Feeds `token` to token step k; past the last one it joins the output.
    void emit(size_t k, std::string_view token) {
      if (k == decoder_.token_steps_.size()) {
        if (decoder_.fuse_kind_ == DecodeStep::Kind::kByteLevel) {
          byte_level_decode(token, out_);
        } else {
          out_ += token;
        }
        return;
      }
      const DecodeStep& step = decoder_.token_steps_[k];
      const size_t index = state_[k].index++;
      switch (step.kind) {
        case DecodeStep::Kind::kReplace: {
          if (step.pattern.empty() || token.find(step.pattern) == std::string_view::npos) {
            emit(k + 1, token);
            return;
          }
          std::string& replaced = scratch_[k];
          replaced.assign(token);
          replace_all(replaced, step.pattern, step.content);
          emit(k + 1, replaced);
          return;
        }
        case DecodeStep::Kind::kByteFallback:
          if (const auto byte = byte_token_value(token)) {
            scratch_[k].push_back(static_cast<char>(*byte));  // the run so far
            return;
          }
          flush_bytes(k);
          emit(k + 1, token);
          return;
        case DecodeStep::Kind::kStrip: {
          const auto [begin, end] = strip_range(token, step);
          emit(k + 1, token.substr(begin, end - begin));
          return;
        }
        case DecodeStep::Kind::kMetaspace: {
          if (token.find(step.content) == std::string_view::npos) {
            emit(k + 1, token);
            return;
          }
          std::string& replaced = scratch_[k];
          replaced.assign(token);
          replace_all(replaced, step.content, index == 0 && step.prepend ? "" : " ");
          emit(k + 1, replaced);
          return;
        }
        case DecodeStep::Kind::kSentencePiece: {
          if (step.bytes) {
            if (const auto byte = byte_token_value(token)) {
              scratch_[k].push_back(static_cast<char>(*byte));
              return;
            }
          }
          flush_piece_bytes(k);
          if (token.empty()) return;
          std::string_view piece = token;
          StepState& state = state_[k];
          if (step.prepend && !state.produced && (step.all_leading || !state.seen) &&
              piece.starts_with(kSpaceSymbol)) {
            piece.remove_prefix(kSpaceSymbol.size());
          }
          state.seen = true;
          if (!piece.empty()) state.produced = true;
          if (piece.find(kSpaceSymbol) == std::string_view::npos) {
            emit(k + 1, piece);
            return;
          }
          std::string& replaced = scratch_[k];  // empty: the byte run was flushed
          replaced.assign(piece);
          replace_all(replaced, kSpaceSymbol, " ");
          emit(k + 1, replaced);
          replaced.clear();
          return;
        }
        case DecodeStep::Kind::kFuse:
        case DecodeStep::Kind::kByteLevel:
          break;  // never before the fusing step
      }
    }

    // Ends the byte run held by ByteFallback step k.
    void flush_bytes(size_t k) {
      std::string& bytes = scratch_[k];
      if (bytes.empty()) return;
      if (unicode::is_valid_utf8(bytes)) {
        emit(k + 1, bytes);
      } else {
        for (size_t i = 0; i < bytes.size(); ++i) emit(k + 1, kReplacementChar);
      }
      bytes.clear();
    }

    // Ends the byte run held by SentencePiece step k: each character as it
    // is, each byte that does not start one as U+FFFD.
    void flush_piece_bytes(size_t k) {
      std::string& bytes = scratch_[k];
      if (bytes.empty()) return;
      state_[k].produced = true;
      size_t bad = 0;
      for (size_t i = 0; i < bytes.size();) {
        const size_t len = unicode::utf8_sequence_at(bytes, i, bad);
        if (len == 0) {
          emit(k + 1, kReplacementChar);
          ++i;
        } else {
          emit(k + 1, std::string_view(bytes).substr(i, len));
          i += len;
        }
      }
      bytes.clear();
    }

    // A step after the fusing one, on the one string the list has become.
    void apply_to_text(const DecodeStep& step) {
      switch (step.kind) {
        case DecodeStep::Kind::kReplace:
          replace_all(out_, step.pattern, step.content);
          return;
        case DecodeStep::Kind::kByteFallback:
          if (const auto byte = byte_token_value(out_)) {
            if (*byte < 0x80) {
              out_.assign(1, static_cast<char>(*byte));
            } else {
              out_.assign(kReplacementChar);
            }
          }
          return;
        case DecodeStep::Kind::kStrip: {
          const auto [begin, end] = strip_range(out_, step);
          out_.resize(end);
          out_.erase(0, begin);
          return;
        }
        case DecodeStep::Kind::kMetaspace:
          replace_all(out_, step.content, step.prepend ? "" : " ");  // the first (only) token
          return;
        case DecodeStep::Kind::kByteLevel: {
          // Every character maps to one byte, so this rewrites in place.
          const ByteLevelAlphabet& alphabet = byte_level_alphabet();
          bool all_mapped = true;
          for (size_t i = 0; i < out_.size() && all_mapped;) {
            all_mapped = alphabet.byte(code_point_at(out_, i)) >= 0;
            i += utf8_length(static_cast<unsigned char>(out_[i]));
          }
          if (all_mapped) {
            size_t write = 0;
            for (size_t i = 0; i < out_.size();) {
              const int byte = alphabet.byte(code_point_at(out_, i));
              i += utf8_length(static_cast<unsigned char>(out_[i]));
              out_[write++] = static_cast<char>(byte);
            }
            out_.resize(write);
          }
          make_valid_utf8(out_);
          return;
        }
        case DecodeStep::Kind::kFuse:
        case DecodeStep::Kind::kSentencePiece:
          return;
      }
    }

    const Decoder& decoder_;
    std::string& out_;
    std::vector<std::string>& scratch_;  // [k]: token step k's rewritten token or byte run
    std::vector<StepState>& state_;      // [k]: token step k's position
  };

 private:
  std::vector<DecodeStep> token_steps_;  // before the first fusing step, on each token
  std::optional<DecodeStep::Kind> fuse_kind_;  // Fuse, ByteLevel, or none (then the tokens are joined)
  std::vector<DecodeStep> text_steps_;   // after it, on the joined text
  std::vector<size_t> scratch_reserve_;  // per token step
  bool has_byte_runs_ = false;
  bool has_byte_level_ = false;
};

// Appends the steps of decoder `j` (flattening Sequences) to `steps`.
void parse_decode_steps(const Json& j, const std::string& where, std::vector<DecodeStep>& steps) {
  const std::string type = component_type(j, where);
  if (type == "Sequence") {
    const Json& list = require(j, "decoders", where);
    if (!list.is_array()) fail_format(where + ".decoders must be an array");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string item = where + ".decoders[" + std::to_string(i) + "]";
      if (list[i].is_null()) fail_format(item + " must be an object");
      parse_decode_steps(list[i], item, steps);
    }
    return;
  }
  if (type == "Replace") {
    std::string pattern = parse_string_pattern(j, "decoder", where);
    steps.push_back(DecodeStep{DecodeStep::Kind::kReplace, std::move(pattern),
                               as_string(require(j, "content", where), where + ".content")});
    return;
  }
  if (type == "ByteFallback") {
    steps.push_back(DecodeStep{DecodeStep::Kind::kByteFallback, {}, {}});
    return;
  }
  if (type == "Fuse") {
    steps.push_back(DecodeStep{DecodeStep::Kind::kFuse, {}, {}});
    return;
  }
  if (type == "Strip") {
    std::string content = single_char(j, "content", where);
    const auto start = static_cast<size_t>(as_count(require(j, "start", where), where + ".start"));
    const auto stop = static_cast<size_t>(as_count(require(j, "stop", where), where + ".stop"));
    steps.push_back(DecodeStep{DecodeStep::Kind::kStrip, {}, std::move(content), start, stop});
    return;
  }
  if (type == "ByteLevel") {
    // Its add_prefix_space / trim_offsets / use_regex do not affect decoding.
    steps.push_back(DecodeStep{DecodeStep::Kind::kByteLevel, {}, {}});
    return;
  }
  if (type == "Metaspace") {
    DecodeStep step{DecodeStep::Kind::kMetaspace, {}, metaspace_replacement(j, where)};
    step.prepend = parse_prepend_scheme(j, where) != PrependScheme::kNever;
    steps.push_back(std::move(step));
    return;
  }
  fail_unsupported("decoder", type);
}

std::unique_ptr<Decoder> parse_decoder(const Json& j, const std::string& where, size_t max_piece_size) {
  if (j.is_null()) return nullptr;
  std::vector<DecodeStep> steps;
  parse_decode_steps(j, where, steps);
  return std::make_unique<Decoder>(std::move(steps), max_piece_size);
}

}  // namespace

// ----------------------------------------------------------------- Impl ---

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  AddedVocabulary added;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;

  // A SentencePiece model (from_sentencepiece) encodes on its own; its
  // pieces are looked up in `vocab_ids`, and `bos` is its BOS id.
  std::unique_ptr<sentencepiece::Encoder> sentencepiece;
  TokenIds vocab_ids;
  std::optional<int32_t> bos;
  // SentencePiece: a skipped special (control) token still ends a byte run,
  // and <unk> decodes to its surface text (" \u2047 ").
  bool specials_break_runs = false;
  size_t surface_id = std::string::npos;
  std::string surface_text;

  // Indexed by id: the piece decode starts from (an added token's content
  // wins over the model's piece, as in HF), whether the id has a piece, is
  // special, and leaves the decoder's output open (see Decoder::holds_open).
  std::vector<std::string> pieces;
  std::vector<uint8_t> present;
  std::vector<uint8_t> special;
  std::vector<uint8_t> open;
  // ByteLevel decoders: the last (up to 3) bytes each piece decodes to,
  // [0] holding how many (see byte_level_stable_length).
  std::vector<std::array<uint8_t, 4>> byte_tail;

  static std::unique_ptr<Impl> build(const Json& root);

  void encode_piece(std::string_view text, bool at_origin, std::vector<int32_t>& ids) const {
    if (text.empty()) return;
    if (!pre_tokenizer) {
      model->tokenize(text, ids);
      return;
    }
    std::vector<PreToken> words;
    words.push_back(PreToken{std::string(text), at_origin});
    pre_tokenizer->pre_tokenize(words);
    for (const PreToken& word : words) model->tokenize(word.text, ids);
  }

  std::vector<int32_t> encode(std::string_view input, bool add_special_tokens) const {
    if (sentencepiece) {
      std::vector<int32_t> ids = sentencepiece->encode(input);
      if (add_special_tokens && bos) ids.insert(ids.begin(), *bos);
      return ids;
    }
    const std::string text = sanitize_utf8(input);
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 2 + 4);
    std::vector<Piece> raw_pieces;
    added.split(text, added.raw(), raw_pieces);
    std::string normalized;
    std::vector<Piece> pieces_of_normalized;
    for (const Piece& raw : raw_pieces) {
      if (raw.id >= 0) {
        ids.push_back(raw.id);
        continue;
      }
      normalized.assign(raw.text);
      if (normalizer) normalizer->normalize(normalized);
      pieces_of_normalized.clear();
      added.split(normalized, added.normalized(), pieces_of_normalized);
      const bool raw_at_origin = raw.text.data() == text.data();
      for (const Piece& piece : pieces_of_normalized) {
        if (piece.id >= 0) {
          ids.push_back(piece.id);
        } else {
          encode_piece(piece.text, raw_at_origin && piece.text.data() == normalized.data(), ids);
        }
      }
    }
    if (add_special_tokens && post_processor) post_processor->process(ids);
    return ids;
  }

  size_t checked_index(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= pieces.size()) {
      throw Error(ErrorKind::kInvalidArgument, "decode: token id " + std::to_string(id) +
                                                   " is outside the vocabulary [0, " +
                                                   std::to_string(pieces.size()) + ")");
    }
    return static_cast<size_t>(id);
  }

  // Allocates nothing once `out` (and this thread's decoder scratch) have
  // grown: the streaming generator calls it on every step.
  void decode(std::span<const int32_t> ids, bool skip_special_tokens, std::string& out) const {
    for (const int32_t id : ids) checked_index(id);  // throws before `out` changes
    // A hole in the id range has no piece: HF skips it too.
    const auto kept = [&](int32_t id) {
      const auto index = static_cast<size_t>(id);
      return present[index] && !(skip_special_tokens && special[index]);
    };
    if (!decoder) {
      // HF joins with spaces when there is no decoder.
      out.clear();
      bool first = true;
      for (const int32_t id : ids) {
        if (!kept(id)) continue;
        if (!first) out += ' ';
        first = false;
        out += pieces[static_cast<size_t>(id)];
      }
      return;
    }
    Decoder::Run run(*decoder, out);
    for (const int32_t id : ids) {
      const auto index = static_cast<size_t>(id);
      if (kept(id)) {
        run.push(index == surface_id ? std::string_view(surface_text) : std::string_view(pieces[index]));
      } else if (specials_break_runs && present[index]) {
        run.push({});
      }
    }
    run.finish();
  }

  size_t stable_prefix_length(std::span<const int32_t> ids) const {
    // Every id is checked, as decode() does, not only the trailing run walked below.
    for (const int32_t id : ids) checked_index(id);
    // Walk back over the trailing run of open pieces and special tokens (a
    // skipped special token does not end a byte run, except in
    // SentencePiece) and ids without a piece (decode skips them too); the
    // run is open from its first open piece on.
    size_t stable = ids.size();
    for (size_t i = ids.size(); i > 0; --i) {
      const size_t index = checked_index(ids[i - 1]);
      if (open[index]) {
        stable = i - 1;
      } else if (present[index] && (!special[index] || specials_break_runs)) {
        break;
      }
    }
    if (!byte_tail.empty()) stable = std::min(stable, byte_level_stable_length(ids));
    return stable;
  }

  // ByteLevel decodes the bytes of all pieces at once (invalid UTF-8 as
  // U+FFFD), so a character may span pieces: the pieces from the lead byte
  // of a trailing incomplete UTF-8 sequence on may still change. Special
  // tokens are transparent, as they may be skipped.
  size_t byte_level_stable_length(std::span<const int32_t> ids) const {
    std::array<unsigned char, 3> last{};  // the last bytes, the very last first
    std::array<size_t, 3> owner{};        // the index in `ids` each came from
    size_t count = 0;
    for (size_t i = ids.size(); i > 0 && count < last.size(); --i) {
      const size_t index = checked_index(ids[i - 1]);
      if (special[index] || !present[index]) continue;
      const std::array<uint8_t, 4>& tail = byte_tail[index];
      for (size_t k = tail[0]; k > 0 && count < last.size(); --k) {
        last[count] = tail[k];
        owner[count] = i - 1;
        ++count;
      }
    }
    for (size_t n = count; n > 0; --n) {
      const unsigned char lead = last[n - 1];
      if (lead < 0xC2 || lead > 0xF4) continue;
      char sequence[3];
      for (size_t k = 0; k < n; ++k) sequence[k] = static_cast<char>(last[n - 1 - k]);
      size_t bad = 0;
      if (unicode::utf8_sequence_at(std::string_view(sequence, n), 0, bad) == 0 && bad == n) return owner[n - 1];
    }
    return ids.size();
  }

  // Fills the tables indexed by id once pieces, present and special are set.
  void index_decoder() {
    const size_t size = pieces.size();
    open.assign(size, 0);
    if (!decoder) return;
    for (size_t id = 0; id < size; ++id) open[id] = present[id] && decoder->holds_open(pieces[id]);
    if (decoder->has_byte_level()) {
      byte_tail.assign(size, std::array<uint8_t, 4>{});
      std::string bytes;
      for (size_t id = 0; id < size; ++id) {
        bytes.clear();
        byte_level_decode(pieces[id], bytes);
        const size_t n = std::min<size_t>(bytes.size(), 3);
        byte_tail[id][0] = static_cast<uint8_t>(n);
        for (size_t k = 0; k < n; ++k) byte_tail[id][1 + k] = static_cast<uint8_t>(bytes[bytes.size() - n + k]);
      }
    }
  }
};

std::unique_ptr<Tokenizer::Impl> Tokenizer::Impl::build(const Json& root) {
  if (!root.is_object()) fail_format("the top level must be an object");
  auto impl = std::make_unique<Impl>();
  // "truncation" and "padding" are ignored: transformers overrides both on
  // every call, and this API encodes one text with no length options.
  const Json null_value;
  const auto component = [&](const char* key) -> const Json& {
    const Json* value = member(root, key);
    return value == nullptr ? null_value : *value;
  };

  impl->normalizer = parse_normalizer(component("normalizer"), "normalizer");
  impl->pre_tokenizer = parse_pre_tokenizer(component("pre_tokenizer"), "pre_tokenizer");
  impl->model = parse_model(require(root, "model", "the top level"), "model");

  const Json& added_json = component("added_tokens");
  if (!added_json.is_null()) {
    if (!added_json.is_array()) fail_format("added_tokens must be an array");
    for (size_t i = 0; i < added_json.size(); ++i) {
      impl->added.add(parse_added_token(added_json[i], "added_tokens[" + std::to_string(i) + "]"),
                      impl->model->vocab());
    }
  }
  impl->added.build(impl->normalizer.get());

  int32_t max_id = -1;
  for (const auto& [token, id] : impl->model->vocab()) max_id = std::max(max_id, id);
  for (const AddedToken& token : impl->added.tokens()) max_id = std::max(max_id, token.id);
  const auto size = static_cast<size_t>(max_id + 1);
  impl->pieces.assign(size, std::string());
  impl->present.assign(size, 0);
  impl->special.assign(size, 0);
  for (const auto& [token, id] : impl->model->vocab()) {
    impl->pieces[static_cast<size_t>(id)] = token;
    impl->present[static_cast<size_t>(id)] = 1;
  }
  for (const AddedToken& token : impl->added.tokens()) {
    const auto index = static_cast<size_t>(token.id);
    impl->pieces[index] = token.content;
    impl->present[index] = 1;
    if (token.special) impl->special[index] = 1;
  }

  impl->post_processor = parse_post_processor(component("post_processor"), "post_processor", max_id + 1);
  size_t max_piece_size = 0;
  for (const std::string& piece : impl->pieces) max_piece_size = std::max(max_piece_size, piece.size());
  impl->decoder = parse_decoder(component("decoder"), "decoder", max_piece_size);
  impl->bos = impl->post_processor ? impl->post_processor->leading_id() : std::nullopt;
  impl->index_decoder();
  return impl;
}

// ------------------------------------------------------------ Tokenizer ---

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(std::string_view json_text) {
  if (json_text.size() > kMaxTokenizerJsonBytes) {
    throw Error(ErrorKind::kResourceLimit, "tokenizer.json: the file has " + std::to_string(json_text.size()) +
                                               " bytes; at most " + std::to_string(kMaxTokenizerJsonBytes) +
                                               " are accepted");
  }
  check_nesting(json_text);
  try {
    const Json root = Json::parse(json_text.begin(), json_text.end());
    return Tokenizer(Impl::build(root));
  } catch (const Json::parse_error& e) {
    fail_format(std::string("invalid JSON: ") + e.what());
  } catch (const Json::exception& e) {
    // The parsers check types first; this is a safety net for what they miss.
    fail_format(e.what());
  } catch (const std::bad_alloc&) {
    throw Error(ErrorKind::kResourceLimit, "tokenizer.json: out of memory while loading");
  }
}

Tokenizer Tokenizer::from_sentencepiece(const std::byte* data, size_t size) {
  try {
    const sentencepiece::ModelProto proto = sentencepiece::parse_model_proto(data, size);
    auto impl = std::make_unique<Impl>();
    impl->sentencepiece = std::make_unique<sentencepiece::Encoder>(proto);
    const size_t count = proto.pieces.size();
    impl->pieces.resize(count);
    impl->present.assign(count, 1);
    impl->special.assign(count, 0);
    size_t max_piece_size = proto.unk_surface.size();
    for (size_t id = 0; id < count; ++id) {
      const sentencepiece::Piece& piece = proto.pieces[id];
      impl->pieces[id] = piece.text;
      max_piece_size = std::max(max_piece_size, piece.text.size());
      using sentencepiece::PieceType;
      // SentencePiece's PieceToId looks at control, unknown and byte pieces first.
      const bool reserved =
          piece.type == PieceType::kControl || piece.type == PieceType::kUnknown || piece.type == PieceType::kByte;
      if (reserved) {
        impl->vocab_ids[piece.text] = static_cast<int32_t>(id);
      } else {
        impl->vocab_ids.emplace(piece.text, static_cast<int32_t>(id));
      }
      if (piece.type == PieceType::kControl) impl->special[id] = 1;
      if (piece.type == PieceType::kUnknown) {
        impl->surface_id = id;
        impl->surface_text = proto.unk_surface;
      }
    }
    if (proto.bos_id >= 0 && static_cast<size_t>(proto.bos_id) < count) impl->bos = proto.bos_id;
    DecodeStep step{DecodeStep::Kind::kSentencePiece, {}, {}};
    step.prepend = proto.add_dummy_prefix || proto.remove_extra_whitespaces;
    step.all_leading = proto.remove_extra_whitespaces;
    step.bytes = proto.byte_fallback;
    std::vector<DecodeStep> steps;
    steps.push_back(std::move(step));
    impl->decoder = std::make_unique<Decoder>(std::move(steps), max_piece_size);
    impl->specials_break_runs = true;
    impl->index_decoder();
    return Tokenizer(std::move(impl));
  } catch (const std::bad_alloc&) {
    throw Error(ErrorKind::kResourceLimit, "tokenizer.model: out of memory while loading");
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string text;
  impl_->decode(ids, skip_special_tokens, text);
  return text;
}

void Tokenizer::decode_into(std::span<const int32_t> ids, bool skip_special_tokens, std::string& out) const {
  impl_->decode(ids, skip_special_tokens, out);
}

size_t Tokenizer::stable_prefix_length(std::span<const int32_t> ids) const {
  return impl_->stable_prefix_length(ids);
}

int Tokenizer::vocab_size() const { return static_cast<int>(impl_->pieces.size()); }

std::string_view Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->pieces.size()) return {};
  return impl_->pieces[static_cast<size_t>(id)];
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added.id_of(token)) return id;
  return find_id(impl_->model ? impl_->model->vocab() : impl_->vocab_ids, token);
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->special.size() &&
         impl_->special[static_cast<size_t>(id)];
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }

}  // namespace lm
