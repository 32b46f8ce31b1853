"""Quick experiment loop for the injection head (no ONNX export).

    OMP_NUM_THREADS=1 nice -n 15 models/.venv/bin/python models/sweep.py \
        --cfg '{"max_n": 6}' --cfg '{"max_n": 7, "c": 8}'

Builds the training rows exactly as `train.py` does, fits the injection head
the same way (80% split, class-balanced L2 logistic regression, optional MIL
round) for each JSON config, and prints recall at 1% FPR / ROC AUC on the
injection dev measurements from float weights (ranking metrics, so Platt
scaling and int8 rounding are left out; int8 moves them by < 0.02). Measure
only: dev rows are never trained on. Config keys: min_n, max_n, buckets,
window, stride, c, mil_rounds, mil_margin, norm_pow.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

import ngram
import train

DEFAULT = {"min_n": 2, "max_n": 5, "buckets": ngram.NUM_BUCKETS, "window": 128, "stride": 96, "c": 4.0,
           "mil_rounds": 1, "mil_margin": 2.0, "norm_pow": 0.5}


def featurize_texts(tok, texts, focus=None):
    ids, owners = [], []
    for j, t in enumerate(texts):
        f = focus[j] if focus is not None else None
        for w in train.window_ids(tok, t, f):
            ids.append(w)
            owners.append(j)
    return ids, np.array(owners)


def run(cfg, rows, tok, sets, cache):
    ngram.MIN_N, ngram.MAX_N, ngram.NORM_POW = cfg["min_n"], cfg["max_n"], cfg["norm_pow"]
    train.WINDOW, train.STRIDE = cfg["window"], cfg["stride"]
    v, nb = ngram.vocab_size(tok), cfg["buckets"]
    t0 = time.time()
    key = (cfg["min_n"], cfg["max_n"], nb, cfg["window"], cfg["stride"], cfg["norm_pow"], len(rows))
    if key not in cache:
        rng = np.random.default_rng(train.SEED)
        use = [r for r in rows if r["inj"] is not None]
        idx = rng.permutation(len(use))
        fit_rows = [use[i] for i in idx[: int(0.8 * len(use))]]
        ids, own = featurize_texts(tok, [r["text"] for r in fit_rows],
                                   [r["focus"] if r["inj"] == 1 else None for r in fit_rows])
        x = ngram.featurize(ids, v, nb)
        y = np.array([fit_rows[o]["inj"] for o in own])
        dev = {}
        for name, pos, neg in sets:
            for t in pos + neg:
                dev.setdefault(t, None)
        dtexts = list(dev)
        dids, down = featurize_texts(tok, dtexts)
        xd = ngram.featurize(dids, v, nb)
        cache.clear()
        cache[key] = (x, y, own, len(fit_rows), dtexts, xd, down)
        print(f"  featurized in {time.time() - t0:.0f}s: {x.shape[0]} fit windows, {xd.shape[0]} dev windows", flush=True)
    x, y, own, nfit, dtexts, xd, down = cache[key]
    w, b = train.fit_head(x, y, cfg["c"])
    for _ in range(cfg["mil_rounds"]):
        z = x @ w + b
        best = np.full(nfit, -np.inf)
        np.maximum.at(best, own, z)
        keep = (y == 0) | (z >= best[own] - cfg["mil_margin"])
        w, b = train.fit_head(x[keep], y[keep], cfg["c"])
    zd = xd @ w + b
    best = np.full(len(dtexts), -np.inf)
    np.maximum.at(best, down, zd)
    score = dict(zip(dtexts, best))
    res = {}
    for name, pos, neg in sets:
        sp = np.array([score[t] for t in pos])
        sn = np.array([score[t] for t in neg])
        yy = np.r_[np.ones(len(sp)), np.zeros(len(sn))]
        s = np.r_[sp, sn]
        rec, _ = train.recall_at_fpr(yy, s)
        res[name] = (round(rec, 3), round(float(roc_auc_score(yy, s)), 4))
    print(f"  fit+eval {time.time() - t0:.0f}s", flush=True)
    return res, (w, b)


SHORT = ["verazuo", "jailbench", "xs en pool", "xs zh pool", "xs en probes", "xs zh probes", "bipia"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--cfg", action="append", default=[])
    ap.add_argument("--out", default="/tmp/h3c/sweep.jsonl")
    ap.add_argument("--fifth", default=json.dumps(train.FIFTH_PASS), help='JSON for train.FIFTH_PASS, "null" for none')
    args = ap.parse_args()
    train.FIFTH_PASS = json.loads(args.fifth)
    rows = train.training_rows(Path(args.data), random.Random(train.SEED))
    tok = ngram.build_tokenizer([r["text"] for r in rows if not r["src"].startswith(("synth5_", "synth6_"))])
    sets, _ = train.dev_sets(Path(args.data))
    cache = {}
    for c in args.cfg or ["{}"]:
        cfg = {**DEFAULT, **json.loads(c)}
        print(f"== {c}", flush=True)
        res, _ = run(cfg, rows, tok, sets["injection"], cache)
        line = " | ".join(f"{s} {r[0]:.3f}/{r[1]:.4f}" for s, r in zip(SHORT, res.values()))
        print("  " + line, flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps({"cfg": c, "res": res}) + "\n")


if __name__ == "__main__":
    main()
