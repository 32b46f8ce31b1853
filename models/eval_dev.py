"""Dev-set figures for one exported classifier directory (model alone).

    models/.venv/bin/python models/eval_dev.py models/artifacts/injection [--data ../shared/data] [--json out.json]

Scores every injection dev measurement of `train.dev_sets` (windowing read
from the directory's config.json, as the Rust runtime does), plus the flag
rate at the configured `report_threshold` on the benign pools and on rows that
are not injections (safety probes, plain harmful requests). Measure only:
nothing here trains.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from tokenizers import Tokenizer

import train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--json")
    args = ap.parse_args()
    d, data = Path(args.model_dir), Path(args.data)
    cfg = json.loads((d / "config.json").read_text())
    train.WINDOW, train.STRIDE = cfg["window_tokens"], cfg["stride_tokens"]
    thr = cfg.get("report_threshold", 0.5)
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    sc = train.Scorer(d / "model.onnx", tok)
    sets, _ = train.dev_sets(data)
    load = train.load
    out: dict = {"model_dir": str(d), "window": train.WINDOW, "stride": train.STRIDE, "report_threshold": thr, "sets": {}}
    t0 = time.time()
    print(f"| set | n+ | n- | recall @1% FPR | ROC AUC | recall @{thr} | FPR @{thr} |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, pos, neg in sets["injection"]:
        sp, sn = sc.score(pos), sc.score(neg)
        y = np.r_[np.ones(len(sp)), np.zeros(len(sn))]
        s = np.r_[sp, sn]
        rec, t1 = train.recall_at_fpr(y, s)
        auc = float(roc_auc_score(y, s))
        r_thr, f_thr = float(np.mean(sp >= thr)), float(np.mean(sn >= thr))
        out["sets"][name] = {"n_pos": len(sp), "n_neg": len(sn), "recall_at_1pct_fpr": round(rec, 4), "roc_auc": round(auc, 4),
                             "threshold_at_1pct_fpr": round(t1, 4), "recall_at_thr": round(r_thr, 4), "fpr_at_thr": round(f_thr, 4)}
        print(f"| {name} | {len(sp)} | {len(sn)} | {rec:.3f} | {auc:.4f} | {r_thr:.3f} | {f_thr:.3f} |")
    xs = load(data / "xsafety.dev.jsonl")
    flag = {
        "nq_open_en.dev (benign)": [r["text"] for r in load(data / "nq_open_en.dev.jsonl")],
        "belle_zh (benign, measure only)": [r["text"] for r in load(data / "belle_zh.jsonl")],
        "alpaca_instructions_en (benign, measure only)": [r["text"] for r in load(data / "alpaca_instructions_en.jsonl")],
        "alpaca_zh non-commercial rows (benign, measure only)": [r["text"] for r in load(data / "alpaca_zh.jsonl") if not train.licence_ok(r["license"])],
        "gsm8k_test_en (benign, trained on)": [r["text"] for r in load(data / "gsm8k_test_en.jsonl")],
        "cyberseceval_frr_en (benign, suspicious-looking, trained on)": [r["text"] for r in load(data / "cyberseceval_frr_en.jsonl")],
        "bipia_indirect_en.dev benign contexts": [r["text"] for r in load(data / "bipia_indirect_en.dev.jsonl") if r["label"] == "benign"],
        "xsafety.dev safety_probe en": [r["text"] for r in xs if r["label"] == "safety_probe" and r["lang"] == "en"],
        "xsafety.dev safety_probe zh": [r["text"] for r in xs if r["label"] == "safety_probe" and r["lang"] == "zh"],
        "harmbench_behaviors_en.dev (harmful, not injection)": [r["text"] for r in load(data / "harmbench_behaviors_en.dev.jsonl")],
        "jade_db.dev (harmful, not injection)": [r["text"] for r in load(data / "jade_db.dev.jsonl")],
        "jailbench_zh.dev harmful rows (no template)": [r["text"] for r in load(data / "jailbench_zh.dev.jsonl") if r["label"] == "harmful"],
    }
    print(f"\n| rows that are not injections | n | flagged @{thr} |")
    print("|---|---:|---:|")
    out["flag_rates"] = {}
    for name, texts in flag.items():
        s = sc.score(texts)
        fr = float(np.mean(s >= thr))
        out["flag_rates"][name] = {"n": len(texts), "flag_rate": round(fr, 4)}
        print(f"| {name} | {len(texts)} | {fr:.3f} |")
    print(f"\n({time.time() - t0:.0f}s)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
