#include "targets.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>

#include <nlohmann/json.hpp>

#include "chat.h"
#include "config.h"
#include "error.h"
#include "unicode.h"
#include "generator.h"
#include "model.h"
#include "model_files.h"
#include "safetensors.h"
#include "tokenizer.h"

namespace lm::fuzz {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

[[noreturn]] void violation(const std::string& what) { throw Violation("fuzz invariant broken: " + what); }

// Reads choices from the input; past its end every read gives 0.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{byte()} << (8 * i);
    return v;
  }
  // Uniform-ish in [lo, hi] (inclusive), one byte when the range allows.
  int pick(int lo, int hi) {
    const auto range = static_cast<uint32_t>(hi - lo) + 1;
    const uint32_t v = range <= 256 ? byte() : u32();
    return lo + static_cast<int>(v % range);
  }
  bool flip() { return byte() & 1; }
  float raw_float() {
    const uint32_t bits = u32();
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  std::string bytes(size_t max) {
    const size_t n = std::min<size_t>(static_cast<size_t>(pick(0, static_cast<int>(max))), size_ - pos_);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  size_t remaining() const { return size_ - pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// ----------------------------------------------------------- safetensors ---

volatile size_t g_sink;  // keeps reads of every byte from being optimized away

void check_file(const SafetensorsFile& f) {
  const TensorInfo* prev = nullptr;
  for (const TensorInfo& t : f.tensors()) {
    if (t.begin > t.end) violation("tensor offsets run backwards");
    if (t.shape.rank < 0 || t.shape.rank > kMaxRank) violation("rank out of range");
    const uint64_t bytes = static_cast<uint64_t>(t.shape.numel()) * dtype_size(t.dtype);
    if (bytes != t.end - t.begin) violation("tensor bytes differ from its shape");
    if (prev && t.begin < prev->begin) violation("tensors not in file order");
    if (f.find(t.name) == nullptr) violation("find() misses a listed tensor");
    // Touch every byte (ASan catches a view past the buffer) and a row's conversion.
    const WeightRef w = f.weight(t);
    const auto* p = static_cast<const unsigned char*>(w.data);
    unsigned sum = 0;
    for (uint64_t i = 0; i < bytes; ++i) sum += p[i];
    g_sink = g_sink + sum;
    if ((t.shape.rank == 1 || t.shape.rank == 2) && t.shape.numel() > 0 && w.cols() <= 4096) {
      std::vector<float> row(static_cast<size_t>(w.cols()));
      w.row_to_f32(w.rows() - 1, row.data());
    }
    prev = &t;
  }
  for (const auto& [k, v] : f.metadata()) {
    g_sink = g_sink + k.size() + v.size();
  }
}

}  // namespace

std::vector<std::string_view> split_parts(const uint8_t* data, size_t size, size_t max_parts) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  size_t from = 0;
  while (parts.size() + 1 < max_parts) {
    const size_t at = all.find(kSeparator, from);
    if (at == std::string_view::npos) break;
    parts.push_back(all.substr(from, at - from));
    from = at + kSeparator.size();
  }
  parts.push_back(all.substr(from));
  return parts;
}

void safetensors(const uint8_t* data, size_t size) {
  const auto parts = split_parts(data, size, 4);
  // Each part in a buffer of exactly its size, so ASan sees any read past it.
  std::vector<std::unique_ptr<std::byte[]>> buffers;
  Checkpoint checkpoint;
  for (size_t i = 0; i < parts.size(); ++i) {
    auto& buffer = buffers.emplace_back(new std::byte[parts[i].size()]);
    if (!parts[i].empty()) std::memcpy(buffer.get(), parts[i].data(), parts[i].size());
    try {
      SafetensorsFile file = SafetensorsFile::parse(buffer.get(), parts[i].size(), "shard" + std::to_string(i));
      check_file(file);
      checkpoint.add(std::move(file));
    } catch (const Error&) {
    }
    try {
      const std::vector<std::string> files = parse_safetensors_index(parts[i]);
      for (const std::string& f : files)
        if (f.empty() || f.find('/') != std::string::npos || f == "..")
          violation("index names a file outside the model folder");
    } catch (const Error&) {
    }
  }
  size_t n = 0;
  for (const SafetensorsFile& f : checkpoint.files())
    for (const TensorInfo& t : f.tensors()) {
      ++n;
      if (checkpoint.find(t.name).first == nullptr) violation("Checkpoint::find misses a tensor");
    }
  if (n != checkpoint.tensor_count()) violation("Checkpoint::tensor_count");
}

// ---------------------------------------------------------------- config ---

void config(const uint8_t* data, size_t size) {
  const auto parts = split_parts(data, size, 3);
  try {
    ModelConfig c = ModelConfig::from_json(parts[0]);
    constexpr int kMax = 1 << 20;
    if (c.hidden_size < 1 || c.hidden_size > kMax || c.intermediate_size < 1 || c.intermediate_size > kMax ||
        c.num_hidden_layers < 1 || c.num_attention_heads < 1 || c.num_key_value_heads < 1 || c.head_dim < 1 ||
        c.vocab_size < 1 || c.vocab_size > kMax || c.max_position_embeddings < 1)
      violation("config accepted with an out-of-range size");
    if (c.num_attention_heads % c.num_key_value_heads != 0 || c.head_dim % 2 != 0) violation("config head layout");
    if (int64_t{c.num_attention_heads} * c.head_dim > kMax) violation("q_dim above the bound");
    if (!(c.rms_norm_eps > 0) || !std::isfinite(c.rms_norm_eps) || !(c.rope_theta > 0) || !std::isfinite(c.rope_theta))
      violation("config float out of range");
    for (int id : c.eos_token_ids)
      if (id < 0) violation("negative eos id");
    if (parts.size() > 1) c.apply_generation_config(parts[1]);
  } catch (const Error&) {
  }
  if (parts.size() > 2) {
    try {
      const std::optional<ChatTemplate> chat = ChatTemplate::from_tokenizer_config(parts[2]);
      if (chat) {
        const std::string prompt = chat->format({{"system", "s"}, {"user", std::string(parts[2].substr(0, 16))}});
        if (prompt.empty() || chat->end_of_turn().empty()) violation("empty chat prompt or end of turn");
      }
    } catch (const Error&) {
    }
  }
}

// ------------------------------------------------------------- tokenizer ---

namespace {

// decode() of ids that encode() gave must work; stable_prefix_length() must
// stay within the ids and its prefix must decode to a prefix of the whole.
void check_ids(const Tokenizer& t, std::span<const int32_t> ids) {
  const int vocab = t.vocab_size();
  for (int32_t id : ids)
    if (id < 0 || id >= vocab) violation("encode gave id " + std::to_string(id) + " outside the vocabulary");
  for (bool skip : {true, false}) {
    const std::string all = t.decode(ids, skip);
    const size_t k = t.stable_prefix_length(ids);
    if (k > ids.size()) violation("stable_prefix_length beyond the ids");
    const std::string head = t.decode(ids.first(k), skip);
    if (all.compare(0, head.size(), head) != 0)
      violation("decode of the stable prefix is not a prefix of the decode of all ids");
    std::string reused = "some old contents";
    t.decode_into(ids, skip, reused);
    if (reused != all) violation("decode_into differs from decode");
  }
}

}  // namespace

namespace {

// encode / decode / stable_prefix_length on a tokenizer that loaded.
void exercise_tokenizer(const Tokenizer& t) {
  const int vocab = t.vocab_size();
  if (vocab < 0) violation("negative vocab size");
  if (auto bos = t.bos_id(); bos && (*bos < 0 || *bos >= vocab)) violation("bos id outside the vocabulary");
  static const char* const kTexts[] = {"", "a", "Hello world", " leading  spaces ", "ab ab abc", "<s> x</s>",
                                       "\xff\xfe\xc3", "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x8e\x89", "\n\t\r"};
  for (const char* s : kTexts) {
    for (bool special : {true, false}) {
      try {
        const std::vector<int32_t> ids = t.encode(s, special);
        check_ids(t, ids);
      } catch (const Error&) {
      }
    }
  }
  // Every id alone and all of them in a row (bounded).
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < std::min(vocab, 512); ++id) ids.push_back(id);
  try {
    check_ids(t, ids);
    for (int32_t id : ids) {
      check_ids(t, std::span<const int32_t>(&id, 1));
      const auto piece = t.id_to_token(id);
      if (auto back = t.token_to_id(piece); back && (*back < 0 || *back >= vocab))
        violation("token_to_id gave an id outside the vocabulary");
    }
  } catch (const Error&) {
  }
  // Ids outside the vocabulary are errors, not crashes.
  for (int32_t bad : {-1, vocab, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()}) {
    try {
      t.decode(std::span<const int32_t>(&bad, 1));
      violation("decode accepted id " + std::to_string(bad));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kInvalidArgument) violation("decode of a bad id: wrong error kind");
    }
  }
}

}  // namespace

void tokenizer_json(const uint8_t* data, size_t size) {
  std::optional<Tokenizer> loaded;
  try {
    loaded.emplace(Tokenizer::from_json(std::string_view(reinterpret_cast<const char*>(data), size)));
  } catch (const Error&) {
    return;
  }
  exercise_tokenizer(*loaded);
}

void sentencepiece(const uint8_t* data, size_t size) {
  // In a buffer of exactly its size, so ASan sees any read past it.
  std::unique_ptr<std::byte[]> bytes(new std::byte[size]);
  if (size) std::memcpy(bytes.get(), data, size);
  std::optional<Tokenizer> loaded;
  try {
    loaded.emplace(Tokenizer::from_sentencepiece(bytes.get(), size));
  } catch (const Error&) {
    return;
  }
  bytes.reset();  // the tokenizer must not keep pointers into the file
  exercise_tokenizer(*loaded);
}

void tokenizer_ops(const Tokenizer& t, const uint8_t* data, size_t size) {
  if (size == 0) return;
  const int mode = data[0] % 4;
  const bool flag = data[0] & 4;
  ++data, --size;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const int vocab = t.vocab_size();
  // Ids from pairs of bytes: mostly inside the vocabulary, a few just outside.
  auto ids_of = [&](std::string_view bytes) {
    std::vector<int32_t> ids;
    for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
      const int v = static_cast<unsigned char>(bytes[i]) | static_cast<unsigned char>(bytes[i + 1]) << 8;
      ids.push_back(v % (vocab + 4) - 2);
    }
    return ids;
  };

  if (mode == 0) {
    // encode; decode gives the text back when nothing in it is lossy by design
    // ("▁" decodes to a space, added tokens eat the space before them).
    const std::vector<int32_t> ids = t.encode(text, flag);
    check_ids(t, ids);
    // (Characters without a token, e.g. '`' in the story vocab, become <unk>.)
    const auto unk = t.token_to_id("<unk>");
    if (unicode::is_valid_utf8(text) && text.find("\xe2\x96\x81") == std::string_view::npos &&
        text.find('<') == std::string_view::npos && !(unk && std::find(ids.begin(), ids.end(), *unk) != ids.end())) {
      const std::vector<int32_t> plain = flag ? t.encode(text, false) : ids;
      if (t.decode(plain, false) != text) violation("decode(encode(text)) != text");
    }
    return;
  }

  if (mode == 1) {
    // Arbitrary ids: an error for a bad one, never a crash.
    const std::vector<int32_t> ids = ids_of(text);
    if (std::all_of(ids.begin(), ids.end(), [&](int32_t id) { return id >= 0 && id < vocab; })) {
      check_ids(t, ids);
      return;
    }
    for (int op = 0; op < 2; ++op) {
      try {
        if (op == 0) t.decode(ids, flag);
        else t.stable_prefix_length(ids);
        violation("an id outside the vocabulary was accepted");
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kInvalidArgument) violation("bad id: wrong error kind");
      }
    }
    return;
  }

  // Streaming (TextStream, as the Generator drives it): prompt ids, then one id
  // at a time; the deltas are valid UTF-8 and add up to the stream's text,
  // which never contains a stop string.
  std::vector<int32_t> all;
  for (int32_t id : ids_of(text))
    if (id >= 0 && id < vocab) all.push_back(id);
  const size_t prompt = all.empty() ? 0 : static_cast<size_t>(data[0]) % (all.size() + 1);
  std::vector<std::string> stop;
  if (mode == 3) {
    // Stop strings: short, valid UTF-8 (as GenerationOptions requires), built from decoded pieces.
    for (size_t i = 0; i < all.size() && stop.size() < 2; i += 3) {
      std::string s = t.decode(std::span<const int32_t>(&all[i], 1), true);
      if (!s.empty() && s.size() <= 256 && unicode::is_valid_utf8(s)) stop.push_back(s);
    }
  }
  TextStream stream(t);
  stream.begin(std::span<const int32_t>(all.data(), prompt), stop);
  std::string joined;
  bool stopped = false;
  for (size_t n = prompt + 1; n <= all.size() && !stopped; ++n) {
    std::string delta;
    stopped = stream.update(std::span<const int32_t>(all.data(), n), delta);
    if (!unicode::is_valid_utf8(delta)) violation("TextStream delta is not valid UTF-8");
    joined += delta;
  }
  if (!stopped) {
    std::string delta;
    stream.finish(all, delta);
    if (!unicode::is_valid_utf8(delta)) violation("TextStream final delta is not valid UTF-8");
    joined += delta;
  }
  if (joined != stream.text()) violation("TextStream deltas do not add up to text()");
  for (const std::string& s : stop)
    if (stream.text().find(s) != std::string::npos) violation("TextStream emitted a stop string");
  if (stop.empty()) {
    const std::string before = t.decode(std::span<const int32_t>(all.data(), prompt), true);
    const std::string after = t.decode(all, true);
    if (after.compare(0, before.size(), before) == 0 && after.substr(before.size()) != stream.text())
      violation("TextStream text differs from decode(all) - decode(prompt)");
  }
}

std::string story_tokenizer_path(const std::string& source_dir) {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("LM_FUZZ_TOKENIZER"); env && *env) {
    if (fs::is_regular_file(env)) return env;
    throw std::runtime_error(std::string("LM_FUZZ_TOKENIZER=") + env + " is not a file");
  }
  std::vector<fs::path> candidates = {fs::path(source_dir) / "models/story/tokenizer.json"};
  if (const char* shared = std::getenv("LM_SHARED_DIR"); shared && *shared)
    candidates.push_back(fs::path(shared) / "models/story/tokenizer.json");
  candidates.push_back(fs::path(source_dir) / "../shared/models/story/tokenizer.json");
  std::string tried;
  for (const fs::path& p : candidates) {
    if (fs::is_regular_file(p)) return p.string();
    tried += (tried.empty() ? "" : ", ") + p.string();
  }
  throw std::runtime_error("story tokenizer not found (tried " + tried + "; or set LM_FUZZ_TOKENIZER)");
}

// ----------------------------------------------------------------- model ---

namespace {

struct TensorSpec {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", or a wrong one
  std::vector<int64_t> shape;
  std::string bytes;
};

std::string write_safetensors(const std::vector<TensorSpec>& tensors, size_t pad) {
  ordered_json header = ordered_json::object();
  size_t offset = 0;
  for (const TensorSpec& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append(pad, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((uint64_t{text.size()} >> (8 * i)) & 0xff);
  out += text;
  for (const TensorSpec& t : tensors) out += t.bytes;
  return out;
}

std::string encode_values(const std::vector<float>& values, const std::string& dtype) {
  std::string out;
  for (float v : values) {
    if (dtype == "F32") {
      char b[4];
      std::memcpy(b, &v, 4);
      out.append(b, 4);
    } else {
      const uint16_t h = dtype == "F16" ? f32_to_f16(v) : f32_to_bf16(v);
      out += static_cast<char>(h & 0xff);
      out += static_cast<char>(h >> 8);
    }
  }
  return out;
}

// A tiny SentencePiece-style tokenizer like the story model's: optional <0xNN>
// byte fallback, a few merges, BOS through TemplateProcessing.
std::string tiny_tokenizer(Reader& r, int* vocab_out) {
  const std::string kSp = "\xe2\x96\x81";  // U+2581, SentencePiece's space
  json vocab = json::object();
  std::vector<std::string> pieces = {"<unk>", "<s>", "</s>"};
  const bool byte_fallback = r.flip();
  if (byte_fallback) {
    static const char kHex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) pieces.push_back(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
  }
  for (const char* p : {"\xe2\x96\x81", "a", "b", "c", "\xe2\x96\x81" "a", "ab", "\xe2\x96\x81" "ab", "\xc3\xa9"})
    pieces.push_back(p);
  for (size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i]] = i;
  *vocab_out = static_cast<int>(pieces.size());
  json added = json::array();
  for (int i = 0; i < 3; ++i)
    added.push_back({{"id", i}, {"content", pieces[static_cast<size_t>(i)]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", true}, {"special", true}});
  const json replace_space = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xe2\x96\x81"}};
  json t = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xe2\x96\x81"}}, replace_space}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\xe2\x96\x81"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", byte_fallback},
        {"vocab", vocab},
        {"merges", {kSp + " a", "a b", kSp + " ab", kSp + "a b"}}}}};
  return t.dump();
}

constexpr uint64_t kFuzzSessionLimit = uint64_t{64} << 20;  // far below -malloc_limit_mb

// A tiny model described by the input, sometimes broken on purpose.
ModelFiles tiny_model(Reader& r) {
  static const char* const kArchs[] = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};
  const int arch = r.pick(0, 2);
  const int heads = r.pick(1, 4);
  std::vector<int> divisors;
  for (int k = 1; k <= heads; ++k)
    if (heads % k == 0) divisors.push_back(k);
  const int kv_heads = divisors[static_cast<size_t>(r.pick(0, static_cast<int>(divisors.size()) - 1))];
  const int head_dim = 2 * r.pick(1, 4);
  const bool explicit_head_dim = r.flip();
  int hidden = explicit_head_dim ? r.pick(1, 16) : heads * head_dim;
  const int ffn = r.pick(1, 16);
  const int layers = r.pick(1, 2);
  int tok_vocab = 0;
  ModelFiles files;
  files.tokenizer_json = tiny_tokenizer(r, &tok_vocab);
  int vocab = tok_vocab + r.pick(0, 3);
  const bool tie = r.flip();
  const bool store_head_only = tie && r.flip();
  const int max_pos = r.pick(1, 64);
  const bool attention_bias = arch == 2 || (arch == 0 && r.flip());
  const bool o_bias = arch == 0 && attention_bias;
  const bool mlp_bias = arch == 0 && r.flip();

  json c = {{"architectures", {kArchs[arch]}},
            {"hidden_size", hidden},
            {"intermediate_size", ffn},
            {"num_hidden_layers", layers},
            {"num_attention_heads", heads},
            {"num_key_value_heads", kv_heads},
            {"vocab_size", vocab},
            {"max_position_embeddings", max_pos},
            {"tie_word_embeddings", tie},
            {"bos_token_id", 1},
            {"eos_token_id", r.flip() ? json(2) : json::array({2, r.pick(0, vocab + 2)})},
            {"hidden_act", "silu"}};
  if (explicit_head_dim) c["head_dim"] = head_dim;
  if (arch == 0) {
    c["attention_bias"] = attention_bias;
    c["mlp_bias"] = mlp_bias;
  }
  if (arch == 1) c["sliding_window"] = r.flip() ? json(nullptr) : json(r.pick(1, 8));
  switch (r.pick(0, 3)) {
    case 1: c["rope_scaling"] = {{"type", "linear"}, {"factor", 0.5 + r.pick(0, 8)}}; break;
    case 2:
      c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                           {"high_freq_factor", 1.0 + r.pick(1, 8)}, {"original_max_position_embeddings", r.pick(1, 64)}};
      break;
    default: break;
  }
  static const double kThetas[] = {10000.0, 1.0, 1e-30, 1e30, 500000.0};
  c["rope_theta"] = kThetas[r.pick(0, 4)];
  static const double kEps[] = {1e-6, 1e-30, 1.0, 1e30};
  c["rms_norm_eps"] = kEps[r.pick(0, 3)];

  // The weights: name, shape, and whether it is a norm (ones) or a matrix.
  const int q = heads * head_dim, kv = kv_heads * head_dim;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  if (!store_head_only) shapes.push_back({"model.embed_tokens.weight", {vocab, hidden}});
  if (!tie || store_head_only) shapes.push_back({"lm_head.weight", {vocab, hidden}});
  for (int l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    shapes.push_back({p + "input_layernorm.weight", {hidden}});
    shapes.push_back({p + "self_attn.q_proj.weight", {q, hidden}});
    shapes.push_back({p + "self_attn.k_proj.weight", {kv, hidden}});
    shapes.push_back({p + "self_attn.v_proj.weight", {kv, hidden}});
    shapes.push_back({p + "self_attn.o_proj.weight", {hidden, q}});
    if (attention_bias) {
      shapes.push_back({p + "self_attn.q_proj.bias", {q}});
      shapes.push_back({p + "self_attn.k_proj.bias", {kv}});
      shapes.push_back({p + "self_attn.v_proj.bias", {kv}});
    }
    if (o_bias) shapes.push_back({p + "self_attn.o_proj.bias", {hidden}});
    shapes.push_back({p + "post_attention_layernorm.weight", {hidden}});
    shapes.push_back({p + "mlp.gate_proj.weight", {ffn, hidden}});
    shapes.push_back({p + "mlp.up_proj.weight", {ffn, hidden}});
    shapes.push_back({p + "mlp.down_proj.weight", {hidden, ffn}});
    if (mlp_bias) {
      shapes.push_back({p + "mlp.gate_proj.bias", {ffn}});
      shapes.push_back({p + "mlp.up_proj.bias", {ffn}});
      shapes.push_back({p + "mlp.down_proj.bias", {hidden}});
    }
  }
  shapes.push_back({"model.norm.weight", {hidden}});
  if (r.flip()) shapes.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", {head_dim / 2}});

  // Values: small pseudo-random ones, or raw bits from the input (NaN, inf...).
  const bool raw_values = r.pick(0, 3) == 0;
  uint32_t state = r.u32() | 1;
  static const char* const kDtypes[] = {"F32", "F16", "BF16"};
  std::vector<TensorSpec> tensors;
  for (const auto& [name, shape] : shapes) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> values(static_cast<size_t>(n));
    const bool norm = name.find("norm") != std::string::npos;
    for (float& v : values) {
      if (raw_values) {
        v = r.raw_float();
      } else {
        state ^= state << 13, state ^= state >> 17, state ^= state << 5;
        v = norm ? 1.0f : (static_cast<float>(state % 2001) / 1000.0f - 1.0f);
      }
    }
    const std::string dtype = kDtypes[r.pick(0, 2)];
    tensors.push_back({name, dtype, shape, encode_values(values, dtype)});
  }

  // Break something, sometimes: each must be a clear error.
  const int mutation = r.pick(0, 15);
  const auto victim = static_cast<size_t>(r.pick(0, static_cast<int>(tensors.size()) - 1));
  switch (mutation) {
    case 0: tensors.erase(tensors.begin() + static_cast<std::ptrdiff_t>(victim)); break;
    case 1:
      tensors[victim].shape.back() += 1;
      tensors[victim].bytes.append(tensors[victim].dtype == "F32" ? 4 * 1 : 2, '\0');
      break;
    case 2: tensors.push_back({"model.layers.0.extra.weight", "F32", {1}, std::string(4, '\0')}); break;
    case 3: tensors[victim].dtype = r.flip() ? "F64" : "I8"; break;
    case 4: c["vocab_size"] = std::max(1, tok_vocab - r.pick(1, 3)); break;
    case 5:  // a config far larger than the weights: the shape check must refuse it before allocating
      c["hidden_size"] = 1 << 20;
      c["intermediate_size"] = 1 << 20;
      c["head_dim"] = 2;
      break;
    case 6:  // a huge context: the session must be refused, not allocated
      c["max_position_embeddings"] = 1 << 20;
      break;
    default: break;
  }
  files.config_json = c.dump();
  if (r.flip()) files.generation_config_json = json{{"do_sample", r.flip()}, {"temperature", 0.5}, {"top_k", 3}}.dump();
  switch (r.pick(0, 4)) {  // tokenizer_config.json: a chat template, or bytes
    case 1: files.tokenizer_config_json = R"({"chat_template": "{{'<|im_start|>' + m}}"})"; break;
    case 2:
      files.tokenizer_config_json =
          R"({"chat_template": [{"name": "default", "template": "<|start_header_id|>"}, {"name": 2}]})";
      break;
    case 3: files.tokenizer_config_json = r.bytes(48); break;
    default: break;
  }

  // One shard, or two (mutation 7: a tensor in both).
  const size_t pad = static_cast<size_t>(r.pick(0, 7));
  std::vector<TensorSpec> first, second;
  const bool two = r.flip() || mutation == 7;
  for (size_t i = 0; i < tensors.size(); ++i) (two && i % 2 ? second : first).push_back(tensors[i]);
  if (mutation == 7 && !first.empty()) second.push_back(first.front());
  for (const auto* shard : {&first, &second}) {
    if (shard->empty() && !(shard == &first)) continue;
    const std::string bytes = write_safetensors(*shard, pad);
    ModelShard s{"model-0000" + std::to_string(files.shards.size() + 1) + ".safetensors", Blob::allocate(bytes.size())};
    std::memcpy(s.bytes.data(), bytes.data(), bytes.size());
    files.shards.push_back(std::move(s));
  }
  return files;
}

// A few bounded generations on a loaded model.
void exercise(const std::shared_ptr<const Model>& model, Reader& r) {
  const ModelConfig& c = model->config();
  GeneratorConfig gc;
  gc.context_length = r.flip() ? 0 : (r.pick(0, 15) == 0 ? c.max_position_embeddings : r.pick(1, 48));
  gc.batch = r.pick(0, 3) == 0 ? (1 << 20) : r.pick(-1, 16);
  gc.max_memory_bytes = kFuzzSessionLimit;
  std::optional<Generator> gen;
  static const bool verbose = std::getenv("LM_FUZZ_VERBOSE") != nullptr;
  try {
    gen.emplace(model, gc);
  } catch (const Error& e) {
    if (verbose) std::fprintf(stderr, "model: session: %s\n", e.what());
    return;
  }
  const int tok_vocab = model->tokenizer().vocab_size();
  for (int run = 0; run < 2 && r.remaining() > 0; ++run) {
    GenerationOptions o = default_generation_options(*model);
    static const float kTemps[] = {0.0f, 0.8f, 1.0f, 1e-30f, 100.0f, -1.0f};
    o.sampling.temperature = kTemps[r.pick(0, 5)];
    o.sampling.top_k = r.pick(0, 6);
    static const float kTopP[] = {1.0f, 0.9f, 0.5f, 1e-7f, 0.0f};
    o.sampling.top_p = kTopP[r.pick(0, 4)];
    static const float kPenalty[] = {1.0f, 1.3f, 0.5f, 1e30f};
    o.sampling.repetition_penalty = kPenalty[r.pick(0, 3)];
    o.sampling.repetition_last_n = r.pick(0, 4);
    o.sampling.seed = r.u32();
    o.sampling.top_logprobs = r.pick(0, 21);
    o.sampling.logprobs = r.flip();
    o.max_tokens = r.pick(-1, 6);
    // Any bytes: empty or invalid UTF-8 ones must be refused by start().
    for (int i = r.pick(0, 2); i > 0; --i) o.stop.push_back(r.bytes(4));
    o.ignore_eos = r.flip();
    o.truncate_prompt = r.flip();
    o.add_special_tokens = r.flip();
    Generator& g = *gen;
    if (verbose) std::fprintf(stderr, "model: generation %d (context %d)\n", run, g.context_length());
    try {
      if (r.pick(0, 3) == 0) {
        // A chat prompt, when the model has a template (else an lm::Error).
        const ChatTemplate& chat = model->chat_template();
        o.add_special_tokens = !chat.includes_bos();
        g.start(chat.format({{"system", "Be brief."}, {"user", r.bytes(16)}}), o);
      } else if (r.flip()) {
        g.start(r.bytes(24), o);
      } else {
        std::vector<int32_t> ids;
        for (int i = r.pick(0, 40); i > 0; --i) ids.push_back(r.pick(-1, c.vocab_size));
        g.start_ids(ids, o);
      }
    } catch (const Error&) {
      continue;
    }
    const int prompt = static_cast<int>(g.prompt_ids().size());
    const int batch = gc.resolved_batch(c);
    const int max_steps = (prompt + batch - 1) / batch + o.max_tokens + 2;
    const int cancel_at = r.pick(0, 15) == 0 ? r.pick(0, max_steps) : -1;
    std::string joined;
    TokenEvent event;
    int steps = 0;
    for (Generator::Step s; (s = g.step(event)) != Generator::Step::kDone;) {
      if (++steps > max_steps) violation("generation did not end within its bound");
      if (s == Generator::Step::kToken) {
        if (event.id < 0 || event.id >= std::min(c.vocab_size, tok_vocab)) violation("sampled id outside the vocabulary");
        if (!unicode::is_valid_utf8(event.text)) violation("token text is not valid UTF-8");
        if (event.top.size() > 20) violation("too many top logprobs");
        joined += event.text;
      }
      if (steps == cancel_at) g.cancel();
    }
    if (static_cast<int>(g.generated_ids().size()) > o.max_tokens) violation("more tokens than max_tokens");
    if (joined != g.text()) violation("token texts do not add up to the generator's text");
  }
}

}  // namespace

void model(const uint8_t* data, size_t size) {
  if (size == 0) return;
  ModelFiles files;
  Reader options(nullptr, 0);
  if (data[0] & 1) {
    // Raw: config.json | tokenizer.json | shard | shard..., options from a hash.
    const auto parts = split_parts(data + 1, size - 1, 5);
    if (parts.size() < 3) return;
    files.config_json = parts[0];
    files.tokenizer_json = parts[1];
    for (size_t i = 2; i < parts.size(); ++i) {
      ModelShard s{"model.safetensors", Blob::allocate(parts[i].size())};
      if (!parts[i].empty()) std::memcpy(s.bytes.data(), parts[i].data(), parts[i].size());
      files.shards.push_back(std::move(s));
    }
    options = Reader(data, std::min<size_t>(size, 64));
  } else {
    Reader r(data + 1, size - 1);
    files = tiny_model(r);
    options = r;
  }
  LoadOptions lo;
  lo.weight_format = static_cast<WeightFormat>(data[0] >> 1 & 3);
  std::shared_ptr<const Model> m;
  // LM_FUZZ_VERBOSE=1: say what each input did (to check that seeds load).
  static const bool verbose = std::getenv("LM_FUZZ_VERBOSE") != nullptr;
  try {
    m = Model::load(std::move(files), lo);
  } catch (const Error& e) {
    if (verbose) std::fprintf(stderr, "model: load: %s\n", e.what());
    return;
  }
  if (verbose) std::fprintf(stderr, "model: loaded (%lld parameters)\n", static_cast<long long>(m->parameter_count()));
  exercise(m, options);
}

}  // namespace lm::fuzz
