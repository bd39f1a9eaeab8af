#!/usr/bin/python3
"""Plots the personalization evaluation's curves (the "curves" of docs/evaluation.json, written by
bench/personalization_eval) as PNG files:

  eval_shift.png  around a shift (event 0 = the first event of the new behaviour), big and
                  subtle switches: the adapter's NLL on held-out texts of the new behaviour
                  minus the reference adapter's (top), and the prequential NLL of each event
                  minus the static policy's on the same event (bottom, 5-event moving mean:
                  the text's own difficulty cancels out);
  eval_blip.png   around a blip (event 0 = its first event): the change of the adapter's NLL on
                  held-out normal texts of the user since just before the blip (left), and the
                  prequential NLL minus the static policy's (right).

and prints the results table of docs/evaluation.md (markdown) to stdout.

Tooling: Debian's python3-matplotlib (apt-get install python3-matplotlib).
Usage: plot_eval.py EVALUATION_JSON [--out-dir DIR] [--table-only]
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


def plot(ax, curves, section, key, title, ylabel, smoothing=False, minus_static=False):
    for name, label, color in POLICIES:
        c = curves[name][section]
        v = values(c[key])
        if minus_static:
            # The same events under the static policy: what the text itself costs cancels out.
            v = [a - b for a, b in zip(v, values(curves["static"][section][key]))]
        if smoothing:
            v = smooth(v)
        x = list(range(c["from"], c["from"] + len(v)))
        ax.plot(x, v, label=label, color=color, linewidth=1.6)
    ax.axvline(0, color="black", linewidth=0.8, linestyle=":")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("events relative to " + ("the shift" if section == "shift" else "the blip"))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def fmt(spread, digits):
    m, sd = spread["mean"], spread["std"]
    if m is None:
        return "n/a"
    return f"{m:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def table(report):
    """The headline metrics (mean ± standard deviation over seeds) and a few extras."""
    rows = [("adaptation delay (events)", "spread", "adaptation_delay", 1),
            ("adaptation delay, big switches", "extra", "adaptation_delay_big", 1),
            ("adaptation delay, subtle switches", "extra", "adaptation_delay_subtle", 1),
            ("recovered within the stream (share)", "extra", "recovered_share", 2),
            ("delay to half the reference's gain", "extra", "adaptation_delay_half", 1),
            ("blip damage (nats)", "spread", "blip_damage", 3),
            ("blip damage, prequential (nats)", "extra", "blip_damage_prequential", 3),
            ("false updates (per stream)", "spread", "false_updates", 1),
            ("false alarms (per stream)", "extra", "false_alarms", 1),
            ("update steps (per stream)", "spread", "update_steps", 0),
            ("updates (accepted)", "extra", "updates", 1),
            ("mean NLL (nats)", "spread", "mean_nll", 4),
            ("NLL after the shift (nats)", "extra", "nll_after_shift", 4),
            ("wall time per stream (s)", "extra", "wall_seconds", 0)]
    p = report["policies"]
    lines = ["| metric | " + " | ".join(label for _, label, _ in POLICIES) + " |",
             "|---|" + "---|" * len(POLICIES)]
    for label, where, key, digits in rows:
        cells = []
        for name, _, _ in POLICIES:
            cell = fmt(p[name][where][key], digits)
            if key == "updates":
                cell += f" ({p[name]['extra']['updates_accepted']['mean']:.1f})"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("evaluation")
    ap.add_argument("--out-dir", default="docs/img")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args()
    with open(args.evaluation) as f:
        report = json.load(f)
    print(table(report))
    if args.table_only:
        return
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
    plot(axes[1][0], curves, "shift", "nll_big", "big switches: prequential NLL minus static's",
         "nats (5-event mean)", smoothing=True, minus_static=True)
    plot(axes[1][1], curves, "shift", "nll_subtle", "subtle switches: the same",
         "nats (5-event mean)", smoothing=True, minus_static=True)
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
    plot(axes[1], curves, "blip", "nll", "prequential NLL minus static's on the same events",
         "nats (5-event mean)", smoothing=True, minus_static=True)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Around a blip ({n_blip} blip users; {tag})", fontsize=11)
    fig.tight_layout()
    path = os.path.join(args.out_dir, "eval_blip.png")
    fig.savefig(path, dpi=110)
    print("wrote", path)


if __name__ == "__main__":
    main()
