"""Builds the `broken` fixture: a model that loads but fails at run time.

    models/.venv/bin/python models/make_broken.py classifiers/src/onnx/testdata/broken

It has the inputs and output the classifiers need (`input_ids`,
`attention_mask` -> `probs`), so `OnnxClassifier::load` accepts it, but it
was "exported with a static shape": both inputs are reshaped to a fixed
[1, 1031]. 1031 is prime and the pool's windows are at most 16 tokens, so no
batch ever has that many cells and ONNX Runtime refuses every run
("cannot reshape"). The fault tests use it for a real inference failure, not
a mocked session. The tokenizer is the tiny fixture's.
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FIXED = [1, 1031]


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    tiny = Path(__file__).resolve().parent.parent / "classifiers/src/onnx/testdata/tiny"
    inits = [
        numpy_helper.from_array(np.array(FIXED, dtype=np.int64), "fixed_shape"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"),
    ]
    nodes = [
        helper.make_node("Reshape", ["input_ids", "fixed_shape"], ["ids_fixed"]),
        helper.make_node("Reshape", ["attention_mask", "fixed_shape"], ["mask_fixed"]),
        helper.make_node("Mul", ["ids_fixed", "mask_fixed"], ["masked"]),
        helper.make_node("Cast", ["masked"], ["masked_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["masked_f", "ax1"], ["total"], keepdims=1),
        helper.make_node("Concat", ["total", "total"], ["both"], axis=1),
        helper.make_node("Sigmoid", ["both"], ["probs"]),
    ]
    graph = helper.make_graph(
        nodes,
        "menshen_broken",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 2])],
        initializer=inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    m.doc_string = "menshen test fixture: loads, fails at inference (static-shape export)"
    onnx.checker.check_model(m)
    onnx.save(m, str(out / "model.onnx"))
    shutil.copy(tiny / "tokenizer.json", out / "tokenizer.json")
    cfg = json.loads((tiny / "config.json").read_text())
    cfg["name"] = "broken"
    cfg["detector_id"] = "onnx.broken"
    (out / "config.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
