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
// DecodeStep kind. The stages live in core/tokenizer/ (namespace lm::tok),
// one file each: json_fields (reading tokenizer.json), text (UTF-8),
// normalizer, pre_tokenizer (with split_regex and byte_level), bpe,
// added_vocabulary, post_processor, decoder. This file puts them together.
//
// A SentencePiece tokenizer.model (from_sentencepiece) encodes with
// sentencepiece::Encoder (sentencepiece.h) instead of stages 1-4, and decodes
#include "tokenizer.h"

#include <algorithm>
#include <array>
#include <new>
#include <utility>

#include "error.h"
#include "sentencepiece.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/decoder.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/text.h"
#include "unicode.h"

namespace lm {

using namespace tok;  // the pipeline's stages (core/tokenizer/)

// ----------------------------------------------------------------- Impl ---

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<TokenModel> model;
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

