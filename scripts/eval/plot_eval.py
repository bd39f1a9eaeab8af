#!/usr/bin/env python3
"""Plots the personalization evaluation's curves (the "curves" of docs/evaluation.json, written by
bench/personalization_eval) as PNG files:

  eval_shift.png  around a shift (event 0 = the first event of the new behaviour), big and
                  subtle switches: the adapter's NLL on held-out texts of the new behaviour
                  minus the reference adapter's (top), and the prequential NLL of each event
                  (bottom, 5-event moving mean);
  eval_blip.png   around a blip (event 0 = its first event): the change of the adapter's NLL on
                  held-out normal texts of the user since just before the blip (left), and the
                  prequential NLL (right).

Tooling: Debian's python3-matplotlib (apt-get install python3-matplotlib).
Usage: plot_eval.py EVALUATION_JSON [--out-dir DIR]
"""
import argparse
import json
import math
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_eval.py: needs matplotlib (Debian: apt-get install python3-matplotlib)")

POLICIES = [("static", "static", "tab:gray"), ("periodic", "periodic", "tab:blue"),
            ("noise_filtered", "noise-filtered", "tab:green"),
            ("outlier_aware", "outlier-aware", "tab:red")]


def values(curve):
    return [math.nan if v is None else v for v in curve]


def smooth(v, k=5):
    out = []
    for i in range(len(v)):
        w = [x for x in v[max(0, i - k // 2): i + k // 2 + 1] if not math.isnan(x)]
        out.append(sum(w) / len(w) if w else math.nan)
    return out


def plot(ax, curves, section, key, title, ylabel, smoothing=False):
    for name, label, color in POLICIES:
        c = curves[name][section]
        v = values(c[key])
        if smoothing:
            v = smooth(v)
        x = list(range(c["from"], c["from"] + len(v)))
        ax.plot(x, v, label=label, color=color, linewidth=1.6)
    ax.axvline(0, color="black", linewidth=0.8, linestyle=":")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("events relative to " + ("the shift" if section == "shift" else "the blip"))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("evaluation")
    ap.add_argument("--out-dir", default="docs/img")
    args = ap.parse_args()
    with open(args.evaluation) as f:
        report = json.load(f)
    curves = report["curves"]
    os.makedirs(args.out_dir, exist_ok=True)
    n_shift = curves["outlier_aware"]["shift"]["users"]
    n_blip = curves["outlier_aware"]["blip"]["users"]
    tag = f"{report['model']}, {report['seeds']} seeds"

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    plot(axes[0][0], curves, "shift", "probe_new_excess_big", "big switches: NLL on the new "
         "behaviour minus the reference's", "nats")
    plot(axes[0][1], curves, "shift", "probe_new_excess_subtle", "subtle switches: the same",
         "nats")
    plot(axes[1][0], curves, "shift", "nll_big", "big switches: prequential NLL of each event",
         "nats (5-event mean)", smoothing=True)
    plot(axes[1][1], curves, "shift", "nll_subtle", "subtle switches: prequential NLL",
         "nats (5-event mean)", smoothing=True)
    for ax in axes[0]:
        ax.axhline(0, color="black", linewidth=0.6)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Around a shift ({n_shift} shift users; {tag})", fontsize=11)
    fig.tight_layout()
    path = os.path.join(args.out_dir, "eval_shift.png")
    fig.savefig(path, dpi=110)
    print("wrote", path)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    plot(axes[0], curves, "blip", "probe_normal_change", "NLL on the user's normal text, change "
         "since just before the blip", "nats")
    axes[0].axhline(0, color="black", linewidth=0.6)
    plot(axes[1], curves, "blip", "nll", "prequential NLL of each event", "nats (5-event mean)",
         smoothing=True)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Around a blip ({n_blip} blip users; {tag})", fontsize=11)
    fig.tight_layout()
    path = os.path.join(args.out_dir, "eval_blip.png")
    fig.savefig(path, dpi=110)
    print("wrote", path)


if __name__ == "__main__":
    main()
