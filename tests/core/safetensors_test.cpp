#include "safetensors.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>

#include "error.h"
#include "test_support.h"

namespace lm {
namespace {

// A safetensors file: 8-byte little-endian length, header text, data.
std::string make_file(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string length_only(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

const std::byte* as_bytes(const std::string& s) { return reinterpret_cast<const std::byte*>(s.data()); }

SafetensorsFile parse(const std::string& file) { return SafetensorsFile::parse(as_bytes(file), file.size(), "t.safetensors"); }

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string s(values.size() * sizeof(T), '\0');
  std::memcpy(s.data(), values.begin(), s.size());
  return s;
}

// Runs `fn`, expecting an lm::Error of `kind` whose one-line message contains `needle`.
void expect_error(const std::function<void()>& fn, ErrorKind kind, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.kind(), kind) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message spans lines: " << msg;
  }
}

void expect_format_error(const std::string& file, const std::string& needle) {
  expect_error([&] { parse(file); }, ErrorKind::kFormat, needle);
}

// A one-tensor header with the given fields (raw JSON text).
std::string one(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"x": {"dtype": )" + dtype + R"(, "shape": )" + shape + R"(, "data_offsets": )" + offsets + "}}";
}

// ------------------------------------------------------------ valid files ---

TEST(SafetensorsTest, ParsesAllDtypesShapesAndMetadata) {
  const std::string data = raw<float>({1.0f, -2.0f, 3.5f, 4.0f, 5.0f, 6.0f})               // a: F32 [2, 3]
                           + raw<uint16_t>({f32_to_f16(0.5f), f32_to_f16(-1.25f), 0x3c00, 0})  // h: F16 [4]
                           + raw<uint16_t>({f32_to_bf16(-3.0f)});                             // s: BF16 []
  const std::string header = R"({
    "__metadata__": {"format": "pt", "note": "hello"},
    "s": {"dtype": "BF16", "shape": [], "data_offsets": [32, 34]},
    "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
    "h": {"dtype": "F16", "shape": [4], "data_offsets": [24, 32]},
    "e": {"dtype": "F32", "shape": [0, 5], "data_offsets": [34, 34]}
  })";
  const std::string file = make_file(header, data);
  const SafetensorsFile st = parse(file);

  EXPECT_EQ(st.label(), "t.safetensors");
  ASSERT_EQ(st.tensors().size(), 4u);
  // In data-section order.
  EXPECT_EQ(st.tensors()[0].name, "a");
  EXPECT_EQ(st.tensors()[1].name, "h");
  EXPECT_EQ(st.tensors()[2].name, "s");
  EXPECT_EQ(st.tensors()[3].name, "e");
  EXPECT_EQ(st.data_section(), as_bytes(file) + 8 + header.size());

  const TensorInfo* a = st.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (Shape{2, 3}));
  EXPECT_EQ(a->begin, 0u);
  EXPECT_EQ(a->end, 24u);
  const WeightRef wa = st.weight(*a);
  EXPECT_EQ(wa.dtype, DType::kF32);
  EXPECT_EQ(wa.shape, (Shape{2, 3}));
  float row[3];
  wa.row_to_f32(1, row);
  EXPECT_EQ(row[0], 4.0f);
  EXPECT_EQ(row[2], 6.0f);

  const TensorInfo* h = st.find("h");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->dtype, DType::kF16);
  EXPECT_EQ(h->shape, (Shape{4}));
  float hv[4];
  st.weight(*h).row_to_f32(0, hv);
  EXPECT_EQ(hv[0], 0.5f);
  EXPECT_EQ(hv[1], -1.25f);
  EXPECT_EQ(hv[2], 1.0f);
  EXPECT_EQ(hv[3], 0.0f);

  const TensorInfo* s = st.find("s");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->dtype, DType::kBF16);
  EXPECT_EQ(s->shape.rank, 0);
  EXPECT_EQ(s->shape.numel(), 1);
  uint16_t sbits;
  std::memcpy(&sbits, st.weight(*s).data, 2);
  EXPECT_EQ(bf16_to_f32(sbits), -3.0f);

  const TensorInfo* e = st.find("e");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->shape, (Shape{0, 5}));
  EXPECT_EQ(e->shape.numel(), 0);
  EXPECT_EQ(e->begin, e->end);

  EXPECT_EQ(st.find("missing"), nullptr);
  EXPECT_EQ(st.find("__metadata__"), nullptr);
  ASSERT_EQ(st.metadata().size(), 2u);
  EXPECT_EQ(st.metadata().at("format"), "pt");
  EXPECT_EQ(st.metadata().at("note"), "hello");
}

TEST(SafetensorsTest, EmptyHeaderAndPaddedHeaderAreValid) {
  EXPECT_TRUE(parse(make_file("{}")).tensors().empty());
  // Writers pad the header with spaces to align the data section.
  const std::string file = make_file(one("\"F32\"", "[1]", "[0, 4]") + "       ", raw<float>({7.0f}));
  const SafetensorsFile st = parse(file);  // views `file`, which must outlive it
  ASSERT_EQ(st.tensors().size(), 1u);
  EXPECT_EQ(*static_cast<const float*>(st.weight(st.tensors()[0]).data), 7.0f);
}

TEST(SafetensorsTest, MisalignedDataSectionIsReturnedAsIs) {
  // Header of odd length: the data section starts at an odd offset; weight()
  // points straight into the bytes and leaves alignment to the caller.
  std::string header = one("\"F32\"", "[2]", "[0, 8]");
  if (header.size() % 2 == 0) header += " ";
  const std::string file = make_file(header, raw<float>({1.0f, 2.0f}));
  const SafetensorsFile st = parse(file);
  const WeightRef w = st.weight(st.tensors()[0]);
  EXPECT_EQ(w.data, static_cast<const void*>(as_bytes(file) + 8 + header.size()));
  float v[2];
  w.row_to_f32(0, v);
  EXPECT_EQ(v[1], 2.0f);
}

TEST(SafetensorsTest, EmptyTensorsMayShareOffsetsWithOthers) {
  const std::string header = R"({
    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "e1": {"dtype": "F16", "shape": [0], "data_offsets": [4, 4]},
    "e2": {"dtype": "BF16", "shape": [3, 0], "data_offsets": [4, 4]}
  })";
  EXPECT_EQ(parse(make_file(header, std::string(8, '\0'))).tensors().size(), 3u);
}

TEST(SafetensorsTest, TrailingBytesAfterTensorsAreAllowed) {
  EXPECT_EQ(parse(make_file(one("\"F32\"", "[1]", "[0, 4]"), std::string(12, '\0'))).tensors().size(), 1u);
}

// ------------------------------------------------------- malformed files ---

TEST(SafetensorsTest, RejectsFilesTooSmallForTheLength) {
  expect_format_error("", "t.safetensors: file too small");
  expect_format_error("1234567", "t.safetensors: file too small");
}

TEST(SafetensorsTest, RejectsTruncatedFile) {
  std::string file = make_file(one("\"F32\"", "[4]", "[0, 16]"), std::string(16, '\0'));
  file.resize(file.size() - 3);
  expect_format_error(file, "run past the end of the data section (13 bytes)");
  // Truncated inside the header.
  expect_format_error(make_file(one("\"F32\"", "[4]", "[0, 16]")).substr(0, 20), "exceeds the file size");
}

TEST(SafetensorsTest, RejectsHeaderLengthPastTheEnd) {
  expect_format_error(length_only(100) + "{}", "t.safetensors: header length 100 exceeds the file size (10 bytes)");
  expect_format_error(length_only(~uint64_t{0}) + "{}", "exceeds the file size");
}

TEST(SafetensorsTest, HugeHeaderLengthFailsFast) {
  const auto start = std::chrono::steady_clock::now();
  expect_format_error(length_only(10'000'000'000ull) + "{}", "header length 10000000000 exceeds the file size");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(SafetensorsTest, RejectsHeaderLengthAboveTheLimitEvenIfTheFileIsThatBig) {
  // A 200 MB buffer that is never touched beyond its first 8 bytes (the
  // allocation stays virtual): the length is rejected before any parsing.
  const size_t header_len = size_t{200} << 20;
  std::unique_ptr<std::byte[]> big(new std::byte[header_len + 8]);
  const std::string len = length_only(header_len);
  std::memcpy(big.get(), len.data(), 8);
  expect_error([&] { SafetensorsFile::parse(big.get(), header_len + 8, "big.safetensors"); }, ErrorKind::kFormat,
               "big.safetensors: header length 209715200 exceeds the limit");
}

TEST(SafetensorsTest, RejectsInvalidJson) {
  expect_format_error(make_file("{\"x\": "), "t.safetensors: invalid JSON");
  expect_format_error(make_file(""), "invalid JSON");
  expect_format_error(make_file("{\"x\": \"\n\"}"), "invalid JSON");  // raw newline in a string
  expect_format_error(make_file("{\"x\": 1e999}"), "invalid JSON");   // number overflow
}

TEST(SafetensorsTest, RejectsHeaderThatIsNotAnObject) {
  expect_format_error(make_file("[1, 2]"), "t.safetensors: header is not a JSON object");
  expect_format_error(make_file("\"text\""), "header is not a JSON object");
  expect_format_error(make_file("null"), "header is not a JSON object");
}

TEST(SafetensorsTest, RejectsEntriesOfTheWrongShape) {
  expect_format_error(make_file(R"({"x": 5})"), "tensor 'x': entry is not an object");
  expect_format_error(make_file(R"({"x": {"shape": [1], "data_offsets": [0, 4]}})"), "tensor 'x': missing or non-string \"dtype\"");
  expect_format_error(make_file(one("32", "[1]", "[0, 4]"), "1234"), "non-string \"dtype\"");
  expect_format_error(make_file(R"({"x": {"dtype": "F32", "data_offsets": [0, 4]}})"), "non-array \"shape\"");
  expect_format_error(make_file(one("\"F32\"", "4", "[0, 4]"), "1234"), "non-array \"shape\"");
  expect_format_error(make_file(R"({"x": {"dtype": "F32", "shape": [1]}})"), "\"data_offsets\" must be two");
}

TEST(SafetensorsTest, RejectsOffsetsOutOfRange) {
  expect_format_error(make_file(one("\"F32\"", "[2]", "[4, 12]"), std::string(8, '\0')),
                      "tensor 'x': data_offsets [4, 12] run past the end of the data section (8 bytes)");
  expect_format_error(make_file(one("\"F32\"", "[1]", "[18446744073709551612, 18446744073709551615]")),
                      "run past the end");
}

TEST(SafetensorsTest, RejectsMalformedOffsets) {
  const std::string data(16, '\0');
  expect_format_error(make_file(one("\"F32\"", "[1]", "[8, 4]"), data), "data_offsets [8, 4] run backwards");
  expect_format_error(make_file(one("\"F32\"", "[1]", "[0, 4, 8]"), data), "\"data_offsets\" must be two");
  expect_format_error(make_file(one("\"F32\"", "[1]", "[4]"), data), "\"data_offsets\" must be two");
  expect_format_error(make_file(one("\"F32\"", "[1]", "[-4, 0]"), data), "\"data_offsets\" must be two");
  expect_format_error(make_file(one("\"F32\"", "[1]", "[0.0, 4.0]"), data), "\"data_offsets\" must be two");
  expect_format_error(make_file(one("\"F32\"", "[1]", "{}"), data), "\"data_offsets\" must be two");
}

TEST(SafetensorsTest, RejectsOverlappingTensors) {
  const std::string header = R"({
    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}
  })";
  expect_format_error(make_file(header, std::string(12, '\0')), "tensors 'a' [0, 8) and 'b' [4, 12) overlap");
  const std::string same = R"({
    "a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
    "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
  })";
  expect_format_error(make_file(same, std::string(4, '\0')), "overlap");
}

TEST(SafetensorsTest, RejectsSizeNotMatchingShapeTimesDtype) {
  expect_format_error(make_file(one("\"F32\"", "[2, 3]", "[0, 20]"), std::string(24, '\0')),
                      "tensor 'x': shape [2, 3] of F32 needs 24 bytes but data_offsets span 20");
  expect_format_error(make_file(one("\"BF16\"", "[]", "[0, 4]"), std::string(4, '\0')), "needs 2 bytes");
  expect_format_error(make_file(one("\"F16\"", "[0]", "[0, 2]"), std::string(4, '\0')), "needs 0 bytes");
}

TEST(SafetensorsTest, RejectsUnsupportedDtypeNamingTensorAndDtype) {
  for (const std::string dtype : {"I64", "F64", "U8", "f32"}) {
    const std::string header = R"({"model.pos": {"dtype": ")" + dtype + R"(", "shape": [1], "data_offsets": [0, 8]}})";
    expect_error([&] { parse(make_file(header, std::string(8, '\0'))); }, ErrorKind::kUnsupported,
                 "t.safetensors: tensor 'model.pos' has dtype " + dtype + "; supported: F32, F16, BF16");
  }
}

TEST(SafetensorsTest, RejectsBadDims) {
  const std::string data(64, '\0');
  expect_format_error(make_file(one("\"F32\"", "[-1]", "[0, 4]"), data), "tensor 'x': shape dimension -1 is not a non-negative integer");
  expect_format_error(make_file(one("\"F32\"", "[1.5]", "[0, 4]"), data), "shape dimension 1.5 is not");
  expect_format_error(make_file(one("\"F32\"", "[2.0]", "[0, 8]"), data), "shape dimension 2.0 is not");
  expect_format_error(make_file(one("\"F32\"", "[\"2\"]", "[0, 8]"), data), "shape dimension \"2\" is not");
  expect_format_error(make_file(one("\"F32\"", "[null]", "[0, 8]"), data), "shape dimension null is not");
  expect_format_error(make_file(one("\"F32\"", "[18446744073709551615]", "[0, 8]"), data), "is not a non-negative integer");
}

TEST(SafetensorsTest, RejectsRankAboveFour) {
  expect_format_error(make_file(one("\"F32\"", "[1, 1, 1, 1, 1]", "[0, 4]"), std::string(4, '\0')),
                      "tensor 'x': rank 5 exceeds the maximum of 4");
  // Rank 4 is fine.
  EXPECT_EQ(parse(make_file(one("\"F32\"", "[1, 1, 1, 1]", "[0, 4]"), std::string(4, '\0'))).tensors()[0].shape.rank, 4);
}

TEST(SafetensorsTest, RejectsShapesWhoseProductOverflows) {
  expect_format_error(make_file(one("\"F32\"", "[4294967296, 4294967296]", "[0, 4]"), std::string(4, '\0')),
                      "more elements than int64 can count");
  // A zero dimension does not excuse an overflowing stride.
  expect_format_error(make_file(one("\"F32\"", "[0, 4294967296, 4294967296]", "[0, 0]")), "more elements than int64");
  // Fits int64 but not int64 * 4 bytes: caught as a size mismatch, not wrapped.
  expect_format_error(make_file(one("\"F32\"", "[4611686018427387904]", "[0, 4]"), std::string(4, '\0')),
                      "needs more than 2^64 bytes");
}

TEST(SafetensorsTest, RejectsDeepNesting) {
  const std::string deep = "{\"__metadata__\": " + std::string(100, '[') + std::string(100, ']') + "}";
  expect_format_error(make_file(deep), "t.safetensors: JSON nested deeper than 64 levels");
  // Far deeper than any stack could take recursively; must fail quickly all the same.
  const std::string deeper = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  expect_format_error(make_file(deeper), "nested deeper than 64");
  // Just below the limit parses as JSON (then fails on the metadata type).
  const std::string ok = "{\"__metadata__\": " + std::string(62, '[') + std::string(62, ']') + "}";
  expect_format_error(make_file(ok), "__metadata__ is not an object");
}

TEST(SafetensorsTest, RejectsNonStringMetadata) {
  expect_format_error(make_file(R"({"__metadata__": {"format": "pt", "n": 3}})"),
                      "t.safetensors: __metadata__ value for 'n' is a number, not a string");
  expect_format_error(make_file(R"({"__metadata__": ["pt"]})"), "__metadata__ is not an object");
}

TEST(SafetensorsTest, RejectsDuplicateTensorNamesInOneHeader) {
  const std::string header = R"({
    "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
    "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}
  })";
  expect_format_error(make_file(header, std::string(8, '\0')), "header lists tensor 'a' twice");
}

TEST(SafetensorsTest, ErrorMessagesEscapeControlCharacters) {
  const std::string header = R"({"bad\nname": {"dtype": "I8", "shape": [1], "data_offsets": [0, 1]}})";
  expect_error([&] { parse(make_file(header, "x")); }, ErrorKind::kUnsupported, "tensor 'bad\\x0aname' has dtype I8");
}

// ------------------------------------------------------------ story model ---

TEST(SafetensorsTest, ParsesTheStoryModel) {
  const std::string bytes = test::read_file(test::story_model_dir() / "model.safetensors");
  const SafetensorsFile st = SafetensorsFile::parse(as_bytes(bytes), bytes.size(), "model.safetensors");
  EXPECT_EQ(st.tensors().size(), 20u);  // lm_head, 9 per layer x 2, final norm

  const TensorInfo* head = st.find("lm_head.weight");
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->dtype, DType::kF32);
  EXPECT_EQ(head->shape, (Shape{2048, 128}));
  EXPECT_EQ(head->end - head->begin, 2048u * 128u * 4u);

  const TensorInfo* k = st.find("model.layers.1.self_attn.k_proj.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->shape, (Shape{64, 128}));
  const TensorInfo* norm = st.find("model.norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->shape, (Shape{128}));

  // Tied embeddings: the embedding is stored once, under lm_head.weight.
  EXPECT_EQ(st.find("model.embed_tokens.weight"), nullptr);
  ASSERT_EQ(st.metadata().count("model.embed_tokens.weight"), 1u);
  EXPECT_EQ(st.metadata().at("model.embed_tokens.weight"), "lm_head.weight");
  EXPECT_EQ(st.metadata().at("format"), "pt");

  // The norm weights of a trained model are not all zero: the view reads real data.
  float row[128];
  st.weight(*norm).row_to_f32(0, row);
  float sum = 0;
  for (float v : row) sum += v * v;
  EXPECT_GT(sum, 0.0f);
}

// ------------------------------------------------------------- Checkpoint ---

TEST(CheckpointTest, FindsTensorsAcrossShards) {
  const std::string f1 = make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                       "b": {"dtype": "F16", "shape": [2], "data_offsets": [4, 8]}})",
                                   std::string(8, '\0'));
  const std::string f2 = make_file(R"({"c": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [0, 4]}})",
                                   std::string(4, '\0'));
  Checkpoint ckpt;
  ckpt.add(SafetensorsFile::parse(as_bytes(f1), f1.size(), "model-00001-of-00002.safetensors"));
  ckpt.add(SafetensorsFile::parse(as_bytes(f2), f2.size(), "model-00002-of-00002.safetensors"));

  EXPECT_EQ(ckpt.files().size(), 2u);
  EXPECT_EQ(ckpt.tensor_count(), 3u);
  const auto [c, cfile] = ckpt.find("c");
  ASSERT_NE(c, nullptr);
  ASSERT_NE(cfile, nullptr);
  EXPECT_EQ(cfile->label(), "model-00002-of-00002.safetensors");
  EXPECT_EQ(c->shape, (Shape{1, 2}));
  EXPECT_EQ(ckpt.find("a").second->label(), "model-00001-of-00002.safetensors");
  EXPECT_TRUE(ckpt.contains("b"));
  EXPECT_FALSE(ckpt.contains("d"));
  const auto [none, nofile] = ckpt.find("d");
  EXPECT_EQ(none, nullptr);
  EXPECT_EQ(nofile, nullptr);
}

TEST(CheckpointTest, RejectsATensorNameRepeatedAcrossShards) {
  const std::string f1 = make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", std::string(4, '\0'));
  const std::string f2 = make_file(R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                       "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                                   std::string(8, '\0'));
  Checkpoint ckpt;
  ckpt.add(SafetensorsFile::parse(as_bytes(f1), f1.size(), "one.safetensors"));
  expect_error([&] { ckpt.add(SafetensorsFile::parse(as_bytes(f2), f2.size(), "two.safetensors")); }, ErrorKind::kFormat,
               "two.safetensors: tensor 'a' is also in one.safetensors");
  EXPECT_EQ(ckpt.files().size(), 1u);  // the rejected shard was not added
}

// ------------------------------------------------------------------ index ---

TEST(SafetensorsIndexTest, ListsShardsInFirstUseOrder) {
  const std::string text = R"({
    "metadata": {"total_size": 123},
    "weight_map": {
      "lm_head.weight": "model-00002-of-00002.safetensors",
      "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
      "model.layers.0.mlp.up_proj.weight": "model-00001-of-00002.safetensors",
      "model.norm.weight": "model-00002-of-00002.safetensors"
    }
  })";
  EXPECT_EQ(parse_safetensors_index(text),
            (std::vector<std::string>{"model-00002-of-00002.safetensors", "model-00001-of-00002.safetensors"}));
}

TEST(SafetensorsIndexTest, RejectsMalformedIndexes) {
  auto expect_index_error = [](const std::string& text, const std::string& needle) {
    expect_error([&] { parse_safetensors_index(text); }, ErrorKind::kFormat, needle);
    try {
      parse_safetensors_index(text);
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("model.safetensors.index.json: ", 0), 0u) << e.what();
    }
  };
  expect_index_error("{", "invalid JSON");
  expect_index_error("[]", "not a JSON object");
  expect_index_error(R"({"metadata": {}})", "missing or non-object \"weight_map\"");
  expect_index_error(R"({"weight_map": ["a.safetensors"]})", "missing or non-object \"weight_map\"");
  expect_index_error(R"({"weight_map": {}})", "\"weight_map\" is empty");
  expect_index_error(R"({"weight_map": {"w": 3}})", "weight_map entry for 'w' is not a string");
  expect_index_error(R"({"weight_map": {"w": "../../etc/passwd"}})", "not a plain file name");
  expect_index_error(R"({"weight_map": {"w": ""}})", "not a plain file name");
  expect_index_error("{\"weight_map\": " + std::string(200, '[') + std::string(200, ']') + "}", "nested deeper than 64");
}

// An index longer than kMaxIndexJsonBytes is refused before parsing.
TEST(SafetensorsIndexTest, RejectsOversizedText) {
  expect_error([] { parse_safetensors_index(std::string(kMaxIndexJsonBytes + 1, ' ')); }, ErrorKind::kResourceLimit,
               "model.safetensors.index.json: the file has 16777217 bytes");
}

}  // namespace
}  // namespace lm
