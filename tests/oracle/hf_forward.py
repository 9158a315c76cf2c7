#!/usr/bin/env python3
"""A float64 forward pass of a Hugging Face Llama / Mistral / Qwen2 / Qwen3 / Phi-3 / Qwen3-MoE /
Mixtral / Gemma 2 / Gemma 3 (text) checkpoint, written from the transformers modelling definitions
(modeling_llama.py, modeling_mistral.py, modeling_qwen2.py, modeling_qwen3.py, modeling_phi3.py,
modeling_qwen3_moe.py, modeling_mixtral.py, modeling_gemma2.py, modeling_gemma3.py and
modeling_rope_utils.py), with
numpy only. It shares no code with detinfer: it reads config.json
and model.safetensors itself and is the oracle of tests/model/hf_oracle_test.cc.

Usage: hf_forward.py [--routing=MODE] [--window=N] MODEL_DIR ID [ID ...]
  -> JSON {"logits": [[...] per position]} on stdout.
MODE deliberately breaks the mixture-of-experts routing, so that the test can check that the
comparison tells a wrong routing apart: "no-renorm" (never renormalise the top-k), "renorm"
(always), "top-k-minus-1" (one expert fewer per token). --window=N replaces the config's
sliding window (0: none), so that the test can check that the comparison tells a missing or
wrong window apart; --one-rope gives Gemma 3's local layers the global RoPE (wrong, likewise);
--unrounded-normalizer scales a bf16 / f16 Gemma's embedding by the fp32 sqrt(hidden_size)
instead of transformers' value rounded to the embedding's dtype (wrong, likewise).

Weights in BF16 / F16 are read exactly and computed in float64 like the rest; what transformers
itself rounds to the weights' dtype is modelled where the check needs it: Gemma's embedding
normalizer (torch.tensor(hidden_size ** 0.5, dtype=bf16), Gemma 3's embed_scale.to(bf16): the
Python float rounded to float32, then to the dtype, as torch converts a scalar).
"""
import json
import math
import struct
import sys

import numpy as np


def round_to_dtype(x, dtype):
    """A Python float as torch holds it in `dtype` ("F32", "BF16", "F16"): rounded to float32
    first, then to the narrower type to nearest, ties to even (c10's round_to_nearest_even for
    bf16; IEEE conversion for f16)."""
    f = np.float32(x)
    if dtype == "BF16":
        b = int(np.array(f, dtype=np.float32).view(np.uint32))
        b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
        return float(np.array(b, dtype=np.uint32).view(np.float32))
    if dtype == "F16":
        return float(np.float16(f))
    return float(f)


def to_bf16(a):
    """Each value rounded to bf16 as a bf16 matmul reads its activations (docs/kernels.md, "bf16
    weights": float32, then bf16 to nearest even; a subnormal becomes a signed zero), as
    float64."""
    f = np.asarray(a, dtype=np.float64).astype(np.float32)
    b = f.view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    r = b.astype(np.uint32).view(np.float32)
    r = np.where(np.abs(f) < np.float32(2.0 ** -126), np.copysign(np.float32(0), f), r)
    return r.astype(np.float64)


# Tensor name -> stored dtype ("F32", "BF16", "F16"), filled by main().
DTYPES = {}


def mm(x, w, name):
    """x . W^T for the weight `name`. With bf16 weights the activations are rounded to bf16
    first: transformers' bf16 model holds its hidden states in bf16 when they enter a Linear,
    and detinfer's bf16 matmul rounds them likewise (its one defined order for bf16 weights);
    the products and sums stay float64 here."""
    if DTYPES.get(name) == "BF16":
        x = to_bf16(x)
    return x @ w[name].T


def load_safetensors(path, dtypes=None):
    """Every tensor as float64 (exact for F32 / BF16 / F16); `dtypes` (a dict) gets each
    tensor's stored dtype name."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if dtypes is not None:
            dtypes[name] = t["dtype"]
        a, b = t["data_offsets"]
        raw = data[a:b]
        if t["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif t["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2")
        elif t["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit("unsupported dtype " + t["dtype"])
        out[name] = arr.astype(np.float64).reshape(t["shape"])
    return out


def inv_frequencies(cfg, head_dim, seq_len):
    """_compute_default_rope_parameters, _compute_linear_scaling_rope_parameters,
    _compute_llama3_parameters, _compute_longrope_parameters and _compute_yarn_parameters
    (modeling_rope_utils.py), in
    float64. head_dim is the rotary dim (partial rotary). Returns (inv_freq, attention_factor)."""
    params = cfg.get("rope_parameters") or {}
    theta = cfg.get("rope_theta", params.get("rope_theta", 10000.0))
    inv_freq = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    scaling = cfg.get("rope_scaling") or {k: v for k, v in params.items() if k != "rope_theta"}
    kind = scaling.get("rope_type", scaling.get("type", "default")) if scaling else "default"
    attention_factor = 1.0
    if kind in ("longrope", "su"):
        factor = scaling.get("factor")
        if "original_max_position_embeddings" in cfg:
            original = cfg["original_max_position_embeddings"]
            factor = cfg["max_position_embeddings"] / original
        else:
            original = cfg["max_position_embeddings"]
        attention_factor = scaling.get("attention_factor")
        if attention_factor is None:
            attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
        # transformers picks the factors by the current sequence length (detinfer by its
        # context: the test's sequences are long enough that the two rules agree).
        ext = scaling["long_factor"] if seq_len > original else scaling["short_factor"]
        inv_freq = inv_freq / np.array(ext, dtype=np.float64)
    elif kind == "linear":
        inv_freq = inv_freq / scaling["factor"]
    elif kind == "llama3":
        factor = scaling["factor"]
        low_freq_factor = scaling["low_freq_factor"]
        high_freq_factor = scaling["high_freq_factor"]
        old_context_len = scaling["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
        inv_freq = np.where(is_medium, smoothed, inv_freq_llama)
    elif kind == "yarn":
        # _compute_yarn_parameters: beta_fast / beta_slow read with `or`, the original context
        # from rope_scaling (which then makes factor the context ratio) or the config.
        factor = scaling["factor"]
        original = scaling.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
        if "original_max_position_embeddings" in scaling:
            factor = cfg["max_position_embeddings"] / original

        def get_mscale(scale, m=1.0):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

        attention_factor = scaling.get("attention_factor")
        if attention_factor is None:
            if scaling.get("mscale") and scaling.get("mscale_all_dim"):
                attention_factor = get_mscale(factor, scaling["mscale"]) / get_mscale(factor, scaling["mscale_all_dim"])
            else:
                attention_factor = get_mscale(factor)
        beta_fast = scaling.get("beta_fast") or 32
        beta_slow = scaling.get("beta_slow") or 1

        def correction_dim(rotations):
            return (head_dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(theta))

        low, high = correction_dim(beta_fast), correction_dim(beta_slow)
        if scaling.get("truncate", True):
            low, high = math.floor(low), math.ceil(high)
        low, high = max(low, 0), min(high, head_dim - 1)
        if low == high:
            high += 0.001
        ramp = np.clip((np.arange(head_dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
        extrapolation = 1 - ramp
        inv_freq = (inv_freq / factor) * (1 - extrapolation) + inv_freq * extrapolation
    elif kind != "default":
        raise SystemExit("rope type " + kind)
    return inv_freq, attention_factor


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, cos, sin):
    """modeling_phi3.apply_rotary_pos_emb: the first cos.shape[-1] entries rotate, the rest pass
    (the whole head for the other models)."""
    rot = cos.shape[-1]
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    return np.concatenate([x_rot * cos + rotate_half(x_rot) * sin, x_pass], axis=-1)


def sparse_moe(x, w, p, cfg, arch, routing):
    """Qwen3MoeSparseMoeBlock / MixtralSparseMoeBlock: router logits x . W_gate^T, softmax over
    every expert, the top k (torch.topk), renormalised (Mixtral always, Qwen3-MoE when
    norm_topk_prob), each chosen expert's SwiGLU MLP weighted and summed."""
    mixtral = arch == "mixtral"
    block = p + ("block_sparse_moe." if mixtral else "mlp.")
    n_exp = cfg["num_local_experts"] if mixtral else cfg["num_experts"]
    k = cfg["num_experts_per_tok"]
    renorm = True if mixtral else cfg.get("norm_topk_prob", False)
    if routing == "no-renorm":
        renorm = False
    elif routing == "renorm":
        renorm = True
    elif routing == "top-k-minus-1":
        k = k - 1
    logits = mm(x, w, block + "gate.weight")
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs = probs / probs.sum(axis=-1, keepdims=True)
    # topk by descending probability, the lower index first among equal ones (a stable sort)
    order = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        chosen = order[t]
        weights = probs[t, chosen]
        if renorm:
            weights = weights / weights.sum()
        for e, wt in zip(chosen, weights):
            q = block + "experts.%d." % e
            if mixtral:  # w1 gate, w3 up, w2 down
                gate = mm(x[t], w, q + "w1.weight")
                up = mm(x[t], w, q + "w3.weight")
                down = q + "w2.weight"
            else:
                gate = mm(x[t], w, q + "gate_proj.weight")
                up = mm(x[t], w, q + "up_proj.weight")
                down = q + "down_proj.weight"
            out[t] += wt * mm((gate / (1 + np.exp(-gate))) * up, w, down)
    return out


def main():
    args = sys.argv[1:]
    routing = None
    window_override = None
    one_rope = False
    unrounded_normalizer = False
    while args and args[0].startswith("--"):
        flag = args.pop(0)
        if flag.startswith("--routing="):
            routing = flag[len("--routing="):]
        elif flag.startswith("--window="):
            window_override = int(flag[len("--window="):])
        elif flag == "--one-rope":  # Gemma 3 with the global RoPE on every layer (wrong)
            one_rope = True
        elif flag == "--unrounded-normalizer":  # Gemma's fp32 normalizer for any dtype (wrong)
            unrounded_normalizer = True
        else:
            raise SystemExit("unknown flag " + flag)
    model_dir, ids = args[0], [int(t) for t in args[1:]]
    cfg = json.load(open(model_dir + "/config.json"))
    dtypes = DTYPES
    w = load_safetensors(model_dir + "/model.safetensors", dtypes)
    arch = cfg["model_type"]
    dim, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads", heads)
    head_dim = cfg.get("head_dim") or (128 if arch == "qwen3" else dim // heads)
    if arch == "qwen3_moe":
        if cfg.get("decoder_sparse_step", 1) != 1 or cfg.get("mlp_only_layers"):
            raise SystemExit("dense qwen3_moe layers are not modelled here")
    eps = cfg.get("rms_norm_eps", 1e-5 if arch in ("phi3", "mixtral") else 1e-6)
    gemma = arch in ("gemma2", "gemma3_text")
    gemma3 = arch == "gemma3_text"
    if gemma:
        head_dim = cfg.get("head_dim") or 256

    def norm(x, name):
        """Gemma2RMSNorm multiplies by (1 + w) (in float32: 1 + w rounded to fp32 first)."""
        wt = w[name]
        if gemma:
            wt = (np.float32(1.0) + wt.astype(np.float32)).astype(np.float64)
        return rms_norm(x, wt, eps)
    rotary_dim = int(head_dim * cfg.get("partial_rotary_factor", 1.0))
    T = len(ids)

    inv_freq, attention_factor = inv_frequencies(cfg, rotary_dim, T)
    angles = np.outer(np.arange(T, dtype=np.float64), inv_freq)
    emb = np.concatenate([angles, angles], axis=-1)
    cos = np.cos(emb)[:, None, :] * attention_factor
    sin = np.sin(emb)[:, None, :] * attention_factor
    mask = np.triu(np.full((T, T), -np.inf), k=1)
    # transformers' sliding-window causal mask (masking_utils.sliding_window_overlay): query i
    # sees key j iff j <= i and j > i - window.
    window = (cfg.get("sliding_window")
              if arch in ("mistral", "phi3", "mixtral", "gemma2", "gemma3_text") else None)
    if window_override is not None:
        window = window_override
    full_mask = mask
    if window:  # a key is seen by the queries less than `window` positions after it
        mask = mask + np.tril(np.full((T, T), -np.inf), k=-window)

    h = w["model.embed_tokens.weight"][ids]
    if gemma:
        # Gemma2Model: normalizer = torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype);
        # Gemma3TextScaledWordEmbedding: embed_scale (a float32 tensor) .to(weight.dtype). The
        # embedding's dtype: bf16 / f16 round the root, f32 keeps float32's.
        embed_dtype = dtypes["model.embed_tokens.weight"]
        normalizer = round_to_dtype(cfg["hidden_size"] ** 0.5,
                                    "F32" if unrounded_normalizer else embed_dtype)
        # transformers multiplies in the embedding's dtype: a bf16 (f16) value times a bf16
        # (f16) normalizer is exact in float32 and float64, so float64 here is the same product.
        h = h * normalizer
        scaling = cfg.get("query_pre_attn_scalar", 256) ** -0.5
        attn_cap = cfg.get("attn_logit_softcapping", None if gemma3 else 50.0)
        final_cap = cfg.get("final_logit_softcapping", None if gemma3 else 30.0)
    if gemma3:  # rotary_emb_local: a default RoPE with base rope_local_base_freq
        base = cfg.get("rope_local_base_freq", 10000.0)
        local_freq = 1.0 / (base ** (np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim))
        local_angles = np.outer(np.arange(T, dtype=np.float64), local_freq)
        local_emb = np.concatenate([local_angles, local_angles], axis=-1)
        local_cos, local_sin = np.cos(local_emb)[:, None, :], np.sin(local_emb)[:, None, :]
    for layer in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        x = norm(h, p + "input_layernorm.weight")

        def proj(name):
            y = mm(x, w, p + "self_attn." + name + ".weight")
            bias = w.get(p + "self_attn." + name + ".bias")
            return y if bias is None else y + bias

        if arch == "phi3":  # one qkv_proj: [q | k | v] rows
            qkv = proj("qkv_proj")
            q = qkv[:, :heads * head_dim].reshape(T, heads, head_dim)
            k = qkv[:, heads * head_dim:(heads + kv_heads) * head_dim].reshape(T, kv_heads, head_dim)
            v = qkv[:, (heads + kv_heads) * head_dim:].reshape(T, kv_heads, head_dim)
        else:
            q = proj("q_proj").reshape(T, heads, head_dim)
            k = proj("k_proj").reshape(T, kv_heads, head_dim)
            v = proj("v_proj").reshape(T, kv_heads, head_dim)
        if arch in ("qwen3", "qwen3_moe", "gemma3_text"):
            q = norm(q, p + "self_attn.q_norm.weight")
            k = norm(k, p + "self_attn.k_norm.weight")
        # Gemma 2: even layers slide; Gemma 3: all but every sixth, with their own RoPE base.
        sliding = layer % 2 == 0 if arch == "gemma2" else (layer + 1) % 6 != 0
        if gemma3 and sliding and not one_rope:
            q = apply_rope(q, local_cos, local_sin)
            k = apply_rope(k, local_cos, local_sin)
        else:
            q = apply_rope(q, cos, sin)
            k = apply_rope(k, cos, sin)
        group = heads // kv_heads
        k = np.repeat(k, group, axis=1)
        v = np.repeat(v, group, axis=1)
        if gemma:  # Gemma2Attention: q.k * scaling, soft cap, even layers slide
            scores = np.einsum("thd,shd->hts", q, k) * scaling
            if attn_cap:
                scores = np.tanh(scores / attn_cap) * attn_cap
            scores = scores + (mask if sliding else full_mask)
        else:
            scores = np.einsum("thd,shd->hts", q, k) / math.sqrt(head_dim)
            scores = scores + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores = scores / scores.sum(axis=-1, keepdims=True)
        attn = np.einsum("hts,shd->thd", scores, v).reshape(T, heads * head_dim)
        o = mm(attn, w, p + "self_attn.o_proj.weight")
        if gemma:  # Gemma2DecoderLayer: post norms around both blocks
            h = h + norm(o, p + "post_attention_layernorm.weight")
            x = norm(h, p + "pre_feedforward_layernorm.weight")
            gate = mm(x, w, p + "mlp.gate_proj.weight")
            up = mm(x, w, p + "mlp.up_proj.weight")
            # gelu_pytorch_tanh
            act = 0.5 * gate * (1 + np.tanh(math.sqrt(2 / math.pi) * (gate + 0.044715 * gate ** 3)))
            y = mm(act * up, w, p + "mlp.down_proj.weight")
            h = h + norm(y, p + "post_feedforward_layernorm.weight")
            continue
        h = h + o
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        if arch in ("qwen3_moe", "mixtral"):
            h = h + sparse_moe(x, w, p, cfg, arch, routing)
            continue
        if arch == "phi3":  # one gate_up_proj: gate, up = chunk(2)
            gate, up = np.split(mm(x, w, p + "mlp.gate_up_proj.weight"), 2, axis=-1)
        else:
            gate = mm(x, w, p + "mlp.gate_proj.weight")
            up = mm(x, w, p + "mlp.up_proj.weight")
        h = h + mm((gate / (1 + np.exp(-gate))) * up, w, p + "mlp.down_proj.weight")
    h = norm(h, "model.norm.weight")
    head = "lm_head.weight"
    if head not in w or cfg.get("tie_word_embeddings", gemma):
        head = "model.embed_tokens.weight"
    logits = mm(h, w, head)
    if gemma and final_cap:
        logits = np.tanh(logits / final_cap) * final_cap
    json.dump({"logits": logits.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
