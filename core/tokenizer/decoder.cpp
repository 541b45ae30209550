#include "tokenizer/decoder.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "tokenizer/byte_level.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/text.h"
#include "unicode.h"

namespace lm::tok {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
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

}  // namespace

std::optional<int> byte_token_value(std::string_view token) {
  if (token.size() != 6 || !token.starts_with("<0x") || token.back() != '>') return std::nullopt;
  const int high = hex_digit(token[3]);
  const int low = hex_digit(token[4]);
  if (token[3] == '+' && low >= 0) return low;
  if (high < 0 || low < 0) return std::nullopt;
  return high * 16 + low;
}

Decoder::Decoder(std::vector<DecodeStep> steps, size_t max_piece_size) {
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

Decoder::Run::Run(const Decoder& decoder, std::string& out)
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

void Decoder::Run::finish() {
  for (size_t k = 0; k < decoder_.token_steps_.size(); ++k) {
    const DecodeStep::Kind kind = decoder_.token_steps_[k].kind;
    if (kind == DecodeStep::Kind::kByteFallback) flush_bytes(k);
    if (kind == DecodeStep::Kind::kSentencePiece) flush_piece_bytes(k);
  }
  if (decoder_.fuse_kind_ == DecodeStep::Kind::kByteLevel) make_valid_utf8(out_);
  for (const DecodeStep& step : decoder_.text_steps_) apply_to_text(step);
}

std::vector<std::string>& Decoder::Run::thread_scratch() {
  thread_local std::vector<std::string> scratch;
  return scratch;
}

std::vector<Decoder::Run::StepState>& Decoder::Run::thread_state() {
  thread_local std::vector<StepState> state;
  return state;
}

void Decoder::Run::emit(size_t k, std::string_view token) {
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

void Decoder::Run::flush_bytes(size_t k) {
  std::string& bytes = scratch_[k];
  if (bytes.empty()) return;
  if (unicode::is_valid_utf8(bytes)) {
    emit(k + 1, bytes);
  } else {
    for (size_t i = 0; i < bytes.size(); ++i) emit(k + 1, kReplacementChar);
  }
  bytes.clear();
}

void Decoder::Run::flush_piece_bytes(size_t k) {
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

void Decoder::Run::apply_to_text(const DecodeStep& step) {
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

// Appends the steps of decoder `j` (flattening Sequences) to `steps`.
static void parse_decode_steps(const Json& j, const std::string& where, std::vector<DecodeStep>& steps) {
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

}  // namespace lm::tok
