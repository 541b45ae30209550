#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <set>
#include <string>

#include "error.h"
#include "ops.h"
#include "thread_pool.h"

namespace lm {

// ------------------------------------------------------------- RunState ---

RunState::RunState(const ModelConfig& c, int batch_, int context_length)
    : batch(batch_),
      x(Shape{batch_, c.hidden_size}),
      xb(Shape{batch_, c.hidden_size}),
      xb2(Shape{batch_, c.hidden_size}),
      q(Shape{batch_, c.q_dim()}),
      k(Shape{batch_, c.kv_dim()}),
      v(Shape{batch_, c.kv_dim()}),
      att(Shape{batch_, c.q_dim()}),
      hb(Shape{batch_, c.intermediate_size}),
      hb2(Shape{batch_, c.intermediate_size}),
      scores(Shape{c.num_attention_heads, context_length}),
      rope_cos(Shape{batch_, c.head_dim / 2}),
      rope_sin(Shape{batch_, c.head_dim / 2}),
      logits(Shape{c.vocab_size}) {
  if (batch_ < 1) throw Error(ErrorKind::kInvalidArgument, "batch must be at least 1");
}

size_t RunState::bytes() const {
  return x.bytes() + xb.bytes() + xb2.bytes() + q.bytes() + k.bytes() + v.bytes() + att.bytes() + hb.bytes() +
         hb2.bytes() + scores.bytes() + rope_cos.bytes() + rope_sin.bytes() + logits.bytes();
}

// ------------------------------------------------------ memory estimate ---

MemoryEstimate estimate_memory(const ModelConfig& c, uint64_t checkpoint_bytes, const LoadOptions& options,
                               int context_length, int batch) {
  // Sizes are bounded by ModelConfig's validation, so these products fit in 64 bits.
  const uint64_t d = static_cast<uint64_t>(c.hidden_size), f = static_cast<uint64_t>(c.intermediate_size);
  const uint64_t q = static_cast<uint64_t>(c.q_dim()), kv = static_cast<uint64_t>(c.kv_dim());
  const uint64_t V = static_cast<uint64_t>(c.vocab_size), L = static_cast<uint64_t>(c.num_hidden_layers);
  const uint64_t params = L * (d * q + 2 * d * kv + q * d + 3 * d * f) + V * d * (c.tie_word_embeddings ? 1 : 2);
  MemoryEstimate e;
  if (options.weight_format == WeightFormat::kAsStored) {
    e.weights = e.load_peak = checkpoint_bytes;
  } else {
    // Converted matrices, and Q8's scales (kept apart from them).
    const uint64_t matrices = params * (options.weight_format == WeightFormat::kF32    ? 4
                                        : options.weight_format == WeightFormat::kBF16 ? 2
                                                                                      : 1);
    const uint64_t scales = options.weight_format == WeightFormat::kQ8 ? params / kQ8Group * 4 : 0;
    e.weights = matrices + scales;
    // A conversion to no more bytes per weight than stored writes over the
    // checkpoint (Model::bind_weights): the peak is the checkpoint (+ Q8
    // scales). A wider one needs the checkpoint and the converted copy at once.
    e.load_peak = matrices <= checkpoint_bytes ? checkpoint_bytes + scales : checkpoint_bytes + e.weights;
  }
  const uint64_t ctx = static_cast<uint64_t>(context_length), B = static_cast<uint64_t>(batch);
  e.kv_cache = 2 * sizeof(float) * L * kv * ctx;
  // RunState (see model.h) plus the sampler's four per-vocabulary arrays.
  e.scratch = sizeof(float) * (B * (3 * d + 2 * q + 2 * kv + 2 * f + static_cast<uint64_t>(c.head_dim)) +
                               static_cast<uint64_t>(c.num_attention_heads) * ctx + V) +
              16 * V;
  return e;
}

// --------------------------------------------------------------- loading ---

namespace {

// HF's RoPE frequencies, including the rope_scaling variants
// (transformers' modeling_rope_utils: default, linear, llama3).
std::vector<double> rope_inv_freq(const ModelConfig& c) {
  const int half = c.head_dim / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  for (int i = 0; i < half; ++i)
    inv[static_cast<size_t>(i)] = 1.0 / std::pow(double{c.rope_theta}, 2.0 * i / c.head_dim);
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type == RopeScaling::Type::kLinear) {
    for (double& f : inv) f /= rs.factor;
  } else if (rs.type == RopeScaling::Type::kLlama3) {
    const double old_len = rs.original_max_position_embeddings;
    const double low_wavelen = old_len / rs.low_freq_factor;
    const double high_wavelen = old_len / rs.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f /= rs.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
        f = (1.0 - smooth) * f / rs.factor + smooth * f;
      }
    }
  }
  return inv;
}

bool is_aligned(const void* p, size_t alignment) { return reinterpret_cast<uintptr_t>(p) % alignment == 0; }

// True when every f32 value of `w` is a bf16 value (its low 16 bits are
// zero), as in a bf16 checkpoint saved as f32.
bool all_bf16_exact(const WeightRef& w) {
  const auto* bytes = static_cast<const std::byte*>(w.data);
  const int64_t n = w.rows() * w.cols();
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, bytes + 4 * i, 4);
    if (u & 0xffffu) return false;
  }
  return true;
}

}  // namespace

Model::Model(ModelConfig config, Tokenizer tokenizer) : config_(std::move(config)), tokenizer_(std::move(tokenizer)) {}

std::shared_ptr<const Model> Model::load(ModelFiles files, const LoadOptions& options) {
  ModelConfig config = ModelConfig::from_json(files.config_json);
  if (files.generation_config_json) config.apply_generation_config(*files.generation_config_json);
  Tokenizer tokenizer = files.tokenizer_json.empty() && files.tokenizer_model
                            ? Tokenizer::from_sentencepiece(files.tokenizer_model->data(), files.tokenizer_model->size())
                            : Tokenizer::from_json(files.tokenizer_json);
  if (tokenizer.vocab_size() > config.vocab_size)
    throw Error(ErrorKind::kFormat, "tokenizer.json has " + std::to_string(tokenizer.vocab_size()) +
                                        " tokens but config.json's vocab_size is " +
                                        std::to_string(config.vocab_size));
  if (files.shards.empty()) throw Error(ErrorKind::kFormat, "no safetensors file given");

  std::shared_ptr<Model> model(new Model(std::move(config), std::move(tokenizer)));
  model->shards_ = std::move(files.shards);
  Checkpoint checkpoint;  // views into shards_, valid until compact_shards() moves the bytes
  for (const ModelShard& shard : model->shards_)
    checkpoint.add(SafetensorsFile::parse(shard.bytes.data(), shard.bytes.size(), shard.label));
  model->inv_freq_ = rope_inv_freq(model->config_);
  model->bind_weights(checkpoint, options);
  model->compact_shards();
  model->chat_template_problem_ = "this model has no chat template (tokenizer_config.json has no \"chat_template\")";
  if (files.tokenizer_config_json) {
    try {
      model->chat_template_ = ChatTemplate::from_tokenizer_config(*files.tokenizer_config_json);
    } catch (const Error& e) {
      model->chat_template_problem_ = e.what();
    }
  }
  return model;
}

const ChatTemplate& Model::chat_template() const {
  if (!chat_template_) throw Error(ErrorKind::kUnsupported, "chat: " + chat_template_problem_);
  return *chat_template_;
}

// Finds each tensor the architecture needs, checks dtype and shape, and makes
// the view the kernels use: in place when the dtype is wanted and the data is
// aligned, otherwise converted into storage the Model owns.
void Model::bind_weights(const Checkpoint& checkpoint, const LoadOptions& options) {
  const ModelConfig& c = config_;
  std::set<std::string> used;

  auto lookup = [&](const std::string& name, const Shape& expected) -> WeightRef {
    auto [info, file] = checkpoint.find(name);
    if (!info) throw Error(ErrorKind::kFormat, "model.safetensors: missing tensor '" + name + "'");
    if (info->shape != expected)
      throw Error(ErrorKind::kFormat, file->label() + ": tensor '" + name + "' has shape " + info->shape.str() +
                                          ", expected " + expected.str() + " from config.json");
    used.insert(name);
    parameter_count_ += expected.numel();
    return file->weight(*info);
  };

  // Small vectors (norms, biases) always become owned f32.
  auto vector_f32 = [&](const std::string& name, int64_t n) -> const float* {
    const WeightRef w = lookup(name, Shape{n});
    Tensor<float>& t = owned_f32_.emplace_back(Shape{n});
    w.row_to_f32(0, t.data());
    return t.data();
  };

  auto matrix = [&](const WeightRef& w) -> WeightRef {
    DType want = w.dtype;
    if (options.weight_format == WeightFormat::kF32) want = DType::kF32;
    if (options.weight_format == WeightFormat::kBF16) want = DType::kBF16;
    if (options.weight_format == WeightFormat::kQ8 && w.cols() % kQ8Group == 0) want = DType::kQ8;
    // An f32 matrix holding only bf16 values loses nothing as bf16, and
    // decode reads half the bytes.
    if (options.weight_format == WeightFormat::kAsStored && w.dtype == DType::kF32 && all_bf16_exact(w))
      want = DType::kBF16;
    if (want == w.dtype && is_aligned(w.data, dtype_size(w.dtype))) return w;
    // Converting to a dtype no wider than the stored one writes each row over
    // the bytes it came from: row r is read whole before its result is
    // written, and that result ends before row r + 1 begins. The checkpoint
    // never needs a second copy; compact_shards() packs what is left. Wider
    // dtypes, and sources misaligned for the result, go to owned storage.
    const int64_t rows = w.rows(), cols = w.cols();
    const bool in_place = want != w.dtype && dtype_size(want) <= dtype_size(w.dtype) && is_aligned(w.data, dtype_size(want));
    void* dst = nullptr;
    if (in_place) {
      dst = mutable_checkpoint_bytes(w.data);
    } else if (want == DType::kQ8) {
      dst = owned_8_.emplace_back(w.shape).data();
    } else if (want == DType::kF32) {
      dst = owned_f32_.emplace_back(w.shape).data();
    } else {
      dst = owned_16_.emplace_back(w.shape).data();
    }
    float* scales = want == DType::kQ8 ? owned_f32_.emplace_back(Shape{rows, cols / kQ8Group}).data() : nullptr;
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      w.row_to_f32(r, row.data());
      switch (want) {
        case DType::kQ8:
          quantize_q8(row.data(), cols, static_cast<int8_t*>(dst) + r * cols, scales + r * (cols / kQ8Group));
          break;
        case DType::kF32:
          std::memcpy(static_cast<float*>(dst) + r * cols, row.data(), static_cast<size_t>(cols) * sizeof(float));
          break;
        case DType::kBF16:
        case DType::kF16: {
          uint16_t* half = static_cast<uint16_t*>(dst) + r * cols;
          for (int64_t i = 0; i < cols; ++i)
            half[i] = want == DType::kBF16 ? f32_to_bf16(row[static_cast<size_t>(i)]) : f32_to_f16(row[static_cast<size_t>(i)]);
          break;
        }
      }
    }
    WeightRef out = w;
    out.dtype = want;
    out.data = dst;
    out.scales = scales;
    return out;
  };

  const int64_t d = c.hidden_size, q = c.q_dim(), kv = c.kv_dim(), f = c.intermediate_size, V = c.vocab_size;

  // Embeddings, tied or not. A tied checkpoint may store either name.
  const bool has_embed = checkpoint.contains("model.embed_tokens.weight");
  const bool has_head = checkpoint.contains("lm_head.weight");
  if (!has_embed && !has_head)
    throw Error(ErrorKind::kFormat, "model.safetensors: neither 'model.embed_tokens.weight' nor 'lm_head.weight' is stored");
  if (has_embed) weights_.embed = matrix(lookup("model.embed_tokens.weight", Shape{V, d}));
  if (has_head) weights_.lm_head = matrix(lookup("lm_head.weight", Shape{V, d}));
  if (!has_head) {
    if (!c.tie_word_embeddings)
      throw Error(ErrorKind::kFormat, "model.safetensors: missing tensor 'lm_head.weight' (tie_word_embeddings is false)");
    weights_.lm_head = weights_.embed;
  }
  if (!has_embed) weights_.embed = weights_.lm_head;  // tied: only lm_head.weight is stored

  weights_.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights& L = weights_.layers[static_cast<size_t>(l)];
    L.attn_norm = vector_f32(p + "input_layernorm.weight", d);
    L.wq = matrix(lookup(p + "self_attn.q_proj.weight", Shape{q, d}));
    L.wk = matrix(lookup(p + "self_attn.k_proj.weight", Shape{kv, d}));
    L.wv = matrix(lookup(p + "self_attn.v_proj.weight", Shape{kv, d}));
    L.wo = matrix(lookup(p + "self_attn.o_proj.weight", Shape{d, q}));
    if (c.attention_bias) {
      L.bq = vector_f32(p + "self_attn.q_proj.bias", q);
      L.bk = vector_f32(p + "self_attn.k_proj.bias", kv);
      L.bv = vector_f32(p + "self_attn.v_proj.bias", kv);
    }
    if (c.o_proj_bias) L.bo = vector_f32(p + "self_attn.o_proj.bias", d);
    L.ffn_norm = vector_f32(p + "post_attention_layernorm.weight", d);
    L.w_gate = matrix(lookup(p + "mlp.gate_proj.weight", Shape{f, d}));
    L.w_up = matrix(lookup(p + "mlp.up_proj.weight", Shape{f, d}));
    L.w_down = matrix(lookup(p + "mlp.down_proj.weight", Shape{d, f}));
    if (c.mlp_bias) {
      L.b_gate = vector_f32(p + "mlp.gate_proj.bias", f);
      L.b_up = vector_f32(p + "mlp.up_proj.bias", f);
      L.b_down = vector_f32(p + "mlp.down_proj.bias", d);
    }
  }
  weights_.final_norm = vector_f32("model.norm.weight", d);

  // A tensor we did not bind means the checkpoint is not the architecture the
  // config claims (old checkpoints' rotary_emb.inv_freq buffers are harmless).
  for (const SafetensorsFile& file : checkpoint.files())
    for (const TensorInfo& t : file.tensors())
      if (!used.count(t.name) && !t.name.ends_with("rotary_emb.inv_freq"))
        throw Error(ErrorKind::kUnsupported,
                    file.label() + ": unexpected tensor '" + t.name + "' for " + c.architecture);
}

std::vector<WeightRef*> Model::matrix_views() {
  std::vector<WeightRef*> views{&weights_.embed, &weights_.lm_head};
  for (LayerWeights& L : weights_.layers)
    for (WeightRef* w : L.matrices()) views.push_back(w);
  return views;
}

// Packs the matrices each shard still holds to its front, in address order,
// and gives the rest back to the allocator: the header, the norms (copied out
// as f32) and what conversions in place freed are dead bytes between them.
// A shard no view points into (every matrix converted to owned storage) is
// freed whole. A shard that is nearly all live stays as it is (no copy).
void Model::compact_shards() {
  const std::vector<WeightRef*> views = matrix_views();
  for (ModelShard& s : shards_) {
    const std::byte* base = s.bytes.data();
    struct Live {
      const std::byte* from;  // where the tensor is now
      size_t bytes;           // its payload (Q8 scales live elsewhere)
      size_t align;           // its dtype's
      size_t to = 0;          // its offset once packed
    };
    std::vector<Live> live;
    for (const WeightRef* w : views) {
      const auto* p = static_cast<const std::byte*>(w->data);
      if (p >= base && p < base + s.bytes.size())
        live.push_back({p, static_cast<size_t>(w->shape.numel()) * dtype_size(w->dtype), dtype_size(w->dtype)});
    }
    if (live.empty()) {
      s.bytes.release();
      continue;
    }
    std::sort(live.begin(), live.end(), [](const Live& a, const Live& b) { return a.from < b.from; });
    live.erase(std::unique(live.begin(), live.end(), [](const Live& a, const Live& b) { return a.from == b.from; }),
               live.end());  // tied embeddings: one tensor, two views
    size_t packed = 0;
    for (Live& t : live) {
      t.to = (packed + t.align - 1) / t.align * t.align;
      packed = t.to + t.bytes;
    }
    if (packed > s.bytes.size() / 10 * 9) continue;
    // Each tensor moves down (its offset was aligned and past the previous
    // ones), so moving them in address order never overwrites one not yet moved.
    for (const Live& t : live) std::memmove(s.bytes.data() + t.to, t.from, t.bytes);
    s.bytes.shrink(packed);  // may move the block
    for (WeightRef* w : views)
      for (const Live& t : live)
        if (w->data == t.from) {
          w->data = s.bytes.data() + t.to;
          break;
        }
  }
}

// The writable address of checkpoint bytes a view points into (the Model
// owns the shards; the parsed views are const).
std::byte* Model::mutable_checkpoint_bytes(const void* p) {
  const auto* b = static_cast<const std::byte*>(p);
  for (ModelShard& s : shards_)
    if (b >= s.bytes.data() && b < s.bytes.data() + s.bytes.size()) return s.bytes.data() + (b - s.bytes.data());
  throw Error(ErrorKind::kState, "internal: weight view outside the checkpoint");
}

size_t Model::weight_bytes_per_token() const {
  size_t n = weights_.lm_head.bytes();
  for (const LayerWeights& L : weights_.layers)
    for (const WeightRef* w : L.matrices()) n += w->bytes();
  return n;
}

size_t Model::weight_bytes() const {
  size_t n = 0;
  for (const ModelShard& s : shards_) n += s.bytes.size();
  for (const auto& t : owned_f32_) n += t.bytes();
  for (const auto& t : owned_16_) n += t.bytes();
  for (const auto& t : owned_8_) n += t.bytes();
  return n;
}

// --------------------------------------------------------------- forward ---

// Below ~0.1 M multiply-adds, attention runs on the calling thread: waking
// the others would cost more than it saves.
constexpr int64_t kMinParallelAttentionWork = int64_t{1} << 17;

void Model::forward(std::span<const int32_t> tokens, int pos, KvCache& cache, RunState& s, ThreadPool* pool) const {
  const ModelConfig& c = config_;
  const int n = static_cast<int>(tokens.size());
  const int d = c.hidden_size, hd = c.head_dim, half = hd / 2, q_dim = c.q_dim(), kv_dim = c.kv_dim();
  const int f = c.intermediate_size, n_heads = c.num_attention_heads, n_kv = c.num_key_value_heads;
  const int group = n_heads / n_kv;  // query heads per kv head
  if (n < 1 || n > s.batch) throw Error(ErrorKind::kInvalidArgument, "forward: token count outside [1, batch]");
  if (pos < 0 || pos + n > cache.context_length())
    throw Error(ErrorKind::kInvalidArgument, "forward: positions " + std::to_string(pos) + ".." +
                                                 std::to_string(pos + n - 1) + " exceed the context of " +
                                                 std::to_string(cache.context_length()));
  for (int32_t id : tokens)
    if (id < 0 || id >= c.vocab_size)
      throw Error(ErrorKind::kInvalidArgument, "token id " + std::to_string(id) + " outside the vocabulary");

  float* x = s.x.data();
  float* xb = s.xb.data();
  float* xb2 = s.xb2.data();
  float* q = s.q.data();
  float* k = s.k.data();
  float* v = s.v.data();
  float* att = s.att.data();
  float* hb = s.hb.data();
  float* hb2 = s.hb2.data();
  const float attn_scale = 1.0f / std::sqrt(static_cast<float>(hd));

  // Token embeddings, and this chunk's rotary angles (shared by every layer and head).
  for (int t = 0; t < n; ++t) {
    weights_.embed.row_to_f32(tokens[static_cast<size_t>(t)], x + t * d);
    for (int i = 0; i < half; ++i) {
      const double angle = static_cast<double>(pos + t) * inv_freq_[static_cast<size_t>(i)];
      s.rope_cos.data()[t * half + i] = static_cast<float>(std::cos(angle));
      s.rope_sin.data()[t * half + i] = static_cast<float>(std::sin(angle));
    }
  }

  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& L = weights_.layers[static_cast<size_t>(l)];

    // Attention block: x += o_proj(attention(rope(q), rope(k), v)) of rmsnorm(x).
    for (int t = 0; t < n; ++t) rmsnorm(xb + t * d, x + t * d, L.attn_norm, d, c.rms_norm_eps);
    matmul_bt(q, q_dim, xb, d, L.wq, n, 1.0f, 0.0f, pool);
    matmul_bt(k, kv_dim, xb, d, L.wk, n, 1.0f, 0.0f, pool);
    matmul_bt(v, kv_dim, xb, d, L.wv, n, 1.0f, 0.0f, pool);
    for (int t = 0; t < n; ++t) {
      if (L.bq) add(q + t * q_dim, L.bq, q_dim);
      if (L.bk) add(k + t * kv_dim, L.bk, kv_dim);
      if (L.bv) add(v + t * kv_dim, L.bv, kv_dim);
      const float* cos = s.rope_cos.data() + t * half;
      const float* sin = s.rope_sin.data() + t * half;
      rope(q + t * q_dim, n_heads, hd, cos, sin);
      rope(k + t * kv_dim, n_kv, hd, cos, sin);
      for (int g = 0; g < n_kv; ++g) cache.store(l, g, pos + t, k + t * kv_dim + g * hd, v + t * kv_dim + g * hd);
    }
    // Causal grouped-query attention: token t (position p = pos+t) sees
    // positions first..p, first = 0 or, with a sliding window W,
    // max(0, p + 1 - W); query head h reads kv head h / group.
    // Heads are independent (each has its own row of s.scores), so threads
    // split them once the work is worth waking them for (long contexts).
    const int stride = cache.context_length();
    auto attend = [&](int64_t h0, int64_t h1) {
      for (int h = static_cast<int>(h0); h < h1; ++h)
        for (int t = 0; t < n; ++t) {
          const int p = pos + t;
          const int first = c.sliding_window > 0 ? std::max(0, p + 1 - c.sliding_window) : 0;
          attention(att + t * q_dim + h * hd, q + t * q_dim + h * hd, cache.keys_t(l, h / group) + first,
                    cache.values(l, h / group) + static_cast<size_t>(first) * static_cast<size_t>(hd), hd, stride,
                    p + 1 - first, attn_scale, s.scores.data() + static_cast<size_t>(h) * static_cast<size_t>(stride));
        }
    };
    const int64_t attention_work = int64_t{n_heads} * hd * n * (pos + n);  // multiply-adds, at most
    if (pool && pool->size() > 1 && attention_work >= kMinParallelAttentionWork)
      pool->parallel_for(n_heads, 1, attend);
    else
      attend(0, n_heads);
    matmul_bt(xb2, d, att, q_dim, L.wo, n, 1.0f, 0.0f, pool);
    if (L.bo)
      for (int t = 0; t < n; ++t) add(xb2 + t * d, L.bo, d);
    add(x, xb2, n * d);

    // MLP block: x += down(silu(gate(h)) * up(h)), h = rmsnorm(x).
    for (int t = 0; t < n; ++t) rmsnorm(xb + t * d, x + t * d, L.ffn_norm, d, c.rms_norm_eps);
    matmul_bt(hb, f, xb, d, L.w_gate, n, 1.0f, 0.0f, pool);
    matmul_bt(hb2, f, xb, d, L.w_up, n, 1.0f, 0.0f, pool);
    if (L.b_gate)
      for (int t = 0; t < n; ++t) {
        add(hb + t * f, L.b_gate, f);
        add(hb2 + t * f, L.b_up, f);
      }
    swiglu(hb, hb2, n * f);
    matmul_bt(xb2, d, hb, f, L.w_down, n, 1.0f, 0.0f, pool);
    if (L.b_down)
      for (int t = 0; t < n; ++t) add(xb2 + t * d, L.b_down, d);
    add(x, xb2, n * d);
  }

  // Logits of the last token only: that is all generation needs.
  const float* last = x + (n - 1) * d;
  rmsnorm(xb, last, weights_.final_norm, d, c.rms_norm_eps);
  matvec(s.logits.data(), weights_.lm_head, xb, pool);
}

}  // namespace lm
