#!/usr/bin/env python3
"""Writes examples/data/events.jsonl: a small, deterministic behaviour stream of three users.

alice is steady; bob's behaviour shifts for good half-way through (a sustained deviation);
carol has one wild event (a transient blip) and is otherwise steady. Features per event:
[session_minutes, messages, topic_score]. Run from the repository root.
"""
import datetime
import json
import random

rng = random.Random(7)
start = datetime.datetime(2024, 5, 1, 8, 0, 0, tzinfo=datetime.timezone.utc)
events = []
for i in range(150):
    t = start + datetime.timedelta(hours=4 * i)
    def ts(minutes):
        return (t + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events.append({"user": "alice", "timestamp": ts(0),
                   "features": [round(rng.gauss(30, 4), 3), round(rng.gauss(12, 2), 3),
                                round(rng.gauss(0.2, 0.05), 3)],
                   "text": "asks about linear algebra homework"})
    shifted = i >= 75
    events.append({"user": "bob", "timestamp": ts(1),
                   "features": [round(rng.gauss(55 if shifted else 20, 4), 3),
                                round(rng.gauss(30 if shifted else 8, 2), 3),
                                round(rng.gauss(0.9 if shifted else 0.1, 0.05), 3)],
                   "text": "asks about job interviews" if shifted else "asks about cooking",
                   "meta": {"phase": "after" if shifted else "before"}})
    blip = i == 90
    events.append({"user": "carol", "timestamp": ts(2),
                   "features": [round(rng.gauss(240 if blip else 15, 3), 3),
                                round(rng.gauss(80 if blip else 5, 1), 3),
                                round(rng.gauss(0.95 if blip else 0.3, 0.05), 3)],
                   "text": "late-night outburst" if blip else "asks about gardening"})
with open("examples/data/events.jsonl", "w") as f:
    for e in events:
        f.write(json.dumps(e, separators=(",", ":")) + "\n")
print(f"wrote {len(events)} events")
