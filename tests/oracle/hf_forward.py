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
wrong window apart; --one-rope gives Gemma 3's local layers the global RoPE (wrong, likewise).
"""
import json
import math
import struct
import sys

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
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
    logits = x @ w[block + "gate.weight"].T
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
                gate = x[t] @ w[q + "w1.weight"].T
                up = x[t] @ w[q + "w3.weight"].T
                down = w[q + "w2.weight"]
            else:
                gate = x[t] @ w[q + "gate_proj.weight"].T
                up = x[t] @ w[q + "up_proj.weight"].T
                down = w[q + "down_proj.weight"]
            out[t] += wt * (((gate / (1 + np.exp(-gate))) * up) @ down.T)
    return out


def main():
    args = sys.argv[1:]
    routing = None
    window_override = None
    one_rope = False
    while args and args[0].startswith("--"):
        flag = args.pop(0)
        if flag.startswith("--routing="):
            routing = flag[len("--routing="):]
        elif flag.startswith("--window="):
            window_override = int(flag[len("--window="):])
        elif flag == "--one-rope":  # Gemma 3 with the global RoPE on every layer (wrong)
            one_rope = True
        else:
            raise SystemExit("unknown flag " + flag)
    model_dir, ids = args[0], [int(t) for t in args[1:]]
    cfg = json.load(open(model_dir + "/config.json"))
    w = load_safetensors(model_dir + "/model.safetensors")
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
    if gemma:  # normalizer = tensor(hidden_size ** 0.5, dtype=embedding dtype): float32 here
        h = h * float(np.float32(cfg["hidden_size"] ** 0.5))
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
            y = x @ w[p + "self_attn." + name + ".weight"].T
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
        o = attn @ w[p + "self_attn.o_proj.weight"].T
        if gemma:  # Gemma2DecoderLayer: post norms around both blocks
            h = h + norm(o, p + "post_attention_layernorm.weight")
            x = norm(h, p + "pre_feedforward_layernorm.weight")
            gate = x @ w[p + "mlp.gate_proj.weight"].T
            up = x @ w[p + "mlp.up_proj.weight"].T
            # gelu_pytorch_tanh
            act = 0.5 * gate * (1 + np.tanh(math.sqrt(2 / math.pi) * (gate + 0.044715 * gate ** 3)))
            y = (act * up) @ w[p + "mlp.down_proj.weight"].T
            h = h + norm(y, p + "post_feedforward_layernorm.weight")
            continue
        h = h + o
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        if arch in ("qwen3_moe", "mixtral"):
            h = h + sparse_moe(x, w, p, cfg, arch, routing)
            continue
        if arch == "phi3":  # one gate_up_proj: gate, up = chunk(2)
            gate, up = np.split(x @ w[p + "mlp.gate_up_proj.weight"].T, 2, axis=-1)
        else:
            gate = x @ w[p + "mlp.gate_proj.weight"].T
            up = x @ w[p + "mlp.up_proj.weight"].T
        h = h + ((gate / (1 + np.exp(-gate))) * up) @ w[p + "mlp.down_proj.weight"].T
    h = norm(h, "model.norm.weight")
    head = w.get("lm_head.weight")
    if head is None or cfg.get("tie_word_embeddings", gemma):
        head = w["model.embed_tokens.weight"]
    logits = h @ head.T
    if gemma and final_cap:
        logits = np.tanh(logits / final_cap) * final_cap
    json.dump({"logits": logits.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
