#!/usr/bin/env python3
"""Python PyTorch side of bench/llm_bench: the same models (read from the folder llm_bench
writes, OAP_BENCH_MODELS), the same shapes and the same thread count, timed the same way:
prefill of 64 tokens (logits of the last position), one decode step at a context of 64 with a
KV cache, and one LoRA (rank 8, q/v) forward+backward step over 64 tokens.

The model code is tests/reference/llama_reference.py's (plain torch ops, eager attention), with
a KV cache added for decoding.

Two modes:
  llm_bench_compare.py [--threads N] [--presets a,b]
      times Python only; one line per measurement: name, ms per iteration (wall), tokens/s.
  llm_bench_compare.py --cxx build/bench/llm_bench [--reps 3] [--threads N] [--presets a,b]
      interleaves the two: for every case and repetition it runs the C++ benchmark of that case
      (a fresh llm_bench process, Google Benchmark JSON) and then times the same case here (the
      order alternates between repetitions), and prints a table: wall time median and range,
      the ratios C++/Python of the medians and of the minima (< 1: C++ faster; the minimum is the
      least disturbed run on a shared machine), process CPU time, and the load average. The C++
      side runs with its default options (CausalLMOptions: decode steps on one thread) unless
      OAP_BENCH_DECODE_THREADS is set; --py-decode-threads sets Python's thread count for decode
      steps (default: --threads, as PyTorch does).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
import llama_reference as ref  # noqa: E402

PROMPT = 64
CONTEXT = 64
# C++ benchmark names (llm_bench.cpp) of the presets.
CXX_PRESET = {"tiny": "tiny", "small": "small", "smollm-135m": "smollm"}


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
    """(wall seconds, process CPU seconds) per call, after one warm-up call."""
    fn()
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - start
        if el >= min_time and n >= 3:
            return el / n, (time.process_time() - cpu) / n


class Cases:
    """The Python side of every case of one preset and dtype: name -> timing function."""

    def __init__(self, model_dir, preset, dname, dtype, threads, decode_threads):
        self.m = m = Model(model_dir, dtype)
        self.threads, self.decode_threads = threads, decode_threads
        V = m.cfg["vocab_size"]
        torch.manual_seed(0)
        self.ids = torch.randint(0, V, (1, PROMPT))
        self.cache = []
        with torch.no_grad():
            m.forward(self.ids[:, :CONTEXT], cache=self.cache, last_only=True)
        self.nxt = torch.randint(0, V, (1, 1))
        self.lora = None
        if dname == "f32" and preset in ("tiny", "small"):
            self.lora = {}
            for i in range(m.cfg["num_hidden_layers"]):
                for tgt, out in (("q", m.nh * m.hd), ("v", m.nkv * m.hd)):
                    a = (torch.rand(8, m.H) * 2 - 1).div(m.H ** 0.5).requires_grad_()
                    b = torch.zeros(out, 8, requires_grad=True)
                    self.lora[(i, tgt)] = (a, b, 2.0)

    def prefill(self, min_time):
        with torch.no_grad():
            return timeit(lambda: self.m.forward(self.ids, cache=[], last_only=True), min_time)

    def decode(self, min_time):
        def step():
            c = list(self.cache)  # decode at a fixed context: start from the same cache
            self.m.forward(self.nxt, cache=c, last_only=True)

        torch.set_num_threads(self.decode_threads)
        try:
            with torch.no_grad():
                return timeit(step, min_time)
        finally:
            torch.set_num_threads(self.threads)

    def lora_step(self, min_time):
        m, ids, lora = self.m, self.ids, self.lora
        V = m.cfg["vocab_size"]

        def step():
            logits = m.forward(ids, lora=lora)
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
            loss.backward()
            for a, b, _ in lora.values():
                a.grad = None
                b.grad = None

        return timeit(step, min_time)


def ensure_models(args):
    """Writes the models with llm_bench --write-models when any is missing (the C++ side owns
    their seeds and shapes), or exits with what to run."""
    missing = [p for p in args.presets.split(",")
               if not os.path.exists(os.path.join(args.models, p, "model.safetensors"))]
    if not missing:
        return
    cxx = args.cxx or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                   "bench", "llm_bench")
    if not os.path.exists(cxx):
        raise SystemExit(
            f"llm_bench_compare: no model for {', '.join(missing)} in {args.models}, and no "
            f"llm_bench to write them at {cxx}.\nBuild it (cmake --build --preset default "
            f"--target llm_bench) and run this again, or pass --cxx PATH/llm_bench.")
    print(f"# writing the models into {args.models} with {cxx} --write-models", flush=True)
    subprocess.run([cxx, "--write-models"], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, OAP_BENCH_MODELS=args.models))


def python_only(args):
    for preset in args.presets.split(","):
        d = os.path.join(args.models, preset)
        for dname, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
            c = Cases(d, preset, dname, dtype, args.threads, args.py_decode_threads)
            t, _ = c.prefill(args.min_time)
            print(f"prefill/{preset}_{dname}\t{t * 1e3:.2f} ms\t{PROMPT / t:.1f} tok/s")
            t, _ = c.decode(args.min_time)
            print(f"decode/{preset}_{dname}\t{t * 1e3:.2f} ms\t{1 / t:.1f} tok/s")
            if c.lora is not None:
                t, _ = c.lora_step(args.min_time)
                print(f"lora_step/{preset}\t{t * 1e3:.2f} ms")


def run_cxx(args, bench_name):
    """(wall s, process CPU s) per iteration of one C++ benchmark, in a fresh process."""
    env = dict(os.environ, OAP_BENCH_THREADS=str(args.threads), OAP_BENCH_MODELS=args.models)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        # JSON into a file: the library logs to stdout.
        subprocess.run(
            [args.cxx, f"--benchmark_filter=^{bench_name}(/|$)", f"--benchmark_out={out.name}",
             "--benchmark_out_format=json", f"--benchmark_min_time={args.min_time}"],
            env=env, check=True, capture_output=True, text=True)
        with open(out.name) as f:
            # Names carry a "/process_time" suffix (llm_bench measures process CPU time).
            b = [x for x in json.load(f)["benchmarks"] if x["name"].split("/process_time")[0] == bench_name]
    if not b:
        raise SystemExit(f"llm_bench has no benchmark {bench_name}")
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b[0]["time_unit"]]
    return b[0]["real_time"] * scale, b[0]["cpu_time"] * scale


def interleaved(args):
    print(f"# python torch {torch.__version__}, threads {args.threads}, python decode threads "
          f"{args.py_decode_threads}, reps {args.reps}, min_time {args.min_time} s, "
          f"C++ OAP_BENCH_DECODE_THREADS={os.environ.get('OAP_BENCH_DECODE_THREADS', '(default)')}")
    rows, loads = [], []
    for preset in args.presets.split(","):
        d = os.path.join(args.models, preset)
        for dname, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
            if args.dtypes and dname not in args.dtypes.split(","):
                continue
            c = Cases(d, preset, dname, dtype, args.threads, args.py_decode_threads)
            kinds = [("prefill", "BM_Prefill", c.prefill), ("decode", "BM_Decode", c.decode)]
            if c.lora is not None:
                kinds.append(("lora_step", "BM_LoraStep", c.lora_step))
            for kind, bm, py in kinds:
                if args.kinds and kind not in args.kinds.split(","):
                    continue
                suffix = CXX_PRESET[preset] + ("" if kind == "lora_step" else "_" + dname)
                cx, pyt = [], []
                for rep in range(args.reps):
                    loads.append(os.getloadavg()[0])
                    if rep % 2 == 0:
                        cx.append(run_cxx(args, f"{bm}/{suffix}"))
                        pyt.append(py(args.min_time))
                    else:
                        pyt.append(py(args.min_time))
                        cx.append(run_cxx(args, f"{bm}/{suffix}"))
                name = f"{kind}/{preset}" + ("" if kind == "lora_step" else "_" + dname)
                rows.append((name, cx, pyt))
                print(f"# {name}: C++ wall ms {[round(w * 1e3, 2) for w, _ in cx]}, "
                      f"python wall ms {[round(w * 1e3, 2) for w, _ in pyt]}", flush=True)
    med = lambda xs: statistics.median(xs) * 1e3  # noqa: E731
    print(f"# load average (1 min) during the run: min {min(loads):.2f}, median "
          f"{statistics.median(loads):.2f}, max {max(loads):.2f}")
    print("| case | C++ wall ms: median (min-max) | Python wall ms: median (min-max) | "
          "ratio of medians | ratio of minima | C++ CPU ms | Python CPU ms | ratio CPU |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, cx, pyt in rows:
        cw, pw = [w for w, _ in cx], [w for w, _ in pyt]
        cc, pc = med([c for _, c in cx]), med([c for _, c in pyt])
        cell = lambda xs: f"{med(xs):.3g} ({min(xs) * 1e3:.3g}-{max(xs) * 1e3:.3g})"  # noqa: E731
        print(f"| {name} | {cell(cw)} | {cell(pw)} | {med(cw) / med(pw):.2f} | "
              f"{min(cw) / min(pw):.2f} | {cc:.3g} | {pc:.3g} | {cc / pc:.2f} |")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--py-decode-threads", type=int, default=0,
                    help="Python threads for decode steps (default: --threads)")
    ap.add_argument("--presets", default="tiny,small,smollm-135m")
    ap.add_argument("--dtypes", default="", help="f32,bf16 (default: both)")
    ap.add_argument("--kinds", default="", help="prefill,decode,lora_step (default: all)")
    ap.add_argument("--models", default=os.environ.get("OAP_BENCH_MODELS", "/tmp/oap_bench_models"))
    ap.add_argument("--cxx", default="", help="path of llm_bench: interleave C++ and Python")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds per measurement")
    args = ap.parse_args()
    if args.py_decode_threads <= 0:
        args.py_decode_threads = args.threads
    torch.set_num_threads(args.threads)
    ensure_models(args)
    if args.cxx:
        interleaved(args)
    else:
        print(f"# python torch {torch.__version__}, threads {torch.get_num_threads()}")
        python_only(args)


if __name__ == "__main__":
    main()
