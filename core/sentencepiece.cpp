// SentencePiece model files and encoding; see sentencepiece.h.
#include "sentencepiece.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>
#include <queue>
#include <unordered_map>
#include <utility>

#include "error.h"
#include "unicode.h"

namespace lm::sentencepiece {
namespace {

[[noreturn]] void fail_format(const std::string& what) {
  throw Error(ErrorKind::kFormat, "tokenizer.model: " + what);
}

[[noreturn]] void fail_unsupported(const std::string& what) {
  throw Error(ErrorKind::kUnsupported, "tokenizer.model: unsupported " + what);
}

// Ids index flat tables; real vocabularies stay far below this.
constexpr size_t kMaxPieces = size_t{1} << 22;

// ------------------------------------------------------- protobuf wire ---

// Reads the protobuf wire format: a sequence of (field number, wire type,
// value). Only what ModelProto uses: varints, 32-bit values and
// length-delimited bytes (64-bit values and groups are skipped or refused).
class WireReader {
 public:
  WireReader(const unsigned char* data, size_t size, std::string where)
      : p_(data), end_(data + size), where_(std::move(where)) {}

  bool next(uint32_t& field, uint32_t& wire_type) {
    if (p_ == end_) return false;
    const uint64_t key = varint();
    field = static_cast<uint32_t>(key >> 3);
    wire_type = static_cast<uint32_t>(key & 7);
    if (field == 0 || key >> 32 != 0) fail("has an invalid field key");
    return true;
  }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) fail("is truncated");
      const unsigned char byte = *p_++;
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if (byte < 0x80) return value;
    }
    fail("has a varint longer than 10 bytes");
  }

  std::string_view bytes() {
    const uint64_t length = varint();
    if (length > static_cast<uint64_t>(end_ - p_)) fail("is truncated");
    const std::string_view out(reinterpret_cast<const char*>(p_), static_cast<size_t>(length));
    p_ += length;
    return out;
  }

  uint32_t fixed32() {
    if (end_ - p_ < 4) fail("is truncated");
    const uint32_t value = static_cast<uint32_t>(p_[0]) | (static_cast<uint32_t>(p_[1]) << 8) |
                           (static_cast<uint32_t>(p_[2]) << 16) | (static_cast<uint32_t>(p_[3]) << 24);
    p_ += 4;
    return value;
  }

  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        return;
      case 1:
        if (end_ - p_ < 8) fail("is truncated");
        p_ += 8;
        return;
      case 2:
        bytes();
        return;
      case 5:
        fixed32();
        return;
      default:
        fail("uses wire type " + std::to_string(wire_type));
    }
  }

  // Typed reads that check the wire type of the field just read.
  uint64_t expect_varint(uint32_t wire_type) {
    if (wire_type != 0) fail("has a field of the wrong type");
    return varint();
  }
  std::string_view expect_bytes(uint32_t wire_type) {
    if (wire_type != 2) fail("has a field of the wrong type");
    return bytes();
  }
  float expect_float(uint32_t wire_type) {
    if (wire_type != 5) fail("has a field of the wrong type");
    const uint32_t bits = fixed32();
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }
  bool expect_bool(uint32_t wire_type) { return expect_varint(wire_type) != 0; }
  // proto int32: a negative value is sign-extended to 64 bits.
  int32_t expect_int32(uint32_t wire_type) {
    return static_cast<int32_t>(static_cast<uint32_t>(expect_varint(wire_type)));
  }

  [[noreturn]] void fail(const std::string& what) const { fail_format(where_ + " " + what); }

 private:
  const unsigned char* p_;
  const unsigned char* end_;
  std::string where_;
};

WireReader sub_reader(std::string_view bytes, const std::string& where) {
  return WireReader(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), where);
}

Piece parse_piece(std::string_view bytes) {
  WireReader in = sub_reader(bytes, "a piece");
  Piece piece;
  uint32_t field = 0;
  uint32_t wire = 0;
  while (in.next(field, wire)) {
    switch (field) {
      case 1:
        piece.text = std::string(in.expect_bytes(wire));
        break;
      case 2:
        piece.score = in.expect_float(wire);
        break;
      case 3: {
        const uint64_t type = in.expect_varint(wire);
        if (type < 1 || type > 6) in.fail("has unknown type " + std::to_string(type));
        piece.type = static_cast<PieceType>(type);
        break;
      }
      default:
        in.skip(wire);
    }
  }
  return piece;
}

void parse_trainer_spec(std::string_view bytes, ModelProto& proto) {
  WireReader in = sub_reader(bytes, "trainer_spec");
  uint32_t field = 0;
  uint32_t wire = 0;
  while (in.next(field, wire)) {
    switch (field) {
      case 3: {
        const uint64_t type = in.expect_varint(wire);
        if (type < 1 || type > 4) in.fail("has unknown model_type " + std::to_string(type));
        proto.model_type = static_cast<ModelType>(type);
        break;
      }
      case 24:
        proto.treat_whitespace_as_suffix = in.expect_bool(wire);
        break;
      case 35:
        proto.byte_fallback = in.expect_bool(wire);
        break;
      case 40:
        proto.unk_id = in.expect_int32(wire);
        break;
      case 41:
        proto.bos_id = in.expect_int32(wire);
        break;
      case 42:
        proto.eos_id = in.expect_int32(wire);
        break;
      case 43:
        proto.pad_id = in.expect_int32(wire);
        break;
      case 44:
        proto.unk_surface = std::string(in.expect_bytes(wire));
        break;
      default:
        in.skip(wire);
    }
  }
}

void parse_normalizer_spec(std::string_view bytes, ModelProto& proto) {
  WireReader in = sub_reader(bytes, "normalizer_spec");
  uint32_t field = 0;
  uint32_t wire = 0;
  while (in.next(field, wire)) {
    switch (field) {
      case 1:
        proto.normalizer_name = std::string(in.expect_bytes(wire));
        break;
      case 2:
        proto.precompiled_charsmap = std::string(in.expect_bytes(wire));
        break;
      case 3:
        proto.add_dummy_prefix = in.expect_bool(wire);
        break;
      case 4:
        proto.remove_extra_whitespaces = in.expect_bool(wire);
        break;
      case 5:
        proto.escape_whitespaces = in.expect_bool(wire);
        break;
      default:
        in.skip(wire);
    }
  }
}

// A denormalizer changes decoded text only through a character map or rules.
bool denormalizer_changes_text(std::string_view bytes) {
  WireReader in = sub_reader(bytes, "denormalizer_spec");
  uint32_t field = 0;
  uint32_t wire = 0;
  bool changes = false;
  while (in.next(field, wire)) {
    if (field == 2 || field == 6) {
      if (!in.expect_bytes(wire).empty()) changes = true;
    } else {
      in.skip(wire);
    }
  }
  return changes;
}

// ------------------------------------------------------------------ UTF-8 ---

// The length of the character starting with this byte, from the lead byte
// alone (what SentencePiece uses on text it knows to be valid).
size_t lead_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// -------------------------------------------------------- character map ---

// The precompiled character map: a little-endian uint32 byte count, that
// many bytes of double-array trie units (the darts-clone layout), then the
// replacement strings, each ending with a NUL. A trie key is a UTF-8
// sequence; its value is the offset of its replacement.
class CharsMap {
 public:
  CharsMap() = default;
  explicit CharsMap(std::string_view blob) {
    if (blob.size() < 4) fail_format("precompiled_charsmap is truncated");
    const uint32_t trie_size = static_cast<uint32_t>(static_cast<unsigned char>(blob[0])) |
                               (static_cast<uint32_t>(static_cast<unsigned char>(blob[1])) << 8) |
                               (static_cast<uint32_t>(static_cast<unsigned char>(blob[2])) << 16) |
                               (static_cast<uint32_t>(static_cast<unsigned char>(blob[3])) << 24);
    if (trie_size % 4 != 0 || trie_size == 0 || trie_size > blob.size() - 4) {
      fail_format("precompiled_charsmap has a bad trie size");
    }
    units_.resize(trie_size / 4);
    for (size_t i = 0; i < units_.size(); ++i) {
      const auto* b = reinterpret_cast<const unsigned char*>(blob.data()) + 4 + 4 * i;
      units_[i] = static_cast<uint32_t>(b[0]) | (static_cast<uint32_t>(b[1]) << 8) |
                  (static_cast<uint32_t>(b[2]) << 16) | (static_cast<uint32_t>(b[3]) << 24);
    }
    replacements_.assign(blob.substr(4 + trie_size));
  }

  bool empty() const { return units_.empty(); }

  // The longest key that prefixes `text`: its length and replacement.
  bool longest_prefix(std::string_view text, size_t& length, std::string_view& replacement) const {
    if (units_.empty()) return false;
    size_t node = offset(units_[0]);
    bool found = false;
    for (size_t i = 0; i < text.size(); ++i) {
      const auto byte = static_cast<unsigned char>(text[i]);
      node ^= byte;
      if (node >= units_.size()) break;
      const uint32_t unit = units_[node];
      if (label(unit) != byte) break;
      node ^= offset(unit);
      if (has_leaf(unit)) {
        if (node >= units_.size()) break;
        const uint32_t value = units_[node] & 0x7FFFFFFFu;
        if (value >= replacements_.size()) fail_format("precompiled_charsmap points outside its strings");
        const size_t end = replacements_.find('\0', value);
        replacement = std::string_view(replacements_).substr(value, end == std::string::npos ? end : end - value);
        length = i + 1;
        found = true;
      }
    }
    return found;
  }

 private:
  static size_t offset(uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }
  static uint32_t label(uint32_t unit) { return unit & ((1u << 31) | 0xFF); }
  static bool has_leaf(uint32_t unit) { return ((unit >> 8) & 1) != 0; }

  std::vector<uint32_t> units_;
  std::string replacements_;
};

// ---------------------------------------------------------- prefix match ---

// Longest match among a set of strings (the user-defined symbols).
class PrefixMatcher {
 public:
  void add(std::string_view key) {
    if (key.empty()) return;
    if (nodes_.empty()) nodes_.emplace_back();
    size_t node = 0;
    for (const char c : key) {
      const auto byte = static_cast<unsigned char>(c);
      size_t child = 0;
      for (const auto& [b, index] : nodes_[node].children) {
        if (b == byte) child = index;
      }
      if (child == 0) {
        child = nodes_.size();
        nodes_[node].children.emplace_back(byte, child);
        nodes_.emplace_back();
      }
      node = child;
    }
    nodes_[node].terminal = true;
  }

  // Length of the longest key prefixing `text`, 0 if none.
  size_t match(std::string_view text) const {
    if (nodes_.empty()) return 0;
    size_t node = 0;
    size_t longest = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      const auto byte = static_cast<unsigned char>(text[i]);
      size_t child = 0;
      for (const auto& [b, index] : nodes_[node].children) {
        if (b == byte) child = index;
      }
      if (child == 0) break;
      node = child;
      if (nodes_[node].terminal) longest = i + 1;
    }
    return longest;
  }

  bool empty() const { return nodes_.empty(); }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, size_t>> children;
    bool terminal = false;
  };
  std::vector<Node> nodes_;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using PieceIds = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

std::optional<int32_t> find(const PieceIds& ids, std::string_view piece) {
  const auto it = ids.find(piece);
  if (it == ids.end()) return std::nullopt;
  return it->second;
}

// One piece of the model's output: a view into the normalized text.
struct Segment {
  std::string_view piece;
  int32_t id;
};

}  // namespace

// ------------------------------------------------------------ ModelProto ---

ModelProto parse_model_proto(const std::byte* data, size_t size) {
  if (data == nullptr && size > 0) fail_format("no data");
  WireReader in(reinterpret_cast<const unsigned char*>(data), size, "the file");
  ModelProto proto;
  uint32_t field = 0;
  uint32_t wire = 0;
  while (in.next(field, wire)) {
    switch (field) {
      case 1:
        if (proto.pieces.size() >= kMaxPieces) fail_format("has more than " + std::to_string(kMaxPieces) + " pieces");
        proto.pieces.push_back(parse_piece(in.expect_bytes(wire)));
        break;
      case 2:
        parse_trainer_spec(in.expect_bytes(wire), proto);
        break;
      case 3:
        parse_normalizer_spec(in.expect_bytes(wire), proto);
        break;
      case 5:
        proto.has_denormalizer = denormalizer_changes_text(in.expect_bytes(wire));
        break;
      default:
        in.skip(wire);
    }
  }
  if (proto.pieces.empty()) fail_format("has no pieces (is it a SentencePiece model?)");
  return proto;
}

// --------------------------------------------------------------- Encoder ---

struct Encoder::Impl {
  ModelType model_type = ModelType::kUnigram;
  std::vector<Piece> pieces;
  PieceIds normal;    // NORMAL, USER_DEFINED and UNUSED pieces (what the models search)
  PieceIds reserved;  // CONTROL, UNKNOWN and BYTE pieces
  int32_t unk_id = -1;
  bool byte_fallback = false;
  std::array<int32_t, 256> byte_ids{};
  PrefixMatcher user_defined;
  CharsMap charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  // Unigram
  float min_score = std::numeric_limits<float>::max();
  float max_score = std::numeric_limits<float>::min();
  size_t max_piece_bytes = 0;

  PieceType type_of(int32_t id) const { return pieces[static_cast<size_t>(id)].type; }

  // SentencePiece's PieceToId: reserved pieces first, then the others, else <unk>.
  int32_t piece_to_id(std::string_view piece) const {
    if (auto id = find(reserved, piece)) return *id;
    if (auto id = find(normal, piece)) return *id;
    return unk_id;
  }

  // One normalization step at the front of `input`: the text it becomes and
  // how many input bytes it consumes.
  std::pair<std::string_view, size_t> normalize_prefix(std::string_view input) const {
    if (const size_t length = user_defined.match(input)) return {input.substr(0, length), length};
    size_t length = 0;
    std::string_view replacement;
    if (charsmap.longest_prefix(input, length, replacement)) return {replacement, length};
    size_t bad = 0;  // SentencePiece replaces one byte at a time, not the maximal ill-formed run
    length = unicode::utf8_sequence_at(input, 0, bad);
    if (length == 0) return {kReplacement, 1};
    return {input.substr(0, length), length};
  }

  std::string normalize(std::string_view input) const {
    std::string out;
    if (input.empty()) return out;
    if (remove_extra_whitespaces) {
      while (!input.empty()) {
        const auto [text, consumed] = normalize_prefix(input);
        if (text != " ") break;
        input.remove_prefix(consumed);
      }
    }
    if (input.empty()) return out;
    out.reserve(input.size() * 3);
    const std::string_view space = escape_whitespaces ? kSpaceSymbol : std::string_view(" ");
    if (add_dummy_prefix) out += space;
    bool previous_space = remove_extra_whitespaces;
    while (!input.empty()) {
      auto [text, consumed] = normalize_prefix(input);
      while (previous_space && !text.empty() && text.front() == ' ') text.remove_prefix(1);
      if (!text.empty()) {
        for (const char c : text) {
          if (c == ' ' && escape_whitespaces) {
            out += kSpaceSymbol;
          } else {
            out += c;
          }
        }
        previous_space = text.back() == ' ';
      }
      input.remove_prefix(consumed);
      if (!remove_extra_whitespaces) previous_space = false;
    }
    if (remove_extra_whitespaces) {
      size_t length = out.size();
      while (std::string_view(out.data(), length).ends_with(space)) length -= space.size();
      out.erase(length);
    }
    return out;
  }

  // ------------------------------------------------------------ BPE ---

  std::vector<Segment> encode_bpe(std::string_view normalized) const {
    struct Symbol {
      int32_t prev;
      int32_t next;
      std::string_view piece;
    };
    struct Pair {
      float score;
      int32_t left;
      int32_t right;
      size_t size;
    };
    // Highest score first, then the leftmost.
    struct Lower {
      bool operator()(const Pair& a, const Pair& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
      }
    };
    std::vector<Symbol> symbols;
    symbols.reserve(normalized.size());
    for (size_t i = 0; i < normalized.size();) {
      size_t length = user_defined.match(normalized.substr(i));
      if (length == 0) length = std::min(lead_length(static_cast<unsigned char>(normalized[i])), normalized.size() - i);
      const auto index = static_cast<int32_t>(symbols.size());
      symbols.push_back(Symbol{index - 1, -1, normalized.substr(i, length)});
      i += length;
      if (i < normalized.size()) symbols.back().next = index + 1;
    }
    std::priority_queue<Pair, std::vector<Pair>, Lower> agenda;
    // Merged piece -> the two it was made of, for pieces marked unused.
    std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> unmerge;
    const auto consider = [&](int32_t left, int32_t right) {
      if (left < 0 || right < 0) return;
      const std::string_view a = symbols[static_cast<size_t>(left)].piece;
      const std::string_view b = symbols[static_cast<size_t>(right)].piece;
      const std::string_view merged(a.data(), a.size() + b.size());
      const auto id = find(normal, merged);
      if (!id) return;
      agenda.push(Pair{pieces[static_cast<size_t>(*id)].score, left, right, merged.size()});
      if (type_of(*id) == PieceType::kUnused) unmerge[merged] = {a, b};
    };
    for (size_t i = 1; i < symbols.size(); ++i) consider(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
    while (!agenda.empty()) {
      const Pair top = agenda.top();
      agenda.pop();
      Symbol& left = symbols[static_cast<size_t>(top.left)];
      Symbol& right = symbols[static_cast<size_t>(top.right)];
      // Stale: one side was merged away or grew since the pair was queued.
      if (left.piece.empty() || right.piece.empty() || left.piece.size() + right.piece.size() != top.size) continue;
      left.piece = std::string_view(left.piece.data(), left.piece.size() + right.piece.size());
      left.next = right.next;
      if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.left;
      right.piece = {};
      consider(left.prev, top.left);
      consider(top.left, left.next);
    }
    std::vector<Segment> out;
    // An unused piece is split back into the pieces it was merged from.
    const auto emit = [&](auto&& self, std::string_view piece) -> void {
      const int32_t id = piece_to_id(piece);
      if (id >= 0 && type_of(id) == PieceType::kUnused) {
        if (const auto it = unmerge.find(piece); it != unmerge.end()) {
          self(self, it->second.first);
          self(self, it->second.second);
          return;
        }
      }
      out.push_back(Segment{piece, id});
    };
    for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
      emit(emit, symbols[static_cast<size_t>(i)].piece);
    }
    return out;
  }

  // -------------------------------------------------------- Unigram ---

  std::vector<Segment> encode_unigram(std::string_view normalized) const {
    struct Best {
      int32_t id = -1;
      float score = 0.0f;
      int64_t start = -1;
    };
    const size_t size = normalized.size();
    const float unk_score = min_score - 10.0f;
    std::vector<Best> best(size + 1);
    for (size_t start = 0; start < size;) {
      const float score_here = best[start].score;
      const size_t char_length = std::min(lead_length(static_cast<unsigned char>(normalized[start])), size - start);
      bool has_single = false;
      // Every vocabulary piece starting here, shortest first.
      const size_t limit = std::min(size, start + max_piece_bytes);
      for (size_t end = start + 1; end <= limit; ++end) {
        const auto id = find(normal, normalized.substr(start, end - start));
        if (!id) continue;
        const PieceType type = type_of(*id);
        if (type == PieceType::kUnused) continue;
        const size_t length = end - start;
        // A user-defined symbol gets a score that always wins.
        const double score = type == PieceType::kUserDefined
                                 ? static_cast<double>(static_cast<float>(length) * max_score) - 0.1
                                 : static_cast<double>(pieces[static_cast<size_t>(*id)].score);
        const double candidate = score + static_cast<double>(score_here);
        Best& target = best[end];
        if (target.start < 0 || candidate > static_cast<double>(target.score)) {
          target = Best{*id, static_cast<float>(candidate), static_cast<int64_t>(start)};
        }
        if (length == char_length) has_single = true;
      }
      if (!has_single) {
        Best& target = best[start + char_length];
        const float candidate = unk_score + score_here;
        if (target.start < 0 || candidate > target.score) {
          target = Best{unk_id, candidate, static_cast<int64_t>(start)};
        }
      }
      start += char_length;
    }
    std::vector<Segment> out;
    for (size_t end = size; end > 0;) {
      const Best& node = best[end];
      if (node.start < 0) fail_format("unigram lattice has no path");  // cannot happen
      const auto start = static_cast<size_t>(node.start);
      out.push_back(Segment{normalized.substr(start, end - start), node.id});
      end = start;
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  std::vector<int32_t> encode(std::string_view text) const {
    const std::string normalized = normalize(text);
    std::vector<Segment> segments = model_type == ModelType::kBpe ? encode_bpe(normalized) : encode_unigram(normalized);
    std::vector<int32_t> ids;
    ids.reserve(segments.size() + 4);
    for (size_t i = 0; i < segments.size();) {
      if (segments[i].id != unk_id) {
        ids.push_back(segments[i].id);
        ++i;
        continue;
      }
      // A run of unknown pieces is one <unk>, or its bytes.
      size_t j = i + 1;
      while (j < segments.size() && segments[j].id == unk_id) ++j;
      if (byte_fallback) {
        for (size_t k = i; k < j; ++k) {
          for (const char byte : segments[k].piece) ids.push_back(byte_ids[static_cast<unsigned char>(byte)]);
        }
      } else {
        ids.push_back(unk_id);
      }
      i = j;
    }
    return ids;
  }
};

int byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece.back() != '>') return -1;
  int value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = piece[i];
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

Encoder::Encoder(const ModelProto& proto) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  switch (proto.model_type) {
    case ModelType::kBpe:
    case ModelType::kUnigram:
      break;
    case ModelType::kWord:
      fail_unsupported("model_type WORD");
    case ModelType::kChar:
      fail_unsupported("model_type CHAR");
  }
  if (proto.treat_whitespace_as_suffix) fail_unsupported("option treat_whitespace_as_suffix");
  if (proto.has_denormalizer) fail_unsupported("denormalizer_spec");
  m.model_type = proto.model_type;
  m.pieces = proto.pieces;
  m.byte_fallback = proto.byte_fallback;
  m.byte_ids.fill(-1);
  for (size_t i = 0; i < m.pieces.size(); ++i) {
    const Piece& piece = m.pieces[i];
    const auto id = static_cast<int32_t>(i);
    if (piece.text.empty()) fail_format("piece " + std::to_string(i) + " is empty");
    const bool is_normal = piece.type == PieceType::kNormal || piece.type == PieceType::kUserDefined ||
                           piece.type == PieceType::kUnused;
    if (!(is_normal ? m.normal : m.reserved).emplace(piece.text, id).second) {
      fail_format("piece '" + piece.text + "' is defined twice");
    }
    switch (piece.type) {
      case PieceType::kUserDefined:
        m.user_defined.add(piece.text);
        break;
      case PieceType::kUnknown:
        if (m.unk_id >= 0) fail_format("has more than one unknown piece");
        m.unk_id = id;
        break;
      case PieceType::kByte: {
        if (!proto.byte_fallback) fail_format("has byte piece '" + piece.text + "' but byte_fallback is off");
        const int value = byte_piece_value(piece.text);
        if (value < 0) fail_format("byte piece '" + piece.text + "' is not <0xNN>");
        m.byte_ids[static_cast<size_t>(value)] = id;
        break;
      }
      case PieceType::kNormal:
        m.min_score = std::min(m.min_score, piece.score);
        m.max_score = std::max(m.max_score, piece.score);
        break;
      default:
        break;
    }
    if (is_normal) m.max_piece_bytes = std::max(m.max_piece_bytes, piece.text.size());
  }
  if (m.unk_id < 0) fail_format("has no unknown piece");
  if (m.byte_fallback && std::find(m.byte_ids.begin(), m.byte_ids.end(), -1) != m.byte_ids.end()) {
    fail_format("has byte_fallback but not all 256 <0xNN> pieces");
  }
  if (!proto.precompiled_charsmap.empty()) m.charsmap = CharsMap(proto.precompiled_charsmap);
  m.add_dummy_prefix = proto.add_dummy_prefix;
  m.remove_extra_whitespaces = proto.remove_extra_whitespaces;
  m.escape_whitespaces = proto.escape_whitespaces;
}

Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;
Encoder::~Encoder() = default;

std::vector<int32_t> Encoder::encode(std::string_view text) const { return impl_->encode(text); }

std::string Encoder::normalize(std::string_view text) const { return impl_->normalize(text); }

}  // namespace lm::sentencepiece
