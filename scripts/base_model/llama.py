"""A trainable Llama (the shape oap's CausalLM runs) in plain PyTorch, with Hugging Face
parameter names, and the safetensors reader/writer the base-model scripts use.

Tooling only (scripts/make_base_model.sh), never imported by the library or its tests.
The forward pass follows Hugging Face's modeling_llama (eager attention, RoPE with rotate_half,
RMSNorm computed in float32, SiLU-gated MLP, grouped-query attention); scripts/base_model/
evaluate.py checks it against `oap score` on the same ids.
"""
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

ST_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
ST_NAMES = {v: k for k, v in ST_DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = bytearray(data[8 + n + b:8 + n + end])
        out[name] = torch.frombuffer(raw, dtype=ST_DTYPES[e["dtype"]]).reshape(e["shape"]).clone()
    return out


def write_safetensors(path, tensors, dtype=torch.float32):
    """Writes tensors (name -> tensor, in the order given) as dtype, atomically."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.detach().to("cpu", dtype).contiguous()
        b = t.view(torch.int16).numpy().tobytes() if dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": ST_NAMES[dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dt)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, self.nh, self.nkv, self.hd = (cfg["hidden_size"], cfg["num_attention_heads"],
                                         cfg["num_key_value_heads"], cfg["head_dim"])
        bias = bool(cfg.get("attention_bias", False))
        self.q_proj = nn.Linear(h, self.nh * self.hd, bias=bias)
        self.k_proj = nn.Linear(h, self.nkv * self.hd, bias=bias)
        self.v_proj = nn.Linear(h, self.nkv * self.hd, bias=bias)
        self.o_proj = nn.Linear(self.nh * self.hd, h, bias=bias)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        rep = self.nh // self.nkv
        q = self.q_proj(x).view(b, t, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # Grouped-query attention without repeating k and v: the `rep` query heads that share a
        # key/value head are stacked along the time axis ([b, nkv, rep * t, hd]); contiguous
        # operands keep the CPU's batched matmul fast.
        q = q.reshape(b, self.nkv, rep * t, self.hd).contiguous()
        k = k.contiguous()
        v = v.contiguous()
        att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd))
        att = att.view(b, self.nkv, rep, t, t) + mask
        att = torch.softmax(att.float(), dim=-1).to(v.dtype).view(b, self.nkv, rep * t, t)
        y = torch.matmul(att, v).view(b, self.nh, t, self.hd)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, self.nh * self.hd))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, i = cfg["hidden_size"], cfg["intermediate_size"]
        bias = bool(cfg.get("mlp_bias", False))
        self.gate_proj = nn.Linear(h, i, bias=bias)
        self.up_proj = nn.Linear(h, i, bias=bias)
        self.down_proj = nn.Linear(i, h, bias=bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg["rms_norm_eps"]
        self.input_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Body(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class Llama(nn.Module):
    """LlamaForCausalLM: state_dict() keys are the Hugging Face names (model.layers.0...)."""

    def __init__(self, cfg):
        super().__init__()
        for key in ("rope_scaling", "rope_parameters"):
            if cfg.get(key):
                raise ValueError("llama.py: %s is not supported (config has %r)" % (key, cfg[key]))
        if cfg.get("architectures", ["LlamaForCausalLM"])[0] != "LlamaForCausalLM":
            raise ValueError("llama.py: only LlamaForCausalLM, config has %r" % cfg["architectures"])
        cfg = dict(cfg)
        cfg.setdefault("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
        cfg.setdefault("num_key_value_heads", cfg["num_attention_heads"])
        self.cfg = cfg
        self.model = Body(cfg)
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        hd = cfg["head_dim"]
        inv = 1.0 / (cfg.get("rope_theta", 10000.0) **
                     (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        self.register_buffer("inv_freq", inv, persistent=False)

    def init_weights(self, std=0.02):
        """Normal(0, std) weights; the projections into the residual stream (o_proj,
        down_proj) get std / sqrt(2 * layers), as GPT-2 does; norms 1, biases 0."""
        resid_std = std / math.sqrt(2 * self.cfg["num_hidden_layers"])
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                nn.init.ones_(p)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, 0.0, resid_std)
            else:
                nn.init.normal_(p, 0.0, std)

    def hf_state_dict(self):
        return {k: v for k, v in self.state_dict().items()}

    def load_hf_state_dict(self, tensors):
        tensors = {k: v for k, v in tensors.items() if not (self.tied and k == "lm_head.weight")}
        self.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)

    def forward(self, ids):
        """ids: [B, T] int64 -> logits [B, T, V] (positions 0..T-1, causal)."""
        b, t = ids.shape
        x = self.model.embed_tokens(ids)
        pos = torch.arange(t, dtype=torch.float32)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        mask = torch.full((t, t), float("-inf")).triu(1).to(x.dtype)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        x = self.model.norm(x)
        w = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return x @ w.t().to(x.dtype)


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    m = Llama(cfg)
    m.load_hf_state_dict(read_safetensors(os.path.join(model_dir, "model.safetensors")))
    return m
