// Tokenizer: a Hugging Face tokenizer.json pipeline.
//
// encode(text):
//   1. invalid UTF-8 becomes U+FFFD, so every later stage sees valid UTF-8;
//   2. added tokens with normalized=false are split out of the raw text;
//   3. each remaining piece is normalized, then added tokens with
//      normalized=true are split out of the normalized piece (their patterns
//      are their normalized content, so "<s>" under Prepend('▁') is "▁<s>");
//   4. each remaining piece goes through the pre-tokenizer (none yet) and the
//      model; 5. the post-processor adds BOS etc.
// decode(ids): each id becomes its piece (an added token: its content), the
// special ones are dropped when asked, and the decoder chain turns the pieces
// into text, streaming them into the output (see Decoder).
//
// Every encode stage is a small class chosen from the JSON when loading, so
// new normalizers, pre-tokenizers (ByteLevel, Metaspace) and models slot in as
// new subclasses plus one line in the matching parse_* function; a new decoder
// is a new DecodeStep kind.
#include "tokenizer.h"

#include <algorithm>
#include <array>
#include <new>
#include <queue>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "error.h"

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

// Length of the well-formed UTF-8 sequence at s[i], or 0 if there is none; then
// `bad` is the length of the maximal ill-formed prefix that one U+FFFD
// replaces (the Unicode / WHATWG rule, as Python and TextDecoder do).
size_t utf8_sequence_at(std::string_view s, size_t i, size_t& bad) {
  const auto lead = static_cast<unsigned char>(s[i]);
  if (lead < 0x80) return 1;
  size_t trailing = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    trailing = 1;
  } else if (lead == 0xE0) {
    trailing = 2, low = 0xA0;
  } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    trailing = 2;
  } else if (lead == 0xED) {
    trailing = 2, high = 0x9F;  // no surrogates
  } else if (lead == 0xF0) {
    trailing = 3, low = 0x90;
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    trailing = 3;
  } else if (lead == 0xF4) {
    trailing = 3, high = 0x8F;  // nothing above U+10FFFF
  } else {
    bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= trailing; ++k) {
    if (i + k >= s.size()) {
      bad = k;
      return 0;
    }
    const auto byte = static_cast<unsigned char>(s[i + k]);
    if (byte < (k == 1 ? low : 0x80) || byte > (k == 1 ? high : 0xBF)) {
      bad = k;
      return 0;
    }
  }
  return trailing + 1;
}

bool is_valid_utf8(std::string_view s) {
  size_t bad = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_sequence_at(s, i, bad);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  size_t bad = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_sequence_at(s, i, bad);
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
bool is_unicode_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Regex \w (Alphabetic, marks, decimal digits, connector punctuation, join
// controls), which only the single_word option of added tokens consults.
// Exact for ASCII and Latin-1; above that, the common punctuation, symbol and
// emoji blocks are non-word and everything else counts as a word character.
bool is_word_char(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  }
  if (c < 0x100) return c == 0xAA || c == 0xB5 || c == 0xBA || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
  if (is_unicode_whitespace(c)) return false;
  if (c >= 0x2000 && c <= 0x206F) {
    return c == 0x200C || c == 0x200D || c == 0x203F || c == 0x2040 || c == 0x2054;
  }
  if (c >= 0x3000 && c <= 0x303F) {
    return (c >= 0x3005 && c <= 0x3007) || (c >= 0x3021 && c <= 0x302F) || (c >= 0x3031 && c <= 0x3035) ||
           (c >= 0x3038 && c <= 0x303C);
  }
  if (c >= 0xFF00 && c <= 0xFF65) {
    return (c >= 0xFF10 && c <= 0xFF19) || (c >= 0xFF21 && c <= 0xFF3A) || c == 0xFF3F ||
           (c >= 0xFF41 && c <= 0xFF5A);
  }
  if ((c >= 0x2190 && c <= 0x23FF) || (c >= 0x2500 && c <= 0x2775) || (c >= 0x2794 && c <= 0x2BFF) ||
      (c >= 0x2E00 && c <= 0x2E7F) || (c >= 0xE000 && c <= 0xF8FF) || (c >= 0x1F000 && c <= 0x1F0FF) ||
      (c >= 0x1F300 && c <= 0x1FAFF)) {
    return false;
  }
  return true;
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
  fail_unsupported("normalizer", type);
}

// --------------------------------------------------------- pre-tokenizers ---

// Splits (and may rewrite) normalized text into the pieces the model sees one
// at a time. None is supported yet: "pre_tokenizer": null hands the whole
// piece to the model, which is why merges cross word boundaries here.
class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(std::string_view text, std::vector<std::string>& pieces) const = 0;
};

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  fail_unsupported("pre_tokenizer", component_type(j, where));
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

std::unique_ptr<PostProcessor> parse_post_processor(const Json& j, const std::string& where,
                                                    int32_t vocab_size) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, where);
  if (type == "TemplateProcessing") return parse_template(j, where, vocab_size);
  fail_unsupported("post_processor", type);
}

// --------------------------------------------------------------- decoders ---

// One step of the decoder chain (a Sequence is flattened into its steps).
struct DecodeStep {
  enum class Kind { kReplace, kByteFallback, kFuse, kStrip };
  Kind kind;
  std::string pattern;  // Replace: what to find
  std::string content;  // Replace: its replacement; Strip: the character to strip
  size_t start = 0;     // Strip: at most this many at the front
  size_t stop = 0;      //        and this many at the back
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

// HF's decoders each rewrite the whole list of token strings in turn
// (Decoder::decode_chain), and the list is then joined. Up to the first Fuse
// every step acts on one token at a time (Replace, Strip) or on a run of
// tokens (ByteFallback: a run of "<0xNN>" becomes its bytes when they are
// valid UTF-8, else one U+FFFD per byte); after it the list is one string.
// So a Decoder::Run streams each token through the steps before the Fuse
// straight into the output, then applies the remaining steps to the output
// in place: the same result, without building the list. Tokens rewritten by
// a step before the Fuse go through per-thread scratch strings, which stop
// growing once they have held the longest token, so decoding into a string
// with enough capacity does not allocate.
class Decoder {
 public:
  // `max_piece_size`: the longest vocab piece, to size the scratch up front.
  Decoder(std::vector<DecodeStep> steps, size_t max_piece_size) {
    has_byte_fallback_ = std::any_of(steps.begin(), steps.end(), [](const DecodeStep& s) {
      return s.kind == DecodeStep::Kind::kByteFallback;
    });
    const auto fuse = std::find_if(steps.begin(), steps.end(),
                                   [](const DecodeStep& s) { return s.kind == DecodeStep::Kind::kFuse; });
    token_steps_.assign(std::make_move_iterator(steps.begin()), std::make_move_iterator(fuse));
    text_steps_.assign(std::make_move_iterator(fuse), std::make_move_iterator(steps.end()));
    // A bound on the token a step writes to its scratch: Replace can only
    // grow a piece by content/pattern, and byte runs are usually a character.
    constexpr size_t kMaxReserve = size_t{1} << 16;
    size_t bound = std::max<size_t>(max_piece_size, 16);
    for (const DecodeStep& step : token_steps_) {
      if (step.kind == DecodeStep::Kind::kReplace && !step.pattern.empty() &&
          step.content.size() > step.pattern.size()) {
        const size_t growth = step.content.size() - step.pattern.size();
        bound = std::min(kMaxReserve, bound + bound / step.pattern.size() * growth);
      }
      scratch_reserve_.push_back(step.kind == DecodeStep::Kind::kReplace ? bound : 16);
    }
  }

  // Whether the text of a run ending with this piece may still change when
  // more pieces follow (for streaming): a "<0xNN>" piece that ByteFallback
  // may join with the bytes after it. The other steps only ever extend the
  // output: Strip removes at most a fixed number of characters at either end,
  // which keeps every earlier output a prefix of later ones.
  bool holds_open(std::string_view piece) const {
    return has_byte_fallback_ && byte_token_value(piece).has_value();
  }

  // Decoding one token sequence into `out` (cleared first): push() each
  // token, then finish(). One Run at a time per thread (they share scratch).
  class Run {
   public:
    Run(const Decoder& decoder, std::string& out) : decoder_(decoder), out_(out), scratch_(thread_scratch()) {
      out_.clear();
      const size_t steps = decoder_.token_steps_.size();
      if (scratch_.size() < steps) scratch_.resize(steps);
      for (size_t k = 0; k < steps; ++k) {
        scratch_[k].clear();
        scratch_[k].reserve(decoder_.scratch_reserve_[k]);
      }
    }
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    void push(std::string_view token) { emit(0, token); }

    void finish() {
      for (size_t k = 0; k < decoder_.token_steps_.size(); ++k) {
        if (decoder_.token_steps_[k].kind == DecodeStep::Kind::kByteFallback) flush_bytes(k);
      }
      for (const DecodeStep& step : decoder_.text_steps_) apply_to_text(step);
    }

   private:
    static std::vector<std::string>& thread_scratch() {
      thread_local std::vector<std::string> scratch;
      return scratch;
    }

    // Feeds `token` to token step k; past the last one it joins the output.
    void emit(size_t k, std::string_view token) {
      if (k == decoder_.token_steps_.size()) {
        out_ += token;
        return;
      }
      const DecodeStep& step = decoder_.token_steps_[k];
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
        case DecodeStep::Kind::kFuse:
          break;  // never before the first Fuse
      }
    }

    // Ends the byte run held by ByteFallback step k.
    void flush_bytes(size_t k) {
      std::string& bytes = scratch_[k];
      if (bytes.empty()) return;
      if (is_valid_utf8(bytes)) {
        emit(k + 1, bytes);
      } else {
        for (size_t i = 0; i < bytes.size(); ++i) emit(k + 1, "\xEF\xBF\xBD");
      }
      bytes.clear();
    }

    // A step after the Fuse, on the one string the list has become.
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
              out_.assign("\xEF\xBF\xBD");
            }
          }
          return;
        case DecodeStep::Kind::kStrip: {
          const auto [begin, end] = strip_range(out_, step);
          out_.resize(end);
          out_.erase(0, begin);
          return;
        }
        case DecodeStep::Kind::kFuse:
          return;
      }
    }

    const Decoder& decoder_;
    std::string& out_;
    std::vector<std::string>& scratch_;  // [k]: token step k's rewritten token or byte run
  };

 private:
  std::vector<DecodeStep> token_steps_;  // before the first Fuse, on each token
  std::vector<DecodeStep> text_steps_;   // from the first Fuse on, on the joined text
  std::vector<size_t> scratch_reserve_;  // per token step
  bool has_byte_fallback_ = false;
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
    std::string content = as_string(require(j, "content", where), where + ".content");
    size_t bad = 0;
    if (content.empty() || utf8_sequence_at(content, 0, bad) != content.size()) {
      fail_format(where + ".content must be a single character");
    }
    const auto start = static_cast<size_t>(as_count(require(j, "start", where), where + ".start"));
    const auto stop = static_cast<size_t>(as_count(require(j, "stop", where), where + ".stop"));
    steps.push_back(DecodeStep{DecodeStep::Kind::kStrip, {}, std::move(content), start, stop});
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

  // Indexed by id: the piece decode starts from (an added token's content
  // wins over the model's piece, as in HF), whether the id has a piece, is
  // special, and leaves the decoder's output open (see Decoder::holds_open).
  std::vector<std::string> pieces;
  std::vector<uint8_t> present;
  std::vector<uint8_t> special;
  std::vector<uint8_t> open;

  static std::unique_ptr<Impl> build(const Json& root);

  void encode_piece(std::string_view text, std::vector<int32_t>& ids) const {
    if (text.empty()) return;
    if (!pre_tokenizer) {
      model->tokenize(text, ids);
      return;
    }
    std::vector<std::string> words;
    pre_tokenizer->pre_tokenize(text, words);
    for (const std::string& word : words) model->tokenize(word, ids);
  }

  std::vector<int32_t> encode(std::string_view input, bool add_special_tokens) const {
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
      for (const Piece& piece : pieces_of_normalized) {
        if (piece.id >= 0) {
          ids.push_back(piece.id);
        } else {
          encode_piece(piece.text, ids);
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
      if (kept(id)) run.push(pieces[static_cast<size_t>(id)]);
    }
    run.finish();
  }

  size_t stable_prefix_length(std::span<const int32_t> ids) const {
    // Walk back over the trailing run of open pieces and special tokens (a
    // skipped special token does not end a byte run); the run is open from
    // its first open piece on.
    size_t stable = ids.size();
    for (size_t i = ids.size(); i > 0; --i) {
      const size_t index = checked_index(ids[i - 1]);
      if (open[index]) {
        stable = i - 1;
      } else if (!special[index]) {
        break;
      }
    }
    return stable;
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
  impl->open.assign(size, 0);
  for (size_t id = 0; id < size && impl->decoder; ++id) {
    impl->open[id] = impl->present[id] && impl->decoder->holds_open(impl->pieces[id]);
  }
  return impl;
}

// ------------------------------------------------------------ Tokenizer ---

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(std::string_view json_text) {
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
  return find_id(impl_->model->vocab(), token);
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->special.size() &&
         impl_->special[static_cast<size_t>(id)];
}

std::optional<int32_t> Tokenizer::bos_id() const {
  return impl_->post_processor ? impl_->post_processor->leading_id() : std::nullopt;
}

}  // namespace lm
