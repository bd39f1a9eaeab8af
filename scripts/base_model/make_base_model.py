#!/usr/bin/env python3
"""Builds oap's English base model: texts -> tokenizer -> token streams -> pretraining ->
held-out evaluation. Run through scripts/make_base_model.sh, which fetches the corpus and
builds the `oap` tool first; docs/evaluation.md ("Base model") explains the choices.

Steps, each cached under --work (redone only when its inputs change):
  texts      pretraining items and the held-out evaluation sample, from the corpus manifest
  tokenizer  `oap train-tokenizer` on the pretraining text (vocab = the preset's vocab_size),
             then a post-processor that puts <|endoftext|> (BOS) before every text
  tokens     `oap tokenize --jsonl --special`: one uint16 stream per source, [BOS] + item ids
  model      `oap init-model --no-tokenizer` writes config.json from the preset; this script
             trains the weights (seeded, time- or step-bounded) and writes model.safetensors
  evaluate   held-out perplexity per source; `oap score` against this script's forward pass
             on the same ids; continuations sampled with `oap generate`
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama import Llama, load_model, write_safetensors  # noqa: E402

BOS = "<|endoftext|>"
SPECIALS = [BOS, "<|im_start|>", "<|im_end|>"]
SALT = "oap-heldout-v1"
# Share of the training mixture a source may take at most; the rest is in proportion to tokens.
# Dictionary text (gcide definitions, WordNet glosses) is capped so that prose dominates.
MIX_CAPS = {"gcide": 0.15, "wordnet": 0.15}
PROMPTS = ["The", "Once upon a time", "The president said that", "In the morning, she",
           "The most important thing about science is"]


def log(msg):
    print("[make_base_model] " + msg, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def stamp_ok(d, stamp):
    p = os.path.join(d, ".stamp")
    return os.path.exists(p) and open(p).read() == stamp


def set_stamp(d, stamp):
    with open(os.path.join(d, ".stamp"), "w") as f:
        f.write(stamp)


def run(cmd, **kw):
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


# ----------------------------------------------------------------------------- texts
def step_texts(corpus, work):
    """pretrain.jsonl (every pretraining item, manifest order, with its source) and
    heldout.jsonl (every held-out item, ordered per source by sha256 of salt/source/group/id)."""
    manifest_path = os.path.join(corpus, "manifest.json")
    stamp = sha256_file(manifest_path)
    d = os.path.join(work, "texts")
    if stamp_ok(d, stamp):
        return d, stamp
    os.makedirs(d, exist_ok=True)
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    held_items = {}
    with open(os.path.join(d, "pretrain.jsonl.tmp"), "w", encoding="utf-8") as out:
        for source, src in manifest["sources"].items():
            for group, g in src["groups"].items():
                held = set(g["heldout"])
                with open(os.path.join(corpus, g["file"]), encoding="utf-8") as f:
                    for line in f:
                        it = json.loads(line)
                        if it["id"] in held:
                            key = hashlib.sha256(("%s/%s/%s/%s" % (SALT, source, group, it["id"]))
                                                 .encode()).hexdigest()
                            held_items.setdefault(source, []).append(
                                (key, {"source": source, "group": group, "id": it["id"],
                                       "text": it["text"]}))
                        else:
                            out.write(json.dumps({"source": source, "text": it["text"]},
                                                 ensure_ascii=False) + "\n")
    with open(os.path.join(d, "heldout.jsonl.tmp"), "w", encoding="utf-8") as out:
        for source in sorted(held_items):
            for _, it in sorted(held_items[source], key=lambda x: x[0]):
                out.write(json.dumps(it, ensure_ascii=False) + "\n")
    for name in ("pretrain.jsonl", "heldout.jsonl"):
        os.replace(os.path.join(d, name + ".tmp"), os.path.join(d, name))
    set_stamp(d, stamp)
    return d, stamp


# ----------------------------------------------------------------------------- tokenizer
def step_tokenizer(oap, texts_dir, texts_stamp, vocab, work):
    d = os.path.join(work, "tokenizer-%d" % vocab)
    stamp = "%s/%d/%s" % (texts_stamp, vocab, sha256_file(oap))
    if stamp_ok(d, stamp):
        return d
    os.makedirs(d, exist_ok=True)
    tok = os.path.join(d, "tokenizer.json")
    t0 = time.time()
    run([oap, "train-tokenizer", "--out", tok, "--vocab-size", str(vocab),
         "--special", ",".join(SPECIALS), os.path.join(texts_dir, "pretrain.jsonl")])
    with open(tok, encoding="utf-8") as f:
        doc = json.load(f)
    bos_id = next(t["id"] for t in doc["added_tokens"] if t["content"] == BOS)
    # Every text starts with <|endoftext|>: the token that separates documents in pretraining
    # is the model's BOS. Hugging Face tokenizers runs this template; oap reads it too.
    doc["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": BOS, "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": BOS, "type_id": 1}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {BOS: {"id": BOS, "ids": [bos_id], "tokens": [BOS]}},
    }
    write_json(tok, doc)
    write_json(os.path.join(d, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS, "eos_token": BOS, "unk_token": None, "pad_token": None,
        "add_bos_token": True, "add_eos_token": False,
        "additional_special_tokens": SPECIALS[1:],
        "model_max_length": 2048,
        "clean_up_tokenization_spaces": False,
    })
    log("tokenizer: vocab %d in %.0f s" % (vocab, time.time() - t0))
    set_stamp(d, stamp)
    return d


# ----------------------------------------------------------------------------- tokens
def tokenize_jsonl(oap, tok_dir, path):
    """Token ids (with BOS) of each line of a JSON Lines file, through `oap tokenize`."""
    out = subprocess.run([oap, "tokenize", "--model", tok_dir, "--jsonl", path, "--special"],
                         check=True, stdout=subprocess.PIPE).stdout
    return [json.loads(line) for line in out.decode().splitlines()]


def step_tokens(oap, texts_dir, tok_dir, work):
    d = os.path.join(tok_dir, "tokens")
    stamp = sha256_file(os.path.join(tok_dir, "tokenizer.json")) + "/" + \
        open(os.path.join(texts_dir, ".stamp")).read()
    if stamp_ok(d, stamp):
        return d
    os.makedirs(d, exist_ok=True)
    t0 = time.time()
    sources = []
    with open(os.path.join(texts_dir, "pretrain.jsonl"), encoding="utf-8") as f:
        for line in f:
            sources.append(json.loads(line)["source"])
    ids = tokenize_jsonl(oap, tok_dir, os.path.join(texts_dir, "pretrain.jsonl"))
    assert len(ids) == len(sources), "oap tokenize returned %d lines for %d" % (len(ids), len(sources))
    streams = {}
    for s, seq in zip(sources, ids):
        streams.setdefault(s, []).append(seq)
    summary = {}
    for s, seqs in streams.items():
        arr = np.fromiter((i for seq in seqs for i in seq), dtype=np.uint16,
                          count=sum(len(q) for q in seqs))
        np.save(os.path.join(d, "pretrain-%s.npy" % s), arr)
        summary[s] = int(arr.size)
    held = tokenize_jsonl(oap, tok_dir, os.path.join(texts_dir, "heldout.jsonl"))
    with open(os.path.join(d, "heldout-ids.jsonl"), "w") as f:
        for seq in held:
            f.write(json.dumps(seq) + "\n")
    write_json(os.path.join(d, "summary.json"), {"pretrain_tokens": summary})
    log("tokens: %s in %.0f s" % (summary, time.time() - t0))
    set_stamp(d, stamp)
    return d


# ----------------------------------------------------------------------------- evaluation data
def heldout_sample(texts_dir, tokens_dir, per_source, seq_len):
    """The held-out evaluation sample: per source, items in split order until per_source
    scored tokens; each item scored as [BOS] + its first seq_len - 1 tokens."""
    picked, budget = [], {}
    with open(os.path.join(texts_dir, "heldout.jsonl"), encoding="utf-8") as ft, \
            open(os.path.join(tokens_dir, "heldout-ids.jsonl")) as fi:
        for tline, iline in zip(ft, fi):
            it = json.loads(tline)
            s = it["source"]
            if budget.get(s, 0) >= per_source:
                continue
            ids = json.loads(iline)[:seq_len]
            if len(ids) < 2:
                continue
            budget[s] = budget.get(s, 0) + len(ids) - 1
            picked.append((it, ids))
    return picked


def batched_nll(model, seqs, batch=16, autocast=False):
    """Sum of NLL and count of predicted tokens per sequence (each seq starts with BOS)."""
    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(seqs), batch):
            chunk = seqs[i:i + batch]
            t = max(len(s) for s in chunk)
            x = torch.zeros(len(chunk), t, dtype=torch.long)
            m = torch.zeros(len(chunk), t - 1)
            for r, s in enumerate(chunk):
                x[r, :len(s)] = torch.tensor(s)
                m[r, :len(s) - 1] = 1
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = model(x[:, :-1])
            nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                  x[:, 1:].reshape(-1), reduction="none").view(len(chunk), -1) * m
            for r in range(len(chunk)):
                out.append((float(nll[r].sum()), int(m[r].sum())))
    model.train()
    return out


# ----------------------------------------------------------------------------- training
def mixture(token_counts):
    total = sum(token_counts.values())
    w = {s: n / total for s, n in token_counts.items()}
    capped = {s: min(w[s], MIX_CAPS[s]) for s in w if s in MIX_CAPS and w[s] > MIX_CAPS[s]}
    rest = [s for s in w if s not in capped]
    rest_total = sum(token_counts[s] for s in rest)
    free = 1.0 - sum(capped.values())
    for s in rest:
        w[s] = free * token_counts[s] / rest_total
    w.update(capped)
    return w


def lr_at(step, total, warmup, peak, floor=0.1):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def train(args, cfg, tokens_dir, eval_seqs, out_dir):
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    streams = {}
    for name in sorted(os.listdir(tokens_dir)):
        if name.startswith("pretrain-") and name.endswith(".npy"):
            streams[name[len("pretrain-"):-4]] = np.load(os.path.join(tokens_dir, name))
    names = sorted(streams)
    weights = mixture({s: len(streams[s]) for s in names})
    probs = np.array([weights[s] for s in names])
    log("mixture: " + ", ".join("%s %.3f" % (s, weights[s]) for s in names))

    model = Llama(cfg)
    model.init_weights()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    seq, bsz = args.seq_len, args.batch
    budget = args.minutes * 60.0
    total = args.steps  # None: set from the measured step time after `calib` steps
    calib = 10
    log("training %s (%d parameters), batch %d x %d tokens, lr %g, %s" % (
        args.preset, sum(p.numel() for p in model.parameters()), bsz, seq, args.lr,
        ("%d steps" % total) if total else ("%.1f minutes" % args.minutes)))
    eval_small = eval_seqs[:: max(1, len(eval_seqs) // 48)][:48]
    history = []
    t_calib = t0 = time.time()
    step, ema, cut_short = 0, None, False
    while True:
        if total is not None and step >= total:
            break
        elapsed = time.time() - t0
        if args.steps is None and elapsed >= budget:
            cut_short = True
            break
        src = rng.choice(len(names), size=bsz, p=probs)
        x = np.empty((bsz, seq + 1), dtype=np.int64)
        for r, si in enumerate(src):
            st = streams[names[si]]
            start = int(rng.integers(0, len(st) - seq - 1))
            x[r] = st[start:start + seq + 1]
        x = torch.from_numpy(x)
        lr = lr_at(step, total if total is not None else 10 ** 9, args.warmup, args.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = float(loss) if ema is None else 0.98 * ema + 0.02 * float(loss)
        # Time-bounded: the step count is estimated from the speed of the last `calib` steps
        # (the first two are slower: allocation, caches) and estimated again every `calib`
        # steps, since the speed of shared cores changes; the schedule follows the estimate.
        if args.steps is None and step >= 2 and (step - 2) % calib == 0:
            now = time.time()
            if step > 2:
                per_step = (now - t_calib) / calib
                left = 0.97 * budget - (now - t0)
                total = max(step + 1, step + int(left / per_step))
                if step == 2 + calib:
                    log("%.2f s/step: about %d steps fit in %.1f minutes" % (
                        per_step, total, args.minutes))
            t_calib = now
        if step % args.log_every == 0 or step == total:
            el = time.time() - t0
            msg = "step %d/%s lr %.2e loss %.3f (ema %.3f) %.0f tok/s %.1f min" % (
                step, total, lr, float(loss), ema, step * bsz * seq / el, el / 60)
            entry = {"step": step, "minutes": round(el / 60, 2), "train_loss_ema": round(ema, 4)}
            if step % (args.log_every * 5) == 0 or step == total:
                res = batched_nll(model, eval_small, autocast=args.bf16)
                hl = sum(a for a, _ in res) / sum(b for _, b in res)
                msg += " heldout %.3f" % hl
                entry["heldout_loss_subset"] = round(hl, 4)
            history.append(entry)
            log(msg)
    minutes = (time.time() - t0) / 60
    log("trained %d steps (%d tokens) in %.1f minutes%s" % (
        step, step * bsz * seq, minutes, " (time ran out before the schedule ended)" if cut_short else ""))
    write_safetensors(os.path.join(out_dir, "model.safetensors"), model.hf_state_dict(),
                      torch.float32)
    return {"steps": step, "scheduled_steps": total, "cut_short": cut_short,
            "tokens_seen": step * bsz * seq, "minutes": round(minutes, 2),
            "mixture": {s: round(weights[s], 4) for s in names},
            "pretrain_tokens": {s: int(len(streams[s])) for s in names},
            "history": history}


# ----------------------------------------------------------------------------- evaluate
def byte_decoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def token_bytes(tok_dir):
    with open(os.path.join(tok_dir, "tokenizer.json"), encoding="utf-8") as f:
        doc = json.load(f)
    dec = byte_decoder()
    out = {}
    for piece, i in doc["model"]["vocab"].items():
        out[i] = len(bytes(dec[c] for c in piece))
    for t in doc["added_tokens"]:
        out[t["id"]] = 0
    return out


def evaluate(args, model_dir, eval_items, tok_dir):
    model = load_model(model_dir)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    res = batched_nll(model, [ids for _, ids in eval_items], autocast=False)
    nbytes = token_bytes(tok_dir)
    per = {}
    for (it, ids), (nll, n) in zip(eval_items, res):
        p = per.setdefault(it["source"], {"nll": 0.0, "tokens": 0, "bytes": 0, "items": 0})
        p["nll"] += nll
        p["tokens"] += n
        p["bytes"] += sum(nbytes[i] for i in ids[1:])
        p["items"] += 1
    report = {"sources": {}}
    for s, p in sorted(per.items()):
        report["sources"][s] = {"items": p["items"], "tokens": p["tokens"],
                                "perplexity": round(math.exp(p["nll"] / p["tokens"]), 2),
                                "bits_per_byte": round(p["nll"] / math.log(2) / p["bytes"], 3)}
    all_nll = sum(p["nll"] for p in per.values())
    all_tok = sum(p["tokens"] for p in per.values())
    all_bytes = sum(p["bytes"] for p in per.values())
    report["all"] = {"items": len(eval_items), "tokens": all_tok,
                     "perplexity": round(math.exp(all_nll / all_tok), 2),
                     "bits_per_byte": round(all_nll / math.log(2) / all_bytes, 3)}
    report["protocol"] = (
        "held-out items of each source in split order (sha256 of salt/source/group/id) until "
        "%d scored tokens per source; each item scored alone as [BOS] + its first %d tokens, "
        "every text token predicted; float32" % (args.eval_tokens, args.seq_len - 1))
    report["sample"] = [[it["source"], it["group"], it["id"]] for it, _ in eval_items]
    log("held-out perplexity %.2f (%.3f bits/byte) over %d tokens in %.0f s" % (
        report["all"]["perplexity"], report["all"]["bits_per_byte"], all_tok, time.time() - t0))
    for s, r in report["sources"].items():
        log("  %-10s ppl %8.2f  %.3f bits/byte  (%d tokens, %d items)" % (
            s, r["perplexity"], r["bits_per_byte"], r["tokens"], r["items"]))

    # The C++ runtime and this forward pass on the same ids.
    checks = []
    seen = set()
    for it, ids in eval_items:
        if it["source"] in seen or len(checks) >= 3:
            continue
        seen.add(it["source"])
        text = it["text"][:400]
        out = subprocess.run([args.oap, "score", "--model", model_dir, "--threads",
                              str(args.threads), "--text", text],
                             check=True, stdout=subprocess.PIPE).stdout.decode()
        j = json.loads(out.strip().splitlines()[-1])
        (nll, n), = batched_nll(model, [j["ids"]], autocast=False)
        py_lp = []
        with torch.no_grad():
            logits = model(torch.tensor([j["ids"][:-1]]))
            lp = torch.log_softmax(logits.float(), -1)[0]
            py_lp = [float(lp[i, j["ids"][i + 1]]) for i in range(len(j["ids"]) - 1)]
        max_tok = max(abs(a - b) for a, b in zip(py_lp, j["logprobs"][1:]))
        diff = abs(j["mean_nll"] - nll / n)
        checks.append({"source": it["source"], "id": it["id"], "tokens": n,
                       "oap_mean_nll": j["mean_nll"], "python_mean_nll": nll / n,
                       "abs_diff": diff, "max_token_logprob_diff": max_tok})
        log("oap score vs python on %s/%s (%d tokens): mean NLL %.6f vs %.6f, |diff| %.2e, "
            "max per-token %.2e" % (it["source"], it["id"], n, j["mean_nll"], nll / n, diff, max_tok))
        if diff > 1e-3:
            sys.exit("make_base_model: oap score and the Python model disagree by %.2e (> 1e-3)" % diff)
    report["runtime_check"] = checks

    samples = []
    for i, prompt in enumerate(PROMPTS):
        out = subprocess.run([args.oap, "generate", "--model", model_dir, "--prompt", prompt,
                              "--max-tokens", "48", "--temperature", "0.8", "--top-k", "40",
                              "--seed", str(i + 1), "--threads", str(args.threads)],
                             check=True, stdout=subprocess.PIPE).stdout.decode()
        j = json.loads(out.strip().splitlines()[-1])
        samples.append({"prompt": prompt, "continuation": j["text"], "seed": i + 1})
        log("sample: %r -> %r" % (prompt, j["text"]))
    report["samples"] = {"settings": "oap generate --max-tokens 48 --temperature 0.8 --top-k 40 "
                                     "--seed N", "texts": samples}
    return report


# ----------------------------------------------------------------------------- main
# Batch (sequences of --seq-len tokens) and peak learning rate. Small batches: on 2 busy cores
# a run sees only a few million tokens, so more optimizer steps beat larger batches.
PRESET_DEFAULTS = {
    "tiny": (8, 3e-3),
    "small": (4, 1e-3),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--oap", required=True, help="the oap tool (build/oap)")
    ap.add_argument("--corpus", required=True, help="corpus folder of scripts/fetch_corpora.sh")
    ap.add_argument("--work", required=True, help="cache folder for texts, tokenizers, tokens")
    ap.add_argument("--out", required=True, help="model folder to write")
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESET_DEFAULTS))
    ap.add_argument("--minutes", type=float, default=15.0, help="training time bound")
    ap.add_argument("--steps", type=int, help="train exactly this many steps (reproduces a run)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--no-bf16", dest="bf16", action="store_false",
                    help="train in float32 (default: bfloat16 autocast, float32 weights)")
    ap.add_argument("--eval-tokens", type=int, default=8192, help="held-out tokens per source")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--skip-train", action="store_true", help="evaluate the model in --out")
    args = ap.parse_args()
    args.batch = args.batch or PRESET_DEFAULTS[args.preset][0]
    args.lr = args.lr or PRESET_DEFAULTS[args.preset][1]
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    args.oap = os.path.abspath(args.oap)
    os.makedirs(args.work, exist_ok=True)
    t_start = time.time()

    texts_dir, texts_stamp = step_texts(args.corpus, args.work)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    if not args.skip_train:
        # config.json and generation_config.json from the preset, by the C++ tool.
        run([args.oap, "init-model", "--preset", args.preset, "--out", out, "--no-tokenizer"],
            stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    tok_dir = step_tokenizer(args.oap, texts_dir, texts_stamp, cfg["vocab_size"], args.work)
    tokens_dir = step_tokens(args.oap, texts_dir, tok_dir, args.work)
    prep_minutes = (time.time() - t_start) / 60
    eval_items = heldout_sample(texts_dir, tokens_dir, args.eval_tokens, args.seq_len)

    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tok_dir, name), os.path.join(out, name))
    with open(os.path.join(tok_dir, "tokenizer.json"), encoding="utf-8") as f:
        added = {t["content"]: t["id"] for t in json.load(f)["added_tokens"]}
    cfg["bos_token_id"] = added[BOS]
    cfg["eos_token_id"] = [added[BOS], added["<|im_end|>"]]
    write_json(os.path.join(out, "config.json"), cfg)
    write_json(os.path.join(out, "generation_config.json"), {
        "bos_token_id": added[BOS], "eos_token_id": cfg["eos_token_id"], "do_sample": False,
        "max_new_tokens": 64})

    training_path = os.path.join(out, "training.json")
    if args.skip_train:
        with open(training_path, encoding="utf-8") as f:
            training = json.load(f)
    else:
        result = train(args, cfg, tokens_dir, [ids for _, ids in eval_items], out)
        with open(os.path.join(args.corpus, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        training = {
            "command": "scripts/make_base_model.sh --preset %s %s --seed %d" % (
                args.preset, ("--steps %d" % args.steps) if args.steps else
                ("--minutes %g" % args.minutes), args.seed),
            "reproduce": "scripts/make_base_model.sh --preset %s --steps %d --seed %d "
                         "(same threads and torch build for identical weights)" % (
                             args.preset, result["steps"], args.seed),
            "preset": args.preset, "seed": args.seed, "threads": args.threads,
            "torch": torch.__version__, "seq_len": args.seq_len, "batch": args.batch,
            "lr": args.lr, "warmup": args.warmup, "schedule": "linear warmup, cosine to 10%",
            "optimizer": "AdamW betas (0.9, 0.95) eps 1e-8, weight decay %g on matrices, "
                         "gradient clipping 1.0" % args.weight_decay,
            "precision": "bfloat16 autocast, float32 weights" if args.bf16 else "float32",
            "data_prep_minutes": round(prep_minutes, 2),
            "corpus_packages": [{k: p[k] for k in ("registry", "name", "version", "sha256")}
                                for p in manifest["packages"]],
            "tokenizer_sha256": sha256_file(os.path.join(out, "tokenizer.json")),
            **result,
        }
        write_json(training_path, training)
    report = evaluate(args, out, eval_items, tok_dir)
    training["evaluation"] = report
    write_json(training_path, training)
    log("wrote %s (%.1f MB); total %.1f minutes" % (
        out, os.path.getsize(os.path.join(out, "model.safetensors")) / 1e6,
        (time.time() - t_start) / 60))


if __name__ == "__main__":
    main()
