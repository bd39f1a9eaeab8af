#!/usr/bin/env python3
"""Writes the personalization evaluation's event streams (bench/personalization_eval reads them):
simulated users whose texts are real grouped text held out of the base model's pretraining
(Brown genres, WordNet lexicographer files, fortune categories, factbook sections, Gutenberg
authors), with two numeric features per event (minutes in the session, messages sent) that move
with the behaviour.

  shift users   the source switches for good at a known event: "big" switches change source
                (and the features a lot), "subtle" ones move to a close group of the same
                source (two Brown genres, two authors; the features a little);
  blip users    one to three consecutive events from elsewhere (with a spike in the features),
                then back to normal;
  stable users  never change.

Two disjoint scenario sets: "report" (the reported results) and "tune" (for tuning defaults);
no corpus group is used by both. Within a set, the seed picks the users' scenarios, shift and
blip events, feature levels and passage order, so different seeds give different streams.

Each event is an oap event (docs/file-formats.md) with the ground truth in "meta": kind,
scenario, source group of this event ("group"), shift_event / blip_events, and phase ("before",
"after", "blip", "normal"). Beside FILE, FILE's stem + ".users.json" holds per user the ground
truth and text pools that never appear in the stream: "reference" (texts of the new behaviour to
train a reference adapter on) and "probe_new" / "probe_normal" (texts to measure the adapter on).

Texts are passages of 100-240 characters (whole sentences; short items such as glosses and
fortunes are joined) cut from the held-out items only (corpora/manifest.json "heldout").

Tooling, not the library: stdlib only; needs the corpus cache of scripts/fetch_corpora.sh
(default .cache/corpora, or $OAP_CACHE/corpora). Seeded: the same cache and arguments give the
same files.

Usage: make_eval_streams.py --out FILE [--set report|tune] [--seed N] [--users-per-kind ...]
"""
import argparse
import hashlib
import json
import os
import random
import re
import sys

# Scenarios: (source, group) pairs. Big shifts cross sources; subtle ones stay in one source.
SETS = {
    "report": {
        "shift_big": [
            (("wordnet", "noun.food"), ("brown", "news")),
            (("brown", "romance"), ("factbook", "Economy")),
            (("fortunes", "computers"), ("gutenberg", "bible-kjv")),
            (("gutenberg", "austen"), ("wordnet", "noun.animal")),
            (("factbook", "Geography"), ("fortunes", "people")),
        ],
        "shift_subtle": [
            (("brown", "news"), ("brown", "editorial")),
            (("brown", "mystery"), ("brown", "adventure")),
            (("gutenberg", "austen"), ("gutenberg", "edgeworth")),
            (("wordnet", "noun.animal"), ("wordnet", "noun.plant")),
            (("fortunes", "politics"), ("fortunes", "anarchism")),
        ],
        "blip": [
            (("brown", "lore"), ("wordnet", "verb.motion")),
            (("gutenberg", "melville"), ("factbook", "Military")),
            (("wordnet", "noun.artifact"), ("fortunes", "zippy")),
            (("factbook", "People and Society"), ("gutenberg", "shakespeare")),
        ],
        "stable": [
            (("wordnet", "noun.person"), None),
            (("brown", "learned"), None),
            (("gutenberg", "twain"), None),
            (("fortunes", "cookie"), None),
        ],
    },
    "tune": {
        "shift_big": [
            (("wordnet", "noun.act"), ("brown", "government")),
            (("brown", "hobbies"), ("fortunes", "science")),
            (("factbook", "Transportation"), ("gutenberg", "doyle")),
            (("gutenberg", "chesterton"), ("factbook", "Communications")),
        ],
        "shift_subtle": [
            (("brown", "fiction"), ("brown", "belles_lettres")),
            (("gutenberg", "whitman"), ("gutenberg", "bryant")),
            (("wordnet", "noun.body"), ("wordnet", "noun.substance")),
            (("fortunes", "work"), ("fortunes", "definitions")),
        ],
        "blip": [
            (("brown", "religion"), ("wordnet", "verb.contact")),
            (("gutenberg", "shelley"), ("factbook", "Energy")),
            (("wordnet", "noun.location"), ("fortunes", "songs-poems")),
        ],
        "stable": [
            (("wordnet", "noun.cognition"), None),
            (("gutenberg", "douglass"), None),
            (("gutenberg", "machiavelli"), None),
        ],
    },
}
KINDS = ["shift_big", "shift_subtle", "blip", "stable"]

MIN_CHARS, TARGET_CHARS, MAX_CHARS = 100, 160, 240
REFERENCE_TEXTS, PROBE_TEXTS = 36, 12
SENTENCE_END = re.compile(r"(?<=[.!?;:\"'])\s+")


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def pieces(text):
    """A text's sentences (or lines of verse), each at most MAX_CHARS (cut at a space)."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        for s in SENTENCE_END.split(para):
            s = " ".join(s.split())
            while len(s) > MAX_CHARS:
                cut = s.rfind(" ", 0, MAX_CHARS)
                cut = cut if cut > MAX_CHARS // 2 else MAX_CHARS
                out.append(s[:cut])
                s = s[cut:].strip()
            if s:
                out.append(s)
    return out


def passages(items):
    """Passages of MIN_CHARS..MAX_CHARS chars (about TARGET_CHARS) from consecutive pieces of the
    items, in order. A passage never spans a long item's end; short items (glosses, fortunes)
    are joined."""
    out, cur = [], []

    def flush():
        text = " ".join(cur)
        if len(text) >= MIN_CHARS:
            out.append(text)
        cur.clear()

    for text in items:
        ps = pieces(text)
        long_item = sum(len(p) + 1 for p in ps) >= 2 * MIN_CHARS
        if long_item:
            flush()
        for p in ps:
            if cur and len(" ".join(cur)) + 1 + len(p) > MAX_CHARS:
                flush()
            cur.append(p)
            if len(" ".join(cur)) >= TARGET_CHARS:
                flush()
        if long_item:
            flush()
    flush()
    return out


class Corpus:
    """Held-out passages per (source, group), read once."""

    def __init__(self, cache):
        self.cache = cache
        path = os.path.join(cache, "manifest.json")
        if not os.path.exists(path):
            sys.exit(f"make_eval_streams: {path} not found: run scripts/fetch_corpora.sh first")
        with open(path) as f:
            self.manifest = json.load(f)
        self.loaded = {}

    def get(self, key):
        if key in self.loaded:
            return self.loaded[key]
        source, group = key
        try:
            g = self.manifest["sources"][source]["groups"][group]
        except KeyError:
            sys.exit(f"make_eval_streams: no group {source}/{group} in the corpus manifest")
        heldout = set(g["heldout"])
        file = os.path.join(self.cache, "text", source, group + ".jsonl")
        items = []
        with open(file) as f:
            for n, line in enumerate(f, 1):
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"make_eval_streams: {file}:{n}: bad JSON ({e})")
                if item["id"] in heldout:
                    items.append(item)
        # The split's own order (sha256 of the id) keeps the result independent of file order.
        items.sort(key=lambda it: sha(f"{source}/{group}/{it['id']}"))
        self.loaded[key] = passages([it["text"] for it in items])
        return self.loaded[key]


def group_name(key):
    return f"{key[0]}/{key[1]}"


class Pool:
    """One user's draws from a group: a seeded permutation, each passage used once."""

    def __init__(self, texts, rng, what):
        self.texts = list(texts)
        rng.shuffle(self.texts)
        self.next = 0
        self.what = what

    def take(self, n=1):
        if self.next + n > len(self.texts):
            sys.exit(f"make_eval_streams: {self.what} has only {len(self.texts)} held-out "
                     f"passages, fewer than the stream needs: use fewer events")
        out = self.texts[self.next:self.next + n]
        self.next += n
        return out


def feature_profile(rng):
    return [rng.uniform(12.0, 30.0), rng.uniform(6.0, 18.0)]


def make_user(name, kind, scenario, corpus, rng, events):
    base, other = scenario
    pools = {base: Pool(corpus.get(base), rng, group_name(base))}
    if other:
        pools[other] = Pool(corpus.get(other), rng, group_name(other))
    mean = feature_profile(rng)
    sd = [mean[0] * 0.15, mean[1] * 0.15]
    truth = {"user": name, "kind": kind, "group": group_name(base),
             "other_group": group_name(other) if other else None,
             "shift_event": None, "blip_events": []}
    shift_at, blips, delta = None, [], [0.0, 0.0]
    if kind.startswith("shift"):
        shift_at = rng.randint(int(events * 0.4), int(events * 0.55))
        # big: the features move 2.5-4 standard deviations; subtle: 0.5-1.
        scale = rng.uniform(2.5, 4.0) if kind == "shift_big" else rng.uniform(0.5, 1.0)
        delta = [s * scale * rng.choice([-1, 1]) for s in sd]
        truth["shift_event"] = shift_at
    elif kind == "blip":
        start = rng.randint(int(events * 0.4), int(events * 0.6))
        blips = list(range(start, start + rng.randint(1, 3)))
        truth["blip_events"] = blips
    rows = []
    for i in range(events):
        group, phase, extra = base, "normal", [0.0, 0.0]
        if shift_at is not None:
            phase = "after" if i >= shift_at else "before"
            if i >= shift_at:
                group, extra = other, delta
        elif i in blips:
            group, phase = other, "blip"
            extra = [s * rng.uniform(4.0, 6.0) for s in sd]
        f = [max(0.0, rng.gauss(mean[k] + extra[k], sd[k])) for k in range(2)]
        meta = {"kind": kind, "group": group_name(group), "phase": phase,
                "scenario": f"{group_name(base)} -> {group_name(other)}" if other else
                group_name(base)}
        if shift_at is not None:
            meta["shift_event"] = shift_at
        if blips:
            meta["blip_events"] = blips
        rows.append((i, [round(f[0], 2), round(f[1], 2)], pools[group].take()[0], meta))
    # Pools kept apart from the stream: the new behaviour (reference training, probes) and the
    # user's normal text (probes).
    if kind.startswith("shift"):
        truth["reference"] = pools[other].take(REFERENCE_TEXTS)
        truth["probe_new"] = pools[other].take(PROBE_TEXTS)
    truth["probe_normal"] = pools[base].take(PROBE_TEXTS)
    return truth, rows


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=os.path.join(
        os.environ.get("OAP_CACHE", os.path.join(root, ".cache")), "corpora"))
    ap.add_argument("--out", required=True, help="the events file (JSON Lines)")
    ap.add_argument("--set", choices=sorted(SETS), default="report")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--events", type=int, default=90, help="events per user")
    ap.add_argument("--users-per-kind", default="2,2,2,2",
                    help="users of each kind: shift_big,shift_subtle,blip,stable")
    args = ap.parse_args()
    counts = [int(x) for x in args.users_per_kind.split(",")]
    if len(counts) != 4 or min(counts) < 0:
        sys.exit("make_eval_streams: --users-per-kind takes four counts, e.g. 2,2,2,2")
    if args.events < 20:
        sys.exit("make_eval_streams: --events must be at least 20")
    used = {s: {g for k in KINDS for sc in SETS[s][k] for g in sc if g} for s in SETS}
    shared = used["report"] & used["tune"]
    assert not shared, f"tune and report sets share groups: {shared}"

    corpus = Corpus(args.cache)
    # The set's name is part of the seed: "tune" seed 1 is not "report" seed 1.
    rng = random.Random(f"oap-eval/{args.set}/{args.seed}")
    users, events = [], []
    start = 1_764_000_000  # 2025-11-24
    for kind, n in zip(KINDS, counts):
        scenarios = SETS[args.set][kind]
        if n > len(scenarios):
            sys.exit(f"make_eval_streams: the {args.set} set has {len(scenarios)} {kind} "
                     f"scenarios, fewer than {n}")
        for j, scenario in enumerate(rng.sample(scenarios, n)):
            name = f"{kind.replace('shift_', '')}{j + 1}"
            truth, rows = make_user(name, kind, scenario, corpus,
                                    random.Random(f"{args.set}/{args.seed}/{name}"), args.events)
            users.append(truth)
            for i, features, text, meta in rows:
                events.append({"user": name,
                               "timestamp": start + i * 3600 + rng.randint(0, 600),
                               "features": features, "text": text, "meta": meta})
    events.sort(key=lambda e: (e["timestamp"], e["user"]))
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    stem = args.out[:-6] if args.out.endswith(".jsonl") else args.out
    sidecar = stem + ".users.json"
    # Atomic: a temp file beside, renamed over.
    for path, write in ((args.out, lambda f: [f.write(json.dumps(e, ensure_ascii=False) + "\n")
                                              for e in events]),
                        (sidecar, lambda f: json.dump(
                            {"set": args.set, "seed": args.seed, "events_per_user": args.events,
                             "users": users}, f, ensure_ascii=False, indent=1))):
        tmp = f"{path}.{os.getpid()}.tmp"  # two runs may write the same stream at once
        with open(tmp, "w") as f:
            write(f)
        os.replace(tmp, path)
    print(f"wrote {len(events)} events of {len(users)} users ({args.set} set, seed {args.seed}) "
          f"to {args.out}, ground truth and text pools to {sidecar}")


if __name__ == "__main__":
    main()
