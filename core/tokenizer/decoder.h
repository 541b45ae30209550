// Decoders: ids' pieces back to text (Replace, ByteFallback, Fuse, Strip,
// ByteLevel, Metaspace, Sequence, and SentencePiece's own decoding),
// streamed into the output without building the token list.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_fields.h"

namespace lm::tok {

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

// "<0xNN>" with NN read like Rust's u8::from_str_radix(NN, 16), which also
// takes "+N".
std::optional<int> byte_token_value(std::string_view token);

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
  Decoder(std::vector<DecodeStep> steps, size_t max_piece_size);

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
    Run(const Decoder& decoder, std::string& out);
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    void push(std::string_view token) { emit(0, token); }

    void finish();

   private:
    struct StepState {
      size_t index = 0;       // tokens this step has received
      bool produced = false;  // SentencePiece: it has emitted text
      bool seen = false;      // SentencePiece: it has had a piece
    };

    static std::vector<std::string>& thread_scratch();
    static std::vector<StepState>& thread_state();

    // Feeds `token` to token step k; past the last one it joins the output.
    void emit(size_t k, std::string_view token);

    // Ends the byte run held by ByteFallback step k.
    void flush_bytes(size_t k);

    // Ends the byte run held by SentencePiece step k: each character as it
    // is, each byte that does not start one as U+FFFD.
    void flush_piece_bytes(size_t k);

    // A step after the fusing one, on the one string the list has become.
    void apply_to_text(const DecodeStep& step);

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

// tokenizer.json's "decoder" (null: none, returns nullptr). `max_piece_size`:
// the longest vocab piece.
std::unique_ptr<Decoder> parse_decoder(const Json& j, const std::string& where, size_t max_piece_size);

}  // namespace lm::tok
