#include "tokenizer/bpe.h"

#include <array>
#include <queue>
#include <utility>

#include "tokenizer/text.h"

namespace lm::tok {
namespace {

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
class BpeModel final : public TokenModel {
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

std::unique_ptr<TokenModel> parse_bpe(const Json& j, const std::string& where) {
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

}  // namespace

std::unique_ptr<TokenModel> parse_model(const Json& j, const std::string& where) {
  if (!j.is_object()) fail_format(where + " must be an object");
  // Old files leave out the type; HF then recognizes a BPE by its merges.
  const Json* type = member(j, "type");
  if (type == nullptr && member(j, "merges") != nullptr) return parse_bpe(j, where);
  const std::string name = component_type(j, where);
  if (name == "BPE") return parse_bpe(j, where);
  fail_unsupported("model", name);
}

}  // namespace lm::tok
