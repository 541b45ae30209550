#!/usr/bin/python3
"""An independent float64 reference of the Hugging Face Llama, Mistral and
Qwen2 causal LMs, for checking lm-wasm's forward pass (tests/js/models.test.js).

It shares no code with lm-wasm: it reads config.json and the safetensors
files itself (F32 / F16 / BF16, one file or the shards of
model.safetensors.index.json) and follows transformers' modeling code:
RMSNorm, rotate-half RoPE (rope_scaling default / linear / llama3), grouped
query attention with a causal (and, for Mistral, sliding-window) mask, SwiGLU
MLP, biases as each architecture has them, tied or untied lm_head.

Needs only numpy (Debian: python3-numpy). Usage:
    /usr/bin/python3 llama_reference.py < jobs.json > results.json
jobs.json:    [{"model": DIR, "prompt_ids": [...], "steps": N}, ...]
results.json: [{"greedy": [N ids], "logits": [[vocab] x N], "margins": [N]}, ...]
logits[0] follows the prompt, logits[i] follows greedy[i - 1]; greedy[i] is
the argmax of logits[i]; margins[i] is its lead over the runner-up.
"""
import json
import math
import os
import struct
import sys

import numpy as np


# ------------------------------------------------------------ safetensors ---

def read_safetensors(path):
    """{name: float64 array} of every tensor in one .safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        raw = data[base + begin:base + end]
        shape = tuple(e["shape"])
        dtype = e["dtype"]
        if dtype == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dtype == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif dtype == "BF16":
            # bfloat16 is the upper half of a float32.
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view("<f4").astype(np.float64)
        else:
            raise ValueError(f"{path}: {name}: dtype {dtype} not handled by the reference")
        out[name] = a.reshape(shape)
    return out


def read_weights(model_dir):
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)
    with open(os.path.join(model_dir, "model.safetensors.index.json")) as f:
        index = json.load(f)
    weights = {}
    for shard in sorted(set(index["weight_map"].values())):
        weights.update(read_safetensors(os.path.join(model_dir, shard)))
    return weights


# ---------------------------------------------------------------- config ---

class Config:
    def __init__(self, c):
        self.arch = c.get("architectures", ["LlamaForCausalLM"])[0]
        if self.arch not in ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"):
            raise ValueError(f"architecture {self.arch} not handled by the reference")
        self.d = c["hidden_size"]
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or self.d // self.heads
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.theta = c.get("rope_theta", 10000.0)
        self.rope_scaling = c.get("rope_scaling")
        self.tied = c.get("tie_word_embeddings", False)
        # Biases, as transformers' attention / MLP modules create them.
        if self.arch == "LlamaForCausalLM":
            self.qkv_bias = self.o_bias = bool(c.get("attention_bias", False))
            self.mlp_bias = bool(c.get("mlp_bias", False))
        elif self.arch == "Qwen2ForCausalLM":
            self.qkv_bias, self.o_bias, self.mlp_bias = True, False, False
        else:
            self.qkv_bias = self.o_bias = self.mlp_bias = False
        # Sliding window: Mistral's sliding_window (4096 by default, null = none).
        self.window = None
        if self.arch == "MistralForCausalLM":
            self.window = c.get("sliding_window", 4096)
        if self.arch == "Qwen2ForCausalLM" and c.get("use_sliding_window", False):
            raise ValueError("use_sliding_window is not handled by the reference")


def inv_freq(cfg):
    """transformers' modeling_rope_utils: default, linear, llama3."""
    dim = cfg.head_dim
    inv = 1.0 / (cfg.theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    rs = cfg.rope_scaling
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "default":
        return inv
    if kind == "linear":
        return inv / rs["factor"]
    if kind == "llama3":
        factor = rs["factor"]
        low, high = rs["low_freq_factor"], rs["high_freq_factor"]
        old_len = rs["original_max_position_embeddings"]
        low_wavelen = old_len / low
        high_wavelen = old_len / high
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old_len / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        return np.where(medium, smoothed, scaled)
    raise ValueError(f"rope_scaling {kind} not handled by the reference")


# --------------------------------------------------------------- forward ---

def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


class Model:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = Config(json.load(f))
        self.w = read_weights(model_dir)
        self.inv_freq = inv_freq(self.cfg)
        w = self.w
        self.embed = w["model.embed_tokens.weight"] if "model.embed_tokens.weight" in w else w["lm_head.weight"]
        self.head = self.embed if self.cfg.tied or "lm_head.weight" not in w else w["lm_head.weight"]

    def linear(self, x, name, bias):
        y = x @ self.w[name + ".weight"].T
        if bias:
            y = y + self.w[name + ".bias"]
        return y

    def logits(self, ids):
        """Logits [T, vocab] of every position of `ids`."""
        c, w = self.cfg, self.w
        T, H, KV, hd = len(ids), c.heads, c.kv_heads, c.head_dim
        x = self.embed[np.array(ids)]
        angles = np.arange(T, dtype=np.float64)[:, None] * self.inv_freq[None, :]
        cos = np.cos(np.concatenate([angles, angles], axis=-1))[:, None, :]  # [T, 1, hd]
        sin = np.sin(np.concatenate([angles, angles], axis=-1))[:, None, :]
        i = np.arange(T)[:, None]
        j = np.arange(T)[None, :]
        allowed = j <= i
        if c.window:
            allowed &= j > i - c.window
        for l in range(c.layers):
            p = f"model.layers.{l}."
            h = rms_norm(x, w[p + "input_layernorm.weight"], c.eps)
            q = self.linear(h, p + "self_attn.q_proj", c.qkv_bias).reshape(T, H, hd)
            k = self.linear(h, p + "self_attn.k_proj", c.qkv_bias).reshape(T, KV, hd)
            v = self.linear(h, p + "self_attn.v_proj", c.qkv_bias).reshape(T, KV, hd)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            group = H // KV
            k = np.repeat(k, group, axis=1)  # head h uses kv head h // group
            v = np.repeat(v, group, axis=1)
            scores = np.einsum("thd,shd->hts", q, k) / math.sqrt(hd)
            scores = np.where(allowed[None], scores, -np.inf)
            scores = scores - scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            att = np.einsum("hts,shd->thd", probs, v).reshape(T, H * hd)
            x = x + self.linear(att, p + "self_attn.o_proj", c.o_bias)
            h = rms_norm(x, w[p + "post_attention_layernorm.weight"], c.eps)
            gate = self.linear(h, p + "mlp.gate_proj", c.mlp_bias)
            up = self.linear(h, p + "mlp.up_proj", c.mlp_bias)
            x = x + self.linear(gate / (1 + np.exp(-gate)) * up, p + "mlp.down_proj", c.mlp_bias)
        x = rms_norm(x, w["model.norm.weight"], c.eps)
        return x @ self.head.T


def run(job):
    m = Model(job["model"])
    ids = list(job["prompt_ids"])
    greedy, logits, margins = [], [], []
    for _ in range(job["steps"]):
        row = m.logits(ids)[-1]
        order = np.argsort(-row, kind="stable")
        greedy.append(int(order[0]))
        margins.append(float(row[order[0]] - row[order[1]]))
        logits.append([float(v) for v in row])
        ids.append(int(order[0]))
    return {"greedy": greedy, "logits": logits, "margins": margins}


if __name__ == "__main__":
    jobs = json.load(sys.stdin)
    json.dump([run(job) for job in jobs], sys.stdout)
