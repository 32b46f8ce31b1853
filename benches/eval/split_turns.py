#!/usr/bin/env python3
"""Attacks split over turns, and benign turns read joined, on the labelled sets.

The labelled sets in ../shared/data hold single texts. This script builds
chat requests from them for `menshen scan --jsonl` and prints, per set, the
share of requests blocked:

- split: each attack row cut near its middle (at a space, or between two
  characters for text without spaces) into two user messages, with an
  assistant "OK." between them when --around-assistant is given;
- whole: the same rows as one message (the ceiling a split can reach);
- joined-benign: 2 to 6 consecutive benign rows as consecutive user
  messages (what a user's multi-turn chat looks like to the joiner): any
  block here that the rows alone do not get is a false positive of joining.

Standard library only. Usage:

    python3 benches/eval/split_turns.py MENSHEN_BIN CONFIG.toml [DATA_DIR]

CONFIG should turn the ONNX classifier off ([guards.onnx] enabled = false)
to measure the deterministic layers, where joining happens.
"""
import json
import random
import subprocess
import sys
from pathlib import Path

ATTACKS = {
    "verazuo_jailbreak.dev": lambda r: r["label"] == "jailbreak",
    "xsafety.dev (injection)": lambda r: r["label"] == "injection",
    "jailbench_zh.dev": lambda r: r["label"] == "jailbreak",
    "garak_attacks_en": lambda r: True,
}
BENIGN = ["alpaca_instructions_en", "alpaca_zh", "belle_zh", "nq_open_en.dev", "gsm8k_test_en", "cyberseceval_frr_en"]


def rows(data, name):
    path = data / (name.split(" ")[0] + ".jsonl")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def split(text):
    mid = len(text) // 2
    if " " in text:
        left = text.rfind(" ", 0, mid)
        right = text.find(" ", mid)
        cut = left if left > 0 and (right < 0 or mid - left <= right - mid) else right
        if cut > 0:
            return text[:cut], text[cut + 1 :]
    return text[:mid], text[mid:]


def req(messages):
    return {"request": {"model": "m", "messages": messages}}


def blocked(binary, config, lines):
    out = subprocess.run(
        [binary, "scan", "--jsonl", "--config", config],
        input="\n".join(json.dumps(l, ensure_ascii=False) for l in lines) + "\n",
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    assert len(out) == len(lines), (len(out), len(lines))
    return [json.loads(o)["decision"] == "block" for o in out]


def main():
    binary, config = sys.argv[1], sys.argv[2]
    data = Path(sys.argv[3] if len(sys.argv) > 3 else "../shared/data")
    around = "--around-assistant" in sys.argv
    print(f"{'set':28} {'rows':>5} {'whole':>7} {'split':>7}")
    for name, keep in ATTACKS.items():
        texts = [r["text"] for r in rows(data, name) if keep(r) and len(r["text"]) >= 8]
        whole = blocked(binary, config, [req([{"role": "user", "content": t}]) for t in texts])
        lines = []
        for t in texts:
            a, b = split(t)
            msgs = [{"role": "user", "content": a}]
            if around:
                msgs.append({"role": "assistant", "content": "OK."})
            msgs.append({"role": "user", "content": b})
            lines.append(req(msgs))
        parts = blocked(binary, config, lines)
        n = len(texts)
        print(f"{name:28} {n:5} {sum(whole) / n:7.1%} {sum(parts) / n:7.1%}")
    rng = random.Random(7)
    print(f"\n{'benign set, joined turns':28} {'convs':>5} {'alone':>7} {'joined':>7}")
    for name in BENIGN:
        texts = [r["text"] for r in rows(data, name) if r.get("label") == "benign"]
        convs, i = [], 0
        while i < len(texts):
            k = rng.randint(2, 6)
            convs.append(texts[i : i + k])
            i += k
        convs = [c for c in convs if len(c) >= 2]
        alone = blocked(binary, config, [req([{"role": "user", "content": t}]) for c in convs for t in c])
        it = iter(alone)
        any_alone = [any(next(it) for _ in c) for c in convs]
        joined = blocked(binary, config, [req([{"role": "user", "content": t} for t in c]) for c in convs])
        n = len(convs)
        new = sum(1 for a, j in zip(any_alone, joined) if j and not a)
        print(f"{name:28} {n:5} {sum(any_alone) / n:7.1%} {sum(joined) / n:7.1%}   blocked only when joined: {new}")


if __name__ == "__main__":
    main()
