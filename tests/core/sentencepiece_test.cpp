// SentencePiece tokenizer.model files: the protobuf reader, the normalizer
// (whitespace options, character maps, user-defined symbols), BPE and
// Unigram encoding, and Tokenizer::from_sentencepiece on top. Models are
// built here byte by byte (tokenizer_fixtures.h);
// tests/js/sentencepiece-reference.test.js compares models trained by
// spm_train with the SentencePiece library itself.
#include "sentencepiece.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "error.h"
#include "tokenizer.h"
#include "tokenizer_fixtures.h"

namespace lm {
namespace {

using Ids = std::vector<int32_t>;
using test::SpmModel;

sentencepiece::ModelProto parse(const std::string& bytes) {
  return sentencepiece::parse_model_proto(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
}

sentencepiece::Encoder encoder(const SpmModel& m) { return sentencepiece::Encoder(parse(m.serialize())); }

Tokenizer tokenizer(const SpmModel& m) {
  const std::string bytes = m.serialize();
  return Tokenizer::from_sentencepiece(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
}

template <typename F>
ErrorKind error_kind(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no lm::Error thrown";
  return ErrorKind::kState;
}

// BPE: scores order the merges.
SpmModel bpe_model() {
  SpmModel m = SpmModel::with_specials();
  for (const auto& [piece, score] : std::vector<std::pair<std::string, float>>{{"\u2581", -10},
                                                                              {"a", -11},
                                                                              {"b", -12},
                                                                              {"c", -13},
                                                                              {"x", -14},
                                                                              {"ab", -1},
                                                                              {"bc", -1},
                                                                              {"\u2581a", -2},
                                                                              {"\u2581ab", -3},
                                                                              {"\u2581x", -4}}) {
    m.pieces.push_back({piece, score, 1});
  }
  return m;
}

// ------------------------------------------------------------ protobuf ---

TEST(SentencePieceProto, ReadsPiecesAndSpecs) {
  SpmModel m = bpe_model();
  m.pieces.push_back({"<t>", 0, 4});
  m.pieces.push_back({"unused", 0, 5});
  m.model_type = 1;
  m.unk_surface = "<?>";
  m.pad_id = -1;
  m.add_dummy_prefix = false;
  m.remove_extra_whitespaces = false;
  const sentencepiece::ModelProto proto = parse(m.serialize());
  ASSERT_EQ(proto.pieces.size(), m.pieces.size());
  EXPECT_EQ(proto.pieces[0].text, "<unk>");
  EXPECT_EQ(proto.pieces[0].type, sentencepiece::PieceType::kUnknown);
  EXPECT_EQ(proto.pieces[1].type, sentencepiece::PieceType::kControl);
  EXPECT_EQ(proto.pieces[5].text, "b");
  EXPECT_FLOAT_EQ(proto.pieces[5].score, -12.0f);
  EXPECT_EQ(proto.pieces[13].type, sentencepiece::PieceType::kUserDefined);
  EXPECT_EQ(proto.pieces[14].type, sentencepiece::PieceType::kUnused);
  EXPECT_EQ(proto.model_type, sentencepiece::ModelType::kUnigram);
  EXPECT_EQ(proto.unk_surface, "<?>");
  EXPECT_EQ(proto.pad_id, -1);
  EXPECT_EQ(proto.bos_id, 1);
  EXPECT_FALSE(proto.byte_fallback);
  EXPECT_FALSE(proto.add_dummy_prefix);
  EXPECT_FALSE(proto.remove_extra_whitespaces);
  EXPECT_TRUE(proto.escape_whitespaces);
  EXPECT_FALSE(proto.has_denormalizer);
  // Defaults when the specs are absent.
  test::ProtoWriter bare;
  test::ProtoWriter piece;
  piece.bytes(1, "<unk>");
  bare.bytes(1, piece.str());
  const sentencepiece::ModelProto defaults = parse(bare.str());
  EXPECT_EQ(defaults.pieces[0].type, sentencepiece::PieceType::kNormal);
  EXPECT_EQ(defaults.model_type, sentencepiece::ModelType::kUnigram);
  EXPECT_EQ(defaults.unk_surface, " \xE2\x81\x87 ");
  EXPECT_TRUE(defaults.add_dummy_prefix);
  EXPECT_TRUE(defaults.remove_extra_whitespaces);
}

TEST(SentencePieceProto, BrokenBytesAreFormatErrors) {
  EXPECT_EQ(error_kind([] { parse(""); }), ErrorKind::kFormat);
  EXPECT_EQ(error_kind([] { parse("not a model at all"); }), ErrorKind::kFormat);
  EXPECT_EQ(error_kind([] { parse(std::string("\x0B\x0C", 2)); }), ErrorKind::kFormat);  // group wire types
  EXPECT_EQ(error_kind([] { parse(std::string(12, '\xFF')); }), ErrorKind::kFormat);     // endless varint
  const std::string good = bpe_model().serialize();
  // Every truncation and many corruptions: an lm::Error or a model, never a crash.
  std::mt19937 rng(1);
  for (size_t cut = 0; cut < good.size(); cut += 1 + cut / 64) {
    for (int flip = 0; flip < 2; ++flip) {
      std::string bytes = good.substr(0, cut);
      if (flip && !bytes.empty()) bytes[rng() % bytes.size()] = static_cast<char>(rng());
      try {
        const Tokenizer tok =
            Tokenizer::from_sentencepiece(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
        const Ids ids = tok.encode("abc x\xFF", true);
        for (const int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
        tok.decode(ids);
      } catch (const Error& e) {
        EXPECT_TRUE(e.kind() == ErrorKind::kFormat || e.kind() == ErrorKind::kUnsupported) << e.what();
        EXPECT_EQ(std::string(e.what()).rfind("tokenizer.model: ", 0), 0u) << e.what();
      }
    }
  }
}

TEST(SentencePieceProto, InconsistentModelsAreRefused) {
  const auto kind = [](const SpmModel& m, std::string* message = nullptr) {
    return error_kind([&] { encoder(m); }, message);
  };
  std::string message;
  SpmModel m = bpe_model();
  m.pieces[0].type = 1;
  EXPECT_EQ(kind(m, &message), ErrorKind::kFormat);
  EXPECT_NE(message.find("no unknown piece"), std::string::npos) << message;
  m = bpe_model();
  m.pieces.push_back({"<unk2>", 0, 2});
  EXPECT_EQ(kind(m), ErrorKind::kFormat);
  m = bpe_model();
  m.pieces.push_back({"ab", 0, 1});
  EXPECT_EQ(kind(m, &message), ErrorKind::kFormat);
  EXPECT_NE(message.find("defined twice"), std::string::npos) << message;
  m = bpe_model();
  m.pieces.push_back({"", 0, 1});
  EXPECT_EQ(kind(m), ErrorKind::kFormat);
  m = bpe_model();
  m.pieces.push_back({"<0x41>", 0, 6});  // a byte piece without byte_fallback
  EXPECT_EQ(kind(m), ErrorKind::kFormat);
  m = bpe_model();
  m.add_bytes();
  m.pieces.pop_back();  // only 255 of them
  EXPECT_EQ(kind(m), ErrorKind::kFormat);
  m = bpe_model();
  m.add_bytes();
  m.pieces.back().text = "<0xZZ>";
  EXPECT_EQ(kind(m), ErrorKind::kFormat);
  m = bpe_model();
  m.charsmap = std::string("\x07\x00\x00\x00", 4) + "abc";
  EXPECT_EQ(kind(m), ErrorKind::kFormat);
  // Well-formed, but not implemented.
  m = bpe_model();
  m.model_type = 3;
  EXPECT_EQ(kind(m, &message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("WORD"), std::string::npos) << message;
  m.model_type = 4;
  EXPECT_EQ(kind(m), ErrorKind::kUnsupported);
  m = bpe_model();
  m.treat_whitespace_as_suffix = true;
  EXPECT_EQ(kind(m), ErrorKind::kUnsupported);
  m = bpe_model();
  m.denormalizer_charsmap = test::build_charsmap({{"a", "b"}});
  EXPECT_EQ(kind(m), ErrorKind::kUnsupported);
}

// ---------------------------------------------------------- normalizer ---

TEST(SentencePieceNormalizer, WhitespaceOptions) {
  SpmModel m = bpe_model();
  EXPECT_EQ(encoder(m).normalize("  Hello   world  "), "\u2581Hello\u2581world");
  EXPECT_EQ(encoder(m).normalize("   "), "");
  EXPECT_EQ(encoder(m).normalize(""), "");
  EXPECT_EQ(encoder(m).normalize("x\u2581\u2581"), "\u2581x");  // escaped spaces count as spaces at the end
  m.remove_extra_whitespaces = false;
  EXPECT_EQ(encoder(m).normalize("  Hello  world "), "\u2581\u2581\u2581Hello\u2581\u2581world\u2581");
  m.add_dummy_prefix = false;
  EXPECT_EQ(encoder(m).normalize("Hello world"), "Hello\u2581world");
  m = bpe_model();
  m.escape_whitespaces = false;
  EXPECT_EQ(encoder(m).normalize(" Hello  world "), " Hello world");
  // Each byte of invalid UTF-8 is one U+FFFD.
  EXPECT_EQ(encoder(bpe_model()).normalize("a\xFF" "b\xE2\x82"), "\u2581a\uFFFDb\uFFFD\uFFFD");
}

TEST(SentencePieceNormalizer, CharacterMapTakesTheLongestRule) {
  SpmModel m = bpe_model();
  m.charsmap = test::build_charsmap({{"\uFF21", "A"},
                                     {"a", "x"},
                                     {"ab", "y"},
                                     {"\t", " "},
                                     {"\uFB01", "fi"},
                                     {"\u3000", " "},
                                     {"\u2581", " "},
                                     {"\x01", ""}});
  const sentencepiece::Encoder e = encoder(m);
  EXPECT_EQ(e.normalize("ab a \uFF21\t\uFB01"), "\u2581y\u2581x\u2581A\u2581fi");
  EXPECT_EQ(e.normalize("\u3000\u3000lead x\u3000\u3000y\t"), "\u2581le" "x" "d\u2581x\u2581y");
  EXPECT_EQ(e.normalize("\x01\x01q\x01"), "\u2581q");
  EXPECT_EQ(e.normalize("\u2581q"), "\u2581q");
  // User-defined symbols pass through unnormalized.
  m.pieces.push_back({"ab", 0, 4});
  m.pieces.erase(m.pieces.begin() + 8);  // the normal "ab"
  EXPECT_EQ(encoder(m).normalize("ab a"), "\u2581ab\u2581x");
}

// -------------------------------------------------------------- models ---

TEST(SentencePieceBpe, MergesByScoreLeftmostFirst) {
  const SpmModel m = bpe_model();
  const sentencepiece::Encoder e = encoder(m);
  // "ab" and "bc" score the same: the left one merges; then "▁ab".
  EXPECT_EQ(e.encode("abc"), (Ids{m.id("\u2581ab"), m.id("c")}));
  EXPECT_EQ(e.encode("bc ab"), (Ids{m.id("\u2581"), m.id("bc"), m.id("\u2581ab")}));
  EXPECT_EQ(e.encode(""), Ids{});
  // A run of unknown characters is one <unk>.
  EXPECT_EQ(e.encode("a\u20AC\u20ACb\u20AC"), (Ids{m.id("\u2581a"), 0, m.id("b"), 0}));
}

TEST(SentencePieceBpe, UnusedPiecesSplitBackAndUserDefinedStayWhole) {
  SpmModel m = bpe_model();
  m.pieces[m.id("ab")].type = 5;  // unused: may be merged through, never output
  m.pieces.push_back({"<t>", 0, 4});
  const sentencepiece::Encoder e = encoder(m);
  EXPECT_EQ(e.encode("xab"), (Ids{m.id("\u2581x"), m.id("a"), m.id("b")}));
  EXPECT_EQ(e.encode("ab"), (Ids{m.id("\u2581ab")}));
  EXPECT_EQ(e.encode("a<t>b"), (Ids{m.id("\u2581a"), m.id("<t>"), m.id("b")}));
}

TEST(SentencePieceBpe, ByteFallbackSpellsUnknownCharactersInBytes) {
  SpmModel m = bpe_model();
  m.add_bytes();
  const sentencepiece::Encoder e = encoder(m);
  const int32_t e2 = m.id("<0xE2>"), x82 = m.id("<0x82>"), xac = m.id("<0xAC>");
  EXPECT_EQ(e.encode("a\u20AC\u20ACb"), (Ids{m.id("\u2581a"), e2, x82, xac, e2, x82, xac, m.id("b")}));
  EXPECT_EQ(e.encode("\xFF"), (Ids{m.id("\u2581"), m.id("<0xEF>"), m.id("<0xBF>"), m.id("<0xBD>")}));
}

TEST(SentencePieceUnigram, ViterbiPicksTheBestPathFirstFoundOnTies) {
  SpmModel m = SpmModel::with_specials();
  m.model_type = 1;
  for (const auto& [piece, score] : std::vector<std::pair<std::string, float>>{
           {"\u2581", -2}, {"a", -3}, {"b", -3}, {"ab", -4}, {"\u2581a", -3}, {"\u2581ab", -7.5f}, {"c", -20}}) {
    m.pieces.push_back({piece, score, 1});
  }
  m.pieces.push_back({"bc", 0, 4});
  const sentencepiece::Encoder e = encoder(m);
  // ▁+ab and ▁a+b both score -6: the path found first (▁ then ab) stays.
  EXPECT_EQ(e.encode("ab"), (Ids{m.id("\u2581"), m.id("ab")}));
  // A user-defined symbol gets a score that beats the ordinary pieces.
  EXPECT_EQ(e.encode("abc"), (Ids{m.id("\u2581a"), m.id("bc")}));
  // Uncovered characters: one <unk> per run.
  EXPECT_EQ(e.encode("a\u20AC\u20ACb"), (Ids{m.id("\u2581a"), 0, m.id("b")}));
  m.add_bytes();
  EXPECT_EQ(encoder(m).encode("\u00E9"), (Ids{m.id("\u2581"), m.id("<0xC3>"), m.id("<0xA9>")}));
}

// ------------------------------------------ Tokenizer::from_sentencepiece ---

TEST(SentencePieceTokenizer, VocabularyAndSpecialPieces) {
  SpmModel m = bpe_model();
  m.add_bytes();
  const Tokenizer tok = tokenizer(m);
  EXPECT_EQ(tok.vocab_size(), static_cast<int>(m.pieces.size()));
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_TRUE(tok.is_special(1));
  EXPECT_TRUE(tok.is_special(2));
  EXPECT_FALSE(tok.is_special(0));
  EXPECT_EQ(tok.id_to_token(0), "<unk>");
  EXPECT_EQ(tok.id_to_token(m.id("\u2581ab")), "\u2581ab");
  EXPECT_EQ(tok.token_to_id("<s>"), 1);
  EXPECT_EQ(tok.token_to_id("<0x41>"), m.id("<0x41>"));
  EXPECT_EQ(tok.token_to_id("\u2581a"), m.id("\u2581a"));
  EXPECT_EQ(tok.token_to_id("nope"), std::nullopt);
  EXPECT_EQ(tok.encode("abc"), (Ids{1, m.id("\u2581ab"), m.id("c")}));
  EXPECT_EQ(tok.encode("abc", false), (Ids{m.id("\u2581ab"), m.id("c")}));
  // Control pieces written in the text are text.
  EXPECT_EQ(tok.encode("<s>", false).size(), 4u);
  m.bos_id = -1;
  EXPECT_EQ(tokenizer(m).bos_id(), std::nullopt);
  EXPECT_EQ(tokenizer(m).encode("abc"), (Ids{m.id("\u2581ab"), m.id("c")}));
}

TEST(SentencePieceTokenizer, DecodeLikeSentencePiece) {
  SpmModel m = bpe_model();
  m.add_bytes();
  const Tokenizer tok = tokenizer(m);
  const int32_t space = m.id("\u2581"), a = m.id("\u2581a"), ab = m.id("ab");
  const int32_t e2 = m.id("<0xE2>"), x82 = m.id("<0x82>"), xac = m.id("<0xAC>"), x41 = m.id("<0x41>");
  EXPECT_EQ(tok.decode(Ids{1, a, ab, 2}), "aab");
  EXPECT_EQ(tok.decode(Ids{1, a, ab, 2}, false), "<s> aab</s>");
  // While there is no text yet, each piece loses its leading ▁ (remove_extra_whitespaces).
  EXPECT_EQ(tok.decode(Ids{space, space, a}), "a");
  EXPECT_EQ(tok.decode(Ids{x41, a}), "A a");
  EXPECT_EQ(tok.decode(Ids{0, a}), " \u2047  a");  // <unk>'s surface
  EXPECT_EQ(tok.decode(Ids{e2, x82, xac}), "\u20AC");
  EXPECT_EQ(tok.decode(Ids{e2, x82, x41}), "\uFFFD\uFFFDA");  // one U+FFFD per byte
  EXPECT_EQ(tok.decode(Ids{e2, 1, x82, xac}), "\uFFFD\uFFFD\uFFFD");  // a control piece ends the run
  EXPECT_EQ(tok.decode(Ids{e2, 1, x82, xac}, false), "\uFFFD<s>\uFFFD\uFFFD");
  // Without remove_extra_whitespaces only the first piece loses its ▁.
  m.remove_extra_whitespaces = false;
  EXPECT_EQ(tokenizer(m).decode(Ids{space, space, a}), "  a");
  m.add_dummy_prefix = false;
  EXPECT_EQ(tokenizer(m).decode(Ids{space, a}), "  a");
  m.unk_surface = "<?>";
  EXPECT_EQ(tokenizer(m).decode(Ids{0}), "<?>");
  EXPECT_EQ(error_kind([&] { tok.decode(Ids{a, -1}); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(error_kind([&] { tok.decode(Ids{tok.vocab_size()}); }), ErrorKind::kInvalidArgument);
}

TEST(SentencePieceTokenizer, StablePrefixHoldsBackAnOpenByteRun) {
  SpmModel m = bpe_model();
  m.add_bytes();
  const Tokenizer tok = tokenizer(m);
  const int32_t a = m.id("\u2581a"), e2 = m.id("<0xE2>"), x82 = m.id("<0x82>"), xac = m.id("<0xAC>");
  EXPECT_EQ(tok.stable_prefix_length(Ids{a, e2, x82}), 1u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{a, e2, x82, xac}), 1u);  // the run may go on
  EXPECT_EQ(tok.stable_prefix_length(Ids{a, e2, x82, xac, a}), 5u);
  EXPECT_EQ(tok.stable_prefix_length(Ids{a, e2, 2}), 3u);  // </s> ended the run
  EXPECT_EQ(tok.stable_prefix_length(Ids{}), 0u);
  std::mt19937 rng(9);
  const Ids choices = {a, e2, x82, xac, 1, 2, 0, m.id("<0xC3>"), m.id("<0xA9>"), m.id("\u2581")};
  for (int round = 0; round < 300; ++round) {
    Ids ids(rng() % 10);
    for (int32_t& id : ids) id = choices[rng() % choices.size()];
    for (size_t n = 0; n <= ids.size(); ++n) {
      const std::string fixed = tok.decode(std::span(ids).first(tok.stable_prefix_length(std::span(ids).first(n))));
      for (size_t k = n; k <= ids.size(); ++k) {
        ASSERT_TRUE(tok.decode(std::span(ids).first(k)).starts_with(fixed)) << testing::PrintToString(ids);
      }
    }
  }
}

}  // namespace
}  // namespace lm
