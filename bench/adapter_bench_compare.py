#!/usr/bin/env python3
"""Driver of bench/adapter_bench (per-user adapters, issue 10) and its Python PyTorch side.

Parts (--parts, comma-separated; default update,reload,mixed):
  update  One rapid adapter update, C++ (BM_RapidUpdate: RapidTrainer::train) against the same
          loop written here in PyTorch, on the same models (the folder llm_bench/adapter_bench
          write, OAP_BENCH_MODELS), the same samples, the same start adapter and the same thread
          count:
            8 trigger samples (weights 1, 1.125, ..., 1.875), 8 replay, 8 held-out, 64 tokens
            each (the LCG of adapter_bench.cpp's update_tokens()); a rank-8 LoRA on q_proj and
            v_proj, alpha 16, A as LoraWeights::create(seed 0) draws it (same generator, same
            values), B = 0; adapters in float32, cast to the model dtype in the forward pass;
            1. losses before, no grad: weighted mean per-sample token NLL of the trigger samples
               (one batch of 8) and mean of the held-out samples (one batch of 8);
            2. 10 AdamW steps (lr 2e-3, betas 0.9/0.999, eps 1e-8, no weight decay), each on one
               batch of 16 = the 8 trigger + the 8 replay samples, loss
               (sum_i w_i L_i + 1 * 8 * mean_j R_j) / (sum_i w_i + 8) with L_i, R_j per-sample
               mean token NLLs (RapidTrainerOptions::replay_ratio = 1); gradients clipped to a
               global norm of 1; patience 0, so all 10 steps run;
            3. losses after (as 1.) and the gate (trigger loss down, held-out within 0.005 nats).
          Each measurement is one update in a fresh process (C++: adapter_bench; Python: this
          script with --one-update), after one warm-up forward + backward of a step's batch;
          C++ and Python alternate, the order flipping between repetitions. The table gives wall
          seconds (median, min-max), the C++/Python ratios of the medians and of the minima, the
          processes' CPU seconds, and both sides' losses (they must agree: same data, same start).
  reload  BM_AdapterReload/small (AdapterManager::get() of an evicted user) and its two halves,
          C++ only, --reps Google Benchmark repetitions: median and min.
  mixed   BM_MixedPrefill / BM_MixedDecode with 0, 1, 8 and 64 distinct adapters in a batch of 64
          rows, C++ only: one fresh process per measurement, the adapter counts interleaved;
          throughput relative to the same batch without adapters (time_0 / time_k) from the
          medians and from the minima, of wall and of process CPU time (both threads).
          --baseline PATH runs a second adapter_bench build interleaved with the first
          (before/after a change); --kinds prefill,decode.
  many    adapter_bench --many (10,000 adapters under a 2 GiB budget; see adapter_bench.cpp),
          once; prints its JSON as a table.

Usage:
  adapter_bench_compare.py --cxx build/bench/adapter_bench [--parts update,mixed] [--reps 5]
      [--threads 2] [--presets tiny,small,smollm-135m] [--dtypes f32,bf16]
  adapter_bench_compare.py --one-update PRESET DTYPE [--threads 2]   (one Python update; JSON)
The models are written by adapter_bench --write-models if missing. The load average (1 min) is
printed for every part.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# C++ benchmark names (adapter_bench.cpp) of the presets.
CXX_PRESET = {"tiny": "tiny", "small": "small", "smollm-135m": "smollm"}
DTYPES = {"f32": "float32", "bf16": "bfloat16"}
RANK, ALPHA, SAMPLES, LENGTH, STEPS = 8, 16.0, 8, 64, 10


# --- the Python update --------------------------------------------------------------------

def update_tokens(which, i, vocab):
    """adapter_bench.cpp's update_tokens(): sample i of set `which` (0 trigger, 1 replay,
    2 held-out)."""
    mask = (1 << 64) - 1
    s = (0x9E3779B97F4A7C15 * (which * 1000 + i + 1)) & mask
    out = []
    for _ in range(LENGTH):
        s = (s * 6364136223846793005 + 1442695040888963407) & mask
        out.append((s >> 33) % vocab)
    return out


class PyUpdate:
    """RapidTrainer::train's loop in PyTorch on llm_bench_compare.py's Model."""

    def __init__(self, model_dir, dtype):
        import torch
        sys.path.insert(0, HERE)
        from llm_bench_compare import Model
        self.torch = torch
        self.m = m = Model(model_dir, dtype)
        self.dtype = dtype
        V = m.cfg["vocab_size"]
        self.V = V
        self.trig = torch.tensor([update_tokens(0, i, V) for i in range(SAMPLES)])
        self.rep = torch.tensor([update_tokens(1, i, V) for i in range(SAMPLES)])
        self.held = torch.tensor([update_tokens(2, i, V) for i in range(SAMPLES)])
        self.w = torch.tensor([1.0 + i / 8.0 for i in range(SAMPLES)])
        # LoraWeights::create(config, 8, 16, {q, v}, rslora false, seed 0): one CPU generator,
        # layer by layer, q then v, A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0.
        g = torch.Generator().manual_seed(0)
        self.start = {}
        for layer in range(m.cfg["num_hidden_layers"]):
            for tgt, out in (("q", m.nh * m.hd), ("v", m.nkv * m.hd)):
                bound = 1.0 / m.H ** 0.5
                a = torch.empty(RANK, m.H).uniform_(-bound, bound, generator=g)
                self.start[(layer, tgt)] = (a, torch.zeros(out, RANK))

    def sample_nll(self, ids, params):
        """Per-sample mean token NLL [n] (logits in float32, as the C++ side)."""
        F = self.torch.nn.functional
        scale = ALPHA / RANK
        lora = {k: (a.to(self.dtype), b.to(self.dtype), scale) for k, (a, b) in params.items()}
        logits = self.m.forward(ids, lora=lora)
        n, t = ids.shape
        nll = F.cross_entropy(logits[:, :-1].reshape(-1, self.V), ids[:, 1:].reshape(-1),
                              reduction="none")
        return nll.view(n, t - 1).mean(1)

    def losses(self, params):
        with self.torch.no_grad():
            trig = self.sample_nll(self.trig, params)
            held = self.sample_nll(self.held, params)
        return (float((trig.double() * self.w.double()).sum() / self.w.double().sum()),
                float(held.double().mean()))

    def warm_up(self):
        params = {k: (a.clone().requires_grad_(), b.clone().requires_grad_())
                  for k, (a, b) in self.start.items()}
        self.sample_nll(self.torch.cat([self.trig, self.rep]), params).mean().backward()

    def run(self):
        torch = self.torch
        t0, c0 = time.perf_counter(), time.process_time()
        params = {k: (a.clone().requires_grad_(), b.clone().requires_grad_())
                  for k, (a, b) in self.start.items()}
        flat = [t for pair in params.values() for t in pair]
        trig_before, held_before = self.losses(params)
        opt = torch.optim.AdamW(flat, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        batch = torch.cat([self.trig, self.rep])
        w, wsum = self.w, float(self.w.sum())
        steps = 0
        for _ in range(STEPS):
            per = self.sample_nll(batch, params)
            trig_part = (per[:SAMPLES] * w).sum()
            share = 1.0 * SAMPLES  # replay_ratio * n_trigger
            loss = (trig_part + share * per[SAMPLES:].mean()) / (wsum + share)
            trig_loss = trig_part.item() / wsum
            if not (torch.isfinite(torch.tensor(trig_loss)) and torch.isfinite(loss)):
                break
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(flat, 1.0)
            opt.step()
            steps += 1
        for p in flat:
            p.requires_grad_(False)
        finite = all(bool(torch.isfinite(p).all()) for p in flat)
        trig_after, held_after = self.losses(params)
        accepted = (finite and trig_after < trig_before
                    and held_after <= held_before + 0.005)  # RapidTrainerOptions' gate
        return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                "trigger_before": trig_before, "trigger_after": trig_after,
                "heldout_before": held_before, "heldout_after": held_after,
                "steps": steps, "accepted": int(accepted)}


def one_update(args):
    import torch
    torch.set_num_threads(args.threads)
    preset, dname = args.one_update
    u = PyUpdate(os.path.join(args.models, preset), getattr(torch, DTYPES[dname]))
    u.warm_up()
    print(json.dumps(u.run()))


# --- running the C++ side -----------------------------------------------------------------

def cxx_env(args):
    return dict(os.environ, OAP_BENCH_THREADS=str(args.threads), OAP_BENCH_MODELS=args.models)


def run_cxx(args, binary, bench_name, extra=()):
    """The Google Benchmark JSON entries of one benchmark, run in a fresh process."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([binary, f"--benchmark_filter=^{bench_name}(/|$)",
                        f"--benchmark_out={out.name}", "--benchmark_out_format=json", *extra],
                       env=cxx_env(args), check=True, capture_output=True, text=True)
        with open(out.name) as f:
            # Names carry Google Benchmark's suffixes: /iterations:1, /process_time, /real_time.
            b = [x for x in json.load(f)["benchmarks"]
                 if re.split(r"/(?:iterations:|process_time|real_time)", x["name"])[0] ==
                 bench_name]
    if not b:
        raise SystemExit(f"{binary} has no benchmark {bench_name}")
    for x in b:
        if x.get("error_occurred"):
            raise SystemExit(f"{bench_name}: {x.get('error_message')}")
    return b


def seconds(entry, key):
    return entry[key] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[entry["time_unit"]]


def ensure_models(args):
    presets = set(args.presets.split(",")) | {"small"}
    missing = [p for p in presets
               if not os.path.exists(os.path.join(args.models, p, "model.safetensors"))]
    if missing:
        print(f"# writing the models into {args.models}", flush=True)
        subprocess.run([args.cxx, "--write-models"], check=True, stdout=subprocess.DEVNULL,
                       env=cxx_env(args))


def load():
    return os.getloadavg()[0]


def load_line(loads):
    return (f"load average (1 min) during the runs: min {min(loads):.2f}, median "
            f"{statistics.median(loads):.2f}, max {max(loads):.2f}")


def cell(xs, scale=1.0, fmt="{:.3g}"):
    xs = [x * scale for x in xs]
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"


# --- parts --------------------------------------------------------------------------------

def part_update(args):
    print(f"\n## update: rapid update, C++ vs Python, {args.threads} threads, {args.reps} reps",
          flush=True)
    rows, loads = [], []
    for preset in args.presets.split(","):
        for dname in args.dtypes.split(","):
            name = f"{CXX_PRESET[preset]}_{dname}"
            cx, py = [], []
            for rep in range(args.reps):
                def c():
                    e = run_cxx(args, args.cxx, f"BM_RapidUpdate/{name}")[0]
                    cx.append({"wall_s": seconds(e, "real_time"), "cpu_s": seconds(e, "cpu_time"),
                               **{k: e[k] for k in ("trigger_before", "trigger_after",
                                                    "heldout_before", "heldout_after", "steps",
                                                    "accepted")}})

                def p():
                    out = subprocess.run(
                        [sys.executable, os.path.abspath(__file__), "--one-update", preset,
                         dname, "--threads", str(args.threads), "--models", args.models],
                        check=True, capture_output=True, text=True).stdout
                    py.append(json.loads(out.strip().splitlines()[-1]))

                loads.append(load())
                for f in ((c, p) if rep % 2 == 0 else (p, c)):
                    f()
                print(f"# {preset} {dname} rep {rep}: C++ {cx[-1]['wall_s']:.3f} s, "
                      f"Python {py[-1]['wall_s']:.3f} s, load {loads[-1]:.2f}", flush=True)
            rows.append((f"{preset} {dname}", cx, py))
    print("#", load_line(loads))
    print("\n| model | C++ wall s: median (min-max) | Python wall s: median (min-max) | "
          "ratio of medians | ratio of minima | C++ CPU s | Python CPU s | trigger loss "
          "before -> after, C++ / Python | held-out loss before -> after, C++ / Python | "
          "steps | accepted C++ / Python |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |")
    for name, cx, py in rows:
        cw, pw = [x["wall_s"] for x in cx], [x["wall_s"] for x in py]
        cc = statistics.median(x["cpu_s"] for x in cx)
        pc = statistics.median(x["cpu_s"] for x in py)
        a, b = cx[0], py[0]
        print(f"| {name} | {cell(cw)} | {cell(pw)} | "
              f"{statistics.median(cw) / statistics.median(pw):.2f} | {min(cw) / min(pw):.2f} | "
              f"{cc:.3g} | {pc:.3g} | "
              f"{a['trigger_before']:.4f} -> {a['trigger_after']:.4f} / "
              f"{b['trigger_before']:.4f} -> {b['trigger_after']:.4f} | "
              f"{a['heldout_before']:.4f} -> {a['heldout_after']:.4f} / "
              f"{b['heldout_before']:.4f} -> {b['heldout_after']:.4f} | "
              f"{int(a['steps'])} / {b['steps']} | {int(a['accepted'])} / {b['accepted']} |")


def part_reload(args):
    print(f"\n## reload: {args.reps} repetitions in one process", flush=True)
    l0 = load()
    print("| benchmark | wall us: median (min-max) | CPU us median | adapter bytes |")
    print("| --- | ---: | ---: | ---: |")
    for bm in ("BM_AdapterReload/small", "BM_AdapterStoreOpen/small", "BM_LoadPeftAdapter/small"):
        runs = [e for e in run_cxx(args, args.cxx, bm,
                                   (f"--benchmark_repetitions={args.reps}",))
                if e.get("run_type") == "iteration"]
        w = [seconds(e, "real_time") for e in runs]
        c = [seconds(e, "cpu_time") for e in runs]
        ab = runs[0].get("adapter_bytes", "")
        print(f"| {bm} | {cell(w, 1e6)} | {statistics.median(c) * 1e6:.3g} | {ab} |")
    print("#", load_line([l0, load()]))


def part_mixed(args):
    bins = [("", args.cxx)] + ([("before ", args.baseline)] if args.baseline else [])
    print(f"\n## mixed: {args.threads} threads, {args.reps} reps, binaries "
          f"{', '.join(b for _, b in bins)}", flush=True)
    ks = [0, 1, 8, 64]
    loads, rows = [], []
    for preset in args.mixed_presets.split(","):
        for dname in args.dtypes.split(","):
            for kind in [k.capitalize() for k in args.kinds.split(",")]:
                # (wall, process CPU) seconds per call of each measurement
                t = {(label, k): [] for label, _ in bins for k in ks}
                for rep in range(args.reps):
                    order = [(label, b, k) for label, b in bins for k in ks]
                    shift = rep % len(order)
                    for label, binary, k in order[shift:] + order[:shift]:
                        loads.append(load())
                        e = run_cxx(args, binary,
                                    f"BM_Mixed{kind}/{CXX_PRESET[preset]}_{dname}/a{k}",
                                    (f"--benchmark_min_time={args.min_time}",))[0]
                        t[(label, k)].append((seconds(e, "real_time"), seconds(e, "cpu_time")))
                for label, _ in bins:
                    rows.append((f"{label}{kind.lower()} {preset} {dname}",
                                 [t[(label, k)] for k in ks]))
                    print(f"# {rows[-1][0]}: wall / CPU ms " +
                          "; ".join(f"a{k} " + ", ".join(f"{w * 1e3:.1f}/{c * 1e3:.1f}"
                                                         for w, c in t[(label, k)])
                                    for k in ks) + f"; load {loads[-1]:.2f}", flush=True)
    print("#", load_line(loads))
    # Wall time is what a caller waits; the process's CPU time (both threads) is what the work
    # costs, and the steadier of the two on a machine that other processes keep busy.
    for which, i in (("wall", 0), ("CPU", 1)):
        print(f"\n{which} time per call, ms:\n")
        print("| batch of 64 | no adapter: median (min-max) | 1 adapter | 8 adapters | "
              "64 adapters | throughput vs no adapter, medians: 1 / 8 / 64 | "
              "minima: 1 / 8 / 64 |")
        print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
        for name, ts in rows:
            xs = [[m[i] for m in x] for x in ts]
            med = [statistics.median(x) for x in xs]
            mn = [min(x) for x in xs]
            print(f"| {name} | " + " | ".join(cell(x, 1e3) for x in xs) + " | " +
                  " / ".join(f"{med[0] / m:.2f}" for m in med[1:]) + " | " +
                  " / ".join(f"{mn[0] / m:.2f}" for m in mn[1:]) + " |")


def part_many(args):
    print("\n## many: adapter_bench --many", flush=True)
    l0 = load()
    out = subprocess.run([args.cxx, "--many", *args.many_args.split()], env=cxx_env(args),
                         check=True, capture_output=True, text=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    print("#", load_line([l0, load()]))
    for k, v in j.items():
        print(f"| {k} | {v} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cxx", default=os.path.join(HERE, "..", "build", "bench", "adapter_bench"),
                    help="path of adapter_bench (default: build/bench/adapter_bench)")
    ap.add_argument("--baseline", default="", help="a second adapter_bench for the mixed part")
    ap.add_argument("--parts", default="update,reload,mixed")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--presets", default="tiny,small,smollm-135m", help="of the update part")
    ap.add_argument("--mixed-presets", default="small", help="of the mixed part")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--kinds", default="prefill,decode", help="of the mixed part")
    ap.add_argument("--min-time", type=float, default=1.0,
                    help="seconds per mixed-batch measurement")
    ap.add_argument("--many-args", default="", help="extra flags of adapter_bench --many")
    ap.add_argument("--models",
                    default=os.environ.get("OAP_BENCH_MODELS", "/tmp/oap_bench_models"))
    ap.add_argument("--one-update", nargs=2, metavar=("PRESET", "DTYPE"),
                    help="run one Python update and print its JSON (used by the update part)")
    args = ap.parse_args()
    if args.one_update:
        return one_update(args)
    if not os.path.exists(args.cxx):
        raise SystemExit(f"adapter_bench_compare: no adapter_bench at {args.cxx}; build it "
                         f"(cmake --build build --target adapter_bench) or pass --cxx PATH")
    ensure_models(args)
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, threads {args.threads}, {args.cxx}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    for part in args.parts.split(","):
        {"update": part_update, "reload": part_reload, "mixed": part_mixed,
         "many": part_many}[part](args)


if __name__ == "__main__":
    main()
