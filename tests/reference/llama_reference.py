#!/usr/bin/env python3
"""Independent reference for oap's CausalLM: a Llama-family forward pass in plain PyTorch.

Written from the Hugging Face modeling_llama / modeling_qwen2 definitions (eager attention),
without the transformers library: it reads config.json and *.safetensors itself and writes the
float32 logits to a safetensors file that the C++ test compares with its own.

Usage: llama_reference.py MODEL_DIR INPUT_JSON OUT_SAFETENSORS
INPUT_JSON: {"input_ids": [[...], ...], "attention_mask": [[...], ...] (optional),
             "dtype": "float32" | "bfloat16" (optional),
             "adapter": PEFT_LORA_FOLDER (optional)}
With an adapter, every linear layer PEFT targets computes, as PEFT's LoRA layer does,
W x + b + scaling * lora_B(lora_A(x)), scaling = lora_alpha / r (lora_alpha / sqrt(r) with
use_rslora), with A and B read by their PEFT names
("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight").
"""
import json
import math
import os
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = bytearray(data[base + b:base + end])
        t = torch.frombuffer(raw, dtype=DTYPES[e["dtype"]]) if raw else torch.empty(0, dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous().to(torch.float32)
        b = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        w = {}
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            w.update(read_safetensors(os.path.join(model_dir, shard)))
        return w
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))


def rms_norm(x, weight, eps):
    dt = x.dtype
    h = x.to(torch.float32)
    var = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(var + eps)
    return weight * h.to(dt)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n_rep):
    b, nkv, s, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, nkv, n_rep, s, hd).reshape(b, nkv * n_rep, s, hd)


def inv_freq_for(cfg, head_dim, seq_len):
    params = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    theta = params.get("rope_theta", cfg.get("rope_theta", 10000.0)) if cfg.get("rope_parameters") else cfg.get("rope_theta", 10000.0)
    kind = params.get("rope_type", params.get("type", "default"))
    factor = params.get("factor", 1.0)
    base = theta
    if kind == "dynamic" and seq_len > cfg["max_position_embeddings"]:
        mp = cfg["max_position_embeddings"]
        base = theta * ((factor * seq_len / mp) - (factor - 1)) ** (head_dim / (head_dim - 2))
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    if kind == "linear":
        inv = inv / factor
    elif kind == "llama3":
        old = params["original_max_position_embeddings"]
        lf, hf = params.get("low_freq_factor", 1.0), params.get("high_freq_factor", 4.0)
        low_wl, high_wl = old / lf, old / hf
        wl = 2 * math.pi / inv
        scaled = torch.where(wl > low_wl, inv / factor, inv)
        smooth = (old / wl - lf) / (hf - lf)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wl < high_wl) * ~(wl > low_wl)
        inv = torch.where(medium, smoothed, scaled)
    return inv


def load_adapter(folder):
    """{module name ("model.layers.0.self_attn.q_proj"): (A, B, scaling)} of a PEFT LoRA folder."""
    cfg = json.load(open(os.path.join(folder, "adapter_config.json")))
    assert cfg.get("peft_type", "LORA") == "LORA"
    r, alpha = cfg["r"], cfg["lora_alpha"]
    scaling = alpha / math.sqrt(r) if cfg.get("use_rslora", False) else alpha / r
    tensors = read_safetensors(os.path.join(folder, "adapter_model.safetensors"))
    out = {}
    prefix = "base_model.model."
    for name, a in tensors.items():
        if name.endswith(".lora_A.weight"):
            module = name[len(prefix):-len(".lora_A.weight")]
            out[module] = (a, tensors[prefix + module + ".lora_B.weight"], scaling)
    return out


def forward(cfg, w, input_ids, attention_mask, dtype, adapter=None):
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or H // nh
    eps = cfg.get("rms_norm_eps", 1e-6)
    qwen2 = cfg["architectures"][0] == "Qwen2ForCausalLM"
    w = {k: v.to(dtype) for k, v in w.items()}
    B, T = input_ids.shape
    # HF generate(): positions from the mask (padding gets 1).
    pos = attention_mask.long().cumsum(-1) - 1
    pos = pos.masked_fill(attention_mask == 0, 1)
    inv = inv_freq_for(cfg, hd, T)
    freqs = (inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos = emb.cos().to(dtype)[:, None]
    sin = emb.sin().to(dtype)[:, None]
    # 4-D mask: causal and padding, min value where masked (eager attention).
    minv = torch.finfo(dtype).min
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    allowed = causal[None, :, :] & attention_mask.bool()[:, None, :]
    mask = torch.zeros(B, 1, T, T, dtype=dtype).masked_fill(~allowed[:, None], minv)

    def lin(x, name, bias):
        y = torch.nn.functional.linear(x, w[name + ".weight"], w.get(name + ".bias") if bias else None)
        if adapter and name in adapter:
            a, b, scaling = adapter[name]
            y = y + (x @ a.to(dtype).t()) @ b.to(dtype).t() * scaling
        return y

    attn_bias = cfg.get("attention_bias", False)
    mlp_bias = cfg.get("mlp_bias", False)
    x = w["model.embed_tokens.weight"][input_ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj", attn_bias or qwen2).view(B, T, nh, hd).transpose(1, 2)
        k = lin(h, p + "self_attn.k_proj", attn_bias or qwen2).view(B, T, nkv, hd).transpose(1, 2)
        v = lin(h, p + "self_attn.v_proj", attn_bias or qwen2).view(B, T, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = repeat_kv(k, nh // nkv)
        v = repeat_kv(v, nh // nkv)
        scores = torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5 + mask
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(dtype)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, nh * hd)
        x = x + lin(ctx, p + "self_attn.o_proj", attn_bias)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(lin(h, p + "mlp.gate_proj", mlp_bias)) * lin(h, p + "mlp.up_proj", mlp_bias)
        x = x + lin(g, p + "mlp.down_proj", mlp_bias)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return torch.nn.functional.linear(x, head).float()


def main():
    model_dir, input_json, out = sys.argv[1:4]
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    inp = json.load(open(input_json))
    ids = torch.tensor(inp["input_ids"], dtype=torch.long)
    mask = torch.tensor(inp["attention_mask"], dtype=torch.long) if "attention_mask" in inp else torch.ones_like(ids)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[inp.get("dtype", "float32")]
    torch.set_num_threads(1)
    with torch.no_grad():
        adapter = load_adapter(inp["adapter"]) if inp.get("adapter") else None
        logits = forward(cfg, load_weights(model_dir), ids, mask, dtype, adapter)
    write_safetensors(out, {"logits": logits})


if __name__ == "__main__":
    main()
