#!/usr/bin/python3
"""scikit-learn on the same data as bench/detector_quality, for comparison.

Usage:
  build-rel/bench/detector_quality --dump /tmp/oap_detect   # writes the data and oap's timings
  /usr/bin/python3 bench/detector_sklearn.py /tmp/oap_detect

Reads (all written by detector_quality --dump):
  breast_cancer_stream.csv  label, 30 features: the Wisconsin breast-cancer rows shipped by
                            python3-sklearn (357 benign = normal, every 10th malignant = outlier)
  throughput_d16.csv        256 training rows then 20000 rows to score, d = 16, N(0, I)
  oap_throughput.json       oap's score_batch points/s on the same rows (thread CPU time)
Prints (Markdown):
  - ROC-AUC / PR-AUC of IsolationForest.score_samples (negated: higher = more abnormal) and
    EmpiricalCovariance().mahalanobis, fit on all rows and scoring all rows (as
    detector_quality's "batch" column);
  - points/s scoring the 20000 rows after fitting on the 256 training rows:
    IsolationForest(n_estimators=100, max_samples=256) and EmpiricalCovariance, single thread
    (n_jobs=1), thread CPU time, best of 5; and oap / sklearn ratios.
Needs Debian's python3-sklearn (run with /usr/bin/python3).
"""
import json
import os
import sys
import time

# One thread for BLAS/OpenMP too: thread CPU time would otherwise miss the helper threads'
# work, and oap's numbers are single-threaded.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
from sklearn.covariance import EmpiricalCovariance  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402


def best_time(fn, reps=5):
    best = float("inf")
    for _ in range(reps):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    bc = np.loadtxt(os.path.join(d, "breast_cancer_stream.csv"), delimiter=",")
    y, x = bc[:, 0].astype(int), bc[:, 1:]
    print(f"### scikit-learn {__import__('sklearn').__version__}, numpy {np.__version__}\n")
    print(f"Breast cancer: {len(y)} rows, {y.sum()} outliers, d = {x.shape[1]} "
          "(fit all, score all)\n")
    print("| model | ROC-AUC | PR-AUC |\n|---|---|---|")
    iso = IsolationForest(n_estimators=100, max_samples=256, random_state=0).fit(x)
    s = -iso.score_samples(x)
    print(f"| IsolationForest | {roc_auc_score(y, s):.3f} | {average_precision_score(y, s):.3f} |")
    s = EmpiricalCovariance().fit(x).mahalanobis(x)
    print(f"| EmpiricalCovariance.mahalanobis | {roc_auc_score(y, s):.3f} | "
          f"{average_precision_score(y, s):.3f} |")

    rows = np.loadtxt(os.path.join(d, "throughput_d16.csv"), delimiter=",")
    train, score = rows[:256], rows[256:]
    oap = json.load(open(os.path.join(d, "oap_throughput.json")))
    iso = IsolationForest(n_estimators=100, max_samples=256, random_state=0, n_jobs=1).fit(train)
    cov = EmpiricalCovariance().fit(train)
    t_iso = best_time(lambda: iso.score_samples(score))
    t_cov = best_time(lambda: cov.mahalanobis(score))
    n = len(score)
    print(f"\nThroughput, d = 16, {n} points scored in one call (thread CPU time, best of 5)\n")
    print("| model | scikit-learn points/s | oap score_batch points/s | oap / sklearn |")
    print("|---|---|---|---|")
    for name, t, key in (("isolation forest (100 trees, 256)", t_iso, "isolation_forest"),
                         ("Mahalanobis", t_cov, "mahalanobis")):
        ours = oap[key]["points_per_second"]
        print(f"| {name} | {n / t:,.0f} | {ours:,.0f} | {ours / (n / t):.2f} |")


if __name__ == "__main__":
    main()
