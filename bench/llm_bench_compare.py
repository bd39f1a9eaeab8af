#!/usr/bin/env python3
"""Python PyTorch side of bench/llm_bench: the same models (read from the folder llm_bench
writes, OAP_BENCH_MODELS), the same shapes and the same thread count, timed the same way:
prefill of 64 tokens (logits of the last position), one decode step at a context of 64 with a
KV cache, and one LoRA (rank 8, q/v) forward+backward step over 64 tokens.

The model code is tests/reference/llama_reference.py's (plain torch ops, eager attention), with
a KV cache added for decoding. Usage: llm_bench_compare.py [--threads N] [--presets a,b]
Prints one line per measurement: name, ms per iteration, tokens/s.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
import llama_reference as ref  # noqa: E402

PROMPT = 64
CONTEXT = 64


class Model:
    def __init__(self, model_dir, dtype):
        self.cfg = json.load(open(os.path.join(model_dir, "config.json")))
        c = self.cfg
        self.H = c["hidden_size"]
        self.nh = c["num_attention_heads"]
        self.nkv = c.get("num_key_value_heads", self.nh)
        self.hd = c.get("head_dim") or self.H // self.nh
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.dtype = dtype
        self.w = {k: v.to(dtype) for k, v in ref.load_weights(model_dir).items()}
        self.inv = ref.inv_freq_for(c, self.hd, 0)
        self.qkv_bias = c.get("attention_bias", False) or c["architectures"][0] == "Qwen2ForCausalLM"
        self.head = self.w["model.embed_tokens.weight"] if c.get("tie_word_embeddings") else self.w["lm_head.weight"]

    def forward(self, ids, cache=None, lora=None, last_only=False):
        B, T = ids.shape
        past = 0 if cache is None or not cache else cache[0][0].shape[2]
        S = past + T
        pos = torch.arange(past, S)[None, :].expand(B, T)
        freqs = (self.inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(self.dtype)[:, None], emb.sin().to(self.dtype)[:, None]
        allowed = torch.arange(S)[None, :] <= (torch.arange(T) + past)[:, None]
        mask = torch.zeros(1, 1, T, S, dtype=self.dtype).masked_fill(~allowed, torch.finfo(self.dtype).min)
        w = self.w

        def lin(x, name, bias, target=None, layer=None):
            y = torch.nn.functional.linear(x, w[name + ".weight"], w.get(name + ".bias") if bias else None)
            if lora is not None and (layer, target) in lora:
                a, b, s = lora[(layer, target)]
                y = y + (x @ a.t()) @ b.t() * s
            return y

        x = w["model.embed_tokens.weight"][ids]
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = ref.rms_norm(x, w[p + "input_layernorm.weight"], self.eps)
            q = lin(h, p + "self_attn.q_proj", self.qkv_bias, "q", i).view(B, T, self.nh, self.hd).transpose(1, 2)
            k = lin(h, p + "self_attn.k_proj", self.qkv_bias).view(B, T, self.nkv, self.hd).transpose(1, 2)
            v = lin(h, p + "self_attn.v_proj", self.qkv_bias, "v", i).view(B, T, self.nkv, self.hd).transpose(1, 2)
            q = q * cos + ref.rotate_half(q) * sin
            k = k * cos + ref.rotate_half(k) * sin
            if cache is not None:
                if len(cache) > i:
                    k = torch.cat([cache[i][0], k], 2)
                    v = torch.cat([cache[i][1], v], 2)
                    cache[i] = (k, v)
                else:
                    cache.append((k, v))
            k = ref.repeat_kv(k, self.nh // self.nkv)
            v = ref.repeat_kv(v, self.nh // self.nkv)
            scores = torch.matmul(q, k.transpose(2, 3)) * self.hd ** -0.5 + mask
            probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(self.dtype)
            ctx = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, self.nh * self.hd)
            x = x + lin(ctx, p + "self_attn.o_proj", self.cfg.get("attention_bias", False))
            h = ref.rms_norm(x, w[p + "post_attention_layernorm.weight"], self.eps)
            g = torch.nn.functional.silu(lin(h, p + "mlp.gate_proj", False)) * lin(h, p + "mlp.up_proj", False)
            x = x + lin(g, p + "mlp.down_proj", False)
        if last_only:
            x = x[:, -1:]
        x = ref.rms_norm(x, w["model.norm.weight"], self.eps)
        return torch.nn.functional.linear(x, self.head).float()


def timeit(fn, min_time=1.0):
    fn()  # warm-up
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - start
        if el >= min_time and n >= 3:
            return el / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--presets", default="tiny,small,smollm-135m")
    ap.add_argument("--models", default=os.environ.get("OAP_BENCH_MODELS", "/tmp/oap_bench_models"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# python torch {torch.__version__}, threads {torch.get_num_threads()}")
    for preset in args.presets.split(","):
        d = os.path.join(args.models, preset)
        if not os.path.exists(os.path.join(d, "model.safetensors")):
            print(f"# {preset}: {d} missing (run llm_bench first)")
            continue
        for dname, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
            m = Model(d, dtype)
            V = m.cfg["vocab_size"]
            torch.manual_seed(0)
            ids = torch.randint(0, V, (1, PROMPT))
            with torch.no_grad():
                t = timeit(lambda: m.forward(ids, cache=[], last_only=True))
                print(f"prefill/{preset}_{dname}\t{t * 1e3:.2f} ms\t{PROMPT / t:.1f} tok/s")
                cache = []
                m.forward(ids[:, :CONTEXT], cache=cache, last_only=True)
                nxt = torch.randint(0, V, (1, 1))

                def step():
                    c = list(cache)  # decode at a fixed context: start from the same cache
                    m.forward(nxt, cache=c, last_only=True)

                t = timeit(step)
                print(f"decode/{preset}_{dname}\t{t * 1e3:.2f} ms\t{1 / t:.1f} tok/s")
            if dname == "f32" and preset in ("tiny", "small"):
                L = m.cfg["num_hidden_layers"]
                lora = {}
                for i in range(L):
                    for tgt, out in (("q", m.nh * m.hd), ("v", m.nkv * m.hd)):
                        a = (torch.rand(8, m.H) * 2 - 1).div(m.H ** 0.5).requires_grad_()
                        b = torch.zeros(out, 8, requires_grad=True)
                        lora[(i, tgt)] = (a, b, 2.0)

                def lora_step():
                    logits = m.forward(ids, lora=lora)
                    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
                    loss.backward()
                    for a, b, _ in lora.values():
                        a.grad = None
                        b.grad = None

                t = timeit(lora_step)
                print(f"lora_step/{preset}\t{t * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
