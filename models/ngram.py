"""Hashed character n-gram classifier: tokenizer, featurizer and ONNX graph.

The model is a linear classifier over hashed character 1..5-grams (fastText-
style), computed *inside* the ONNX graph from the token ids that the
`tokenizer.json` produces. The Rust runtime therefore only tokenizes and feeds
`input_ids` + `attention_mask`, exactly as it would for a transformer; the
n-gram hashing below and in `build_graph` must stay bit-identical, which
`check_parity` verifies on every build.

Why character n-grams: Chinese has no spaces and English jailbreaks obfuscate
spelling; character n-grams cover both with one vocabulary, train in seconds
on two CPU cores, and run in well under a millisecond per prompt.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import onnx
from onnx import TensorProto, helper
from scipy import sparse
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

PAD, UNK = "[PAD]", "[UNK]"
# Largest prime below 2^20: bucket ids fit comfortably, collisions stay rare.
NUM_BUCKETS = 1048573
MOD_P = 2147483647  # 2^31 - 1, keeps every intermediate product inside int64
NGRAM_MULT = {1: 1000003, 2: 998244353 % MOD_P, 3: 1234567891, 4: 1865811235, 5: 1550097581,
              6: 1695421211, 7: 1312196477, 8: 2021002193}
MAX_N = 5
# Smallest n-gram order that is a feature (the composite chain still starts at 1).
MIN_N = 1
# Features are n-gram counts divided by (number of n-grams) ** NORM_POW.
NORM_POW = 0.5


def build_tokenizer(texts: list[str], min_count: int = 2, full_cjk: bool = True) -> Tokenizer:
    """Character-level WordLevel tokenizer with NFKC + lowercase + whitespace folding."""
    norm = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace(Regex(r"\s+"), " ")]
    )
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(norm.normalize_str(t))
    # Printable ASCII and every CJK Unified Ideograph get their own id, so a
    # rare character is itself (its n-grams hash apart), not a shared [UNK].
    chars = {chr(c) for c in range(0x20, 0x7F)}
    if full_cjk:
        chars |= {chr(c) for c in range(0x4E00, 0xA000)}
    chars |= set("，。！？、；：“”‘’（）《》【】…—·「」『』")
    chars |= {c for c, n in counts.items() if n >= min_count}
    vocab = {PAD: 0, UNK: 1}
    for c in sorted(chars):
        vocab[c] = len(vocab)
    assert len(vocab) < 65536, "ids must fit 16 bits for the n-gram hash"
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.normalizer = norm
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return tok


def vocab_size(tok: Tokenizer) -> int:
    return tok.get_vocab_size()


def _composites(ids: np.ndarray, v: int) -> dict[int, np.ndarray]:
    """Per-n composite codes for a 1-D id array (length L -> L-n+1)."""
    out = {}
    length = len(ids)
    c = ids.astype(np.int64)
    out[1] = c
    prev = c
    for n in range(2, MAX_N + 1):
        if length - n + 1 <= 0:
            out[n] = np.zeros(0, dtype=np.int64)
            prev = out[n]
            continue
        nxt = ids[n - 1 :].astype(np.int64)
        prev = (prev[: length - n + 1] % MOD_P) * v + nxt
        out[n] = prev
    return out


def buckets(ids: np.ndarray, v: int, nb: int = NUM_BUCKETS) -> np.ndarray:
    """All n-gram bucket ids of one window, concatenated over n."""
    parts = []
    for n, c in _composites(ids, v).items():
        if n < MIN_N:
            continue
        parts.append(((c % MOD_P) * NGRAM_MULT[n]) % nb)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def windows(n_tokens: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Token windows [start, end): same rule as the Rust runtime."""
    if n_tokens <= window:
        return [(0, n_tokens)]
    out = []
    start = 0
    while True:
        end = min(start + window, n_tokens)
        out.append((start, end))
        if end == n_tokens:
            return out
        start += stride


def featurize(id_lists: list[np.ndarray], v: int, nb: int = NUM_BUCKETS) -> sparse.csr_matrix:
    """Rows = windows; value = count / total_ngrams ** NORM_POW, as the graph computes."""
    indptr = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    for ids in id_lists:
        b = buckets(ids, v, nb)
        if len(b) == 0:
            indptr.append(indptr[-1])
            continue
        u, cnt = np.unique(b, return_counts=True)
        indices.append(u)
        data.append(cnt.astype(np.float32) / np.float32(len(b) ** NORM_POW))
        indptr.append(indptr[-1] + len(u))
    ind = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    dat = np.concatenate(data) if data else np.zeros(0, dtype=np.float32)
    return sparse.csr_matrix((dat, ind, np.array(indptr)), shape=(len(id_lists), nb))


def encode_ids(tok: Tokenizer, text: str) -> np.ndarray:
    return np.array(tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)


def quantize(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output int8: w ~= q * scale."""
    amax = np.abs(w).max(axis=0)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
    return q, scale


def build_graph(
    weights: np.ndarray, bias: np.ndarray, v: int, output_names: list[str], int8: bool, doc: str, gated: bool = False
) -> onnx.ModelProto:
    """input_ids, attention_mask [B, L] int64 -> probs [B, K] float32 (sigmoid).

    With `gated` (three weight columns: direct, indirect, document), probs is
    [B, 4]: max(p_direct, p_indirect * p_document), then the three heads."""
    nb = weights.shape[0]
    k = weights.shape[1]
    nodes = []
    inits = []

    def const(name, arr):
        inits.append(onnx.numpy_helper.from_array(np.asarray(arr), name))
        return name

    if int8:
        q, scale = quantize(weights)
        const("table", q)
        const("table_scale", scale.reshape(1, k))
    else:
        const("table", weights.astype(np.float32))
    const("bias", bias.astype(np.float32).reshape(1, k))
    const("V", np.array(v, dtype=np.int64))
    const("P", np.array(MOD_P, dtype=np.int64))
    const("NB", np.array(nb, dtype=np.int64))
    const("ax1", np.array([1], dtype=np.int64))
    const("big", np.array([2**62], dtype=np.int64))
    const("one_f", np.array(1.0, dtype=np.float32))
    nodes.append(helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT))

    sums, counts = [], []
    prev = None
    for n in range(1, MAX_N + 1):
        # ids shifted by n-1: the last token of each n-gram
        const(f"s{n}", np.array([n - 1], dtype=np.int64))
        nodes.append(helper.make_node("Slice", ["input_ids", f"s{n}", "big", "ax1"], [f"last{n}"]))
        nodes.append(helper.make_node("Slice", ["mask_f", f"s{n}", "big", "ax1"], [f"mask{n}"]))
        if n == 1:
            comp = "last1"
        else:
            # prev composite covers positions [0, L-n+2); drop its last column
            const(f"z{n}", np.array([0], dtype=np.int64))
            const(f"e{n}", np.array([-1], dtype=np.int64))
            nodes.append(helper.make_node("Slice", [prev, f"z{n}", f"e{n}", "ax1"], [f"pv{n}"]))
            nodes.append(helper.make_node("Mod", [f"pv{n}", "P"], [f"pm{n}"]))
            nodes.append(helper.make_node("Mul", [f"pm{n}", "V"], [f"pmv{n}"]))
            nodes.append(helper.make_node("Add", [f"pmv{n}", f"last{n}"], [f"comp{n}"]))
            comp = f"comp{n}"
        prev = comp
        if n < MIN_N:
            continue
        const(f"m{n}", np.array(NGRAM_MULT[n], dtype=np.int64))
        nodes.append(helper.make_node("Mod", [comp, "P"], [f"cm{n}"]))
        nodes.append(helper.make_node("Mul", [f"cm{n}", f"m{n}"], [f"h{n}"]))
        nodes.append(helper.make_node("Mod", [f"h{n}", "NB"], [f"b{n}"]))
        nodes.append(helper.make_node("Gather", ["table", f"b{n}"], [f"g{n}"], axis=0))
        if int8:
            nodes.append(helper.make_node("Cast", [f"g{n}"], [f"gf{n}"], to=TensorProto.FLOAT))
            g = f"gf{n}"
        else:
            g = f"g{n}"
        nodes.append(helper.make_node("Unsqueeze", [f"mask{n}", "neg1"], [f"mu{n}"]))
        nodes.append(helper.make_node("Mul", [g, f"mu{n}"], [f"gm{n}"]))
        nodes.append(helper.make_node("ReduceSum", [f"gm{n}", "ax1"], [f"sum{n}"], keepdims=0))
        nodes.append(helper.make_node("ReduceSum", [f"mask{n}", "ax1"], [f"cnt{n}"], keepdims=1))
        sums.append(f"sum{n}")
        counts.append(f"cnt{n}")
    const("neg1", np.array([-1], dtype=np.int64))
    nodes.append(helper.make_node("Sum", sums, ["total"]))
    nodes.append(helper.make_node("Sum", counts, ["count"]))
    nodes.append(helper.make_node("Max", ["count", "one_f"], ["count1"]))
    const("norm_pow", np.array(NORM_POW, dtype=np.float32))
    nodes.append(helper.make_node("Pow", ["count1", "norm_pow"], ["norm"]))
    nodes.append(helper.make_node("Div", ["total", "norm"], ["feat"]))
    if int8:
        nodes.append(helper.make_node("Mul", ["feat", "table_scale"], ["feat_s"]))
        feat = "feat_s"
    else:
        feat = "feat"
    nodes.append(helper.make_node("Add", [feat, "bias"], ["logits"]))
    k_out = k
    if gated:
        assert k == 3, "gated graph needs direct, indirect, document columns"
        nodes.append(helper.make_node("Sigmoid", ["logits"], ["heads"]))
        for i, nm in enumerate(("pd", "pi", "pc")):
            const(f"c{i}", np.array([i], dtype=np.int64))
            const(f"c{i}e", np.array([i + 1], dtype=np.int64))
            nodes.append(helper.make_node("Slice", ["heads", f"c{i}", f"c{i}e", "ax1"], [nm]))
        nodes.append(helper.make_node("Mul", ["pi", "pc"], ["p_ind"]))
        nodes.append(helper.make_node("Max", ["pd", "p_ind"], ["p_comb"]))
        nodes.append(helper.make_node("Concat", ["p_comb", "heads"], ["probs"], axis=1))
        k_out = k + 1
    else:
        nodes.append(helper.make_node("Sigmoid", ["logits"], ["probs"]))

    graph = helper.make_graph(
        nodes,
        "menshen_char_ngram",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", k_out]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", k]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="menshen-models")
    model.ir_version = 8
    model.doc_string = doc
    model.metadata_props.add(key="outputs", value=json.dumps(output_names))
    onnx.checker.check_model(model)
    return model
