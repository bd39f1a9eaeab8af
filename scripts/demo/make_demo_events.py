#!/usr/bin/env python3
"""Writes the demo's event stream, examples/data/personalization.jsonl: six users whose texts are
WordNet glosses (held out of the shipped model's pretraining, per the corpus manifest) of one
topic domain each, with two numeric features (minutes in the session, messages sent).

  stable users  ada (food), ben (animals): never change;
  shift users   cleo: food -> money and possessions at event 40, with longer sessions;
                dev:  the body -> communication at event 45, with many more messages;
  blip user     eli (plants): one event about artifacts, with a spike in both features, at 50;
  fran (feelings): stable, a quieter stream.

Tooling, not the library: needs the corpus cache of scripts/fetch_corpora.sh (default
.cache/corpora, or $OAP_CACHE/corpora). Seeded: the same cache gives the same file.

Usage: make_demo_events.py [--cache DIR] [--out FILE] [--events N]
"""
import argparse
import hashlib
import json
import os
import random

USERS = {
    # user: (domain, shift domain or None, shift event, feature shift)
    "ada": ("noun.food", None, None, None),
    "ben": ("noun.animal", None, None, None),
    "cleo": ("noun.food", "noun.possession", 40, (12.0, 0.0)),
    "dev": ("noun.body", "noun.communication", 45, (0.0, 9.0)),
    "eli": ("noun.plant", "noun.artifact", 50, "blip"),
    "fran": ("noun.feeling", None, None, None),
}
BASE = {"minutes": (20.0, 3.0), "messages": (12.0, 2.0)}


def load_domain(cache, domain, heldout):
    path = os.path.join(cache, "text", "wordnet", domain + ".jsonl")
    items = []
    with open(path) as f:
        for line in f:
            item = json.loads(line)
            text = item["text"]
            if item["id"] in heldout and 40 <= len(text) <= 220:
                items.append(text)
    items.sort(key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    return items


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cache_default = os.path.join(os.environ.get("OAP_CACHE", os.path.join(root, ".cache")), "corpora")
    ap.add_argument("--cache", default=cache_default)
    ap.add_argument("--out", default=os.path.join(root, "examples", "data", "personalization.jsonl"))
    ap.add_argument("--events", type=int, default=80, help="events per user")
    args = ap.parse_args()
    manifest = json.load(open(os.path.join(args.cache, "manifest.json")))
    groups = manifest["sources"]["wordnet"]["groups"]
    rng = random.Random(7)
    texts, used = {}, {}
    for domain in {d for u in USERS.values() for d in (u[0], u[1]) if d}:
        texts[domain] = load_domain(args.cache, domain, set(groups[domain]["heldout"]))
        used[domain] = 0

    def take(domain):
        t = texts[domain][used[domain] % len(texts[domain])]
        used[domain] += 1
        return t

    events = []
    start = 1_764_000_000  # 2025-11-24
    for i in range(args.events):
        for user, (domain, other, at, shift) in USERS.items():
            d, extra = domain, (0.0, 0.0)
            if other and at is not None:
                if shift == "blip":
                    if i == at:
                        d, extra = other, (35.0, 30.0)
                elif i >= at:
                    d, extra = other, shift
            minutes = rng.gauss(*BASE["minutes"]) + extra[0]
            messages = rng.gauss(*BASE["messages"]) + extra[1]
            events.append({
                "user": user,
                "timestamp": start + i * 3600 + rng.randint(0, 600),
                "features": [round(minutes, 2), round(messages, 2)],
                "text": take(d),
                "meta": {"domain": d},
            })
    events.sort(key=lambda e: (e["timestamp"], e["user"]))
    with open(args.out, "w") as f:
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    print(f"wrote {len(events)} events of {len(USERS)} users to {args.out}")


if __name__ == "__main__":
    main()
