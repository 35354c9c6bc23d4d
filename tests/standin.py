"""Stand-in ONNX models with the signatures of insightface's, for tests and benchmarks.

No real weights can be downloaded here (and insightface's are licensed for non-commercial research
only), so tests and `benchmarks/gpu_swap.py` build models with the same inputs and outputs:

* inswapper: target [N, 3, 128, 128] RGB in [0, 1] and source [N, 512] -> [N, 3, 128, 128]; the
  graph's last initializer is the (512, 512) `emap`.
* ArcFace: [N, 3, 112, 112] -> [N, 512].

`identity` returns the target unchanged (alignment and paste-back must then reproduce the frame);
`tiny` mixes in the source so a swap is visible; `full` is a conv stack with about inswapper's FLOPs.
Requires the `onnx` package (test extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np


def _helpers():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    return onnx, TensorProto, helper, numpy_helper


def _save(graph, path: Path) -> Path:
    onnx, _, helper, _ = _helpers()
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_inswapper(path: Path, kind: Literal["identity", "tiny", "full"] = "tiny", *, batch: int | None = None,
                    channels: int = 256, layers: int = 9, seed: int = 0) -> Path:
    """Write a stand-in inswapper. `batch=1` makes a fixed-batch model (like the real file)."""
    _, tp, helper, numpy_helper = _helpers()
    rng = np.random.default_rng(seed)
    n = batch if batch is not None else "N"
    target = helper.make_tensor_value_info("target", tp.FLOAT, [n, 3, 128, 128])
    source = helper.make_tensor_value_info("source", tp.FLOAT, [n, 512])
    output = helper.make_tensor_value_info("output", tp.FLOAT, [n, 3, 128, 128])
    inits, nodes = [], []
    if kind == "identity":
        nodes.append(helper.make_node("Identity", ["target"], ["output"]))
    elif kind == "tiny":
        # output = sigmoid(4 * (target - 0.5) + tint): the tint comes from the source's first 3 values.
        inits += [numpy_helper.from_array(np.array([40.0], np.float32), "tint_scale"),
                  numpy_helper.from_array(np.array([4.0], np.float32), "gain"),
                  numpy_helper.from_array(np.array([0.5], np.float32), "half"),
                  numpy_helper.from_array(np.array([0], np.int64), "start"),
                  numpy_helper.from_array(np.array([3], np.int64), "end"),
                  numpy_helper.from_array(np.array([1], np.int64), "axis"),
                  numpy_helper.from_array(np.array([-1, 3, 1, 1], np.int64), "shape4")]
        nodes += [helper.make_node("Slice", ["source", "start", "end", "axis"], ["m"]),
                  helper.make_node("Reshape", ["m", "shape4"], ["m4"]),
                  helper.make_node("Mul", ["m4", "tint_scale"], ["tint"]),
                  helper.make_node("Sub", ["target", "half"], ["centred"]),
                  helper.make_node("Mul", ["centred", "gain"], ["scaled"]),
                  helper.make_node("Add", ["scaled", "tint"], ["pre"]),
                  helper.make_node("Sigmoid", ["pre"], ["output"])]
    else:
        c = channels
        inits.append(numpy_helper.from_array((rng.standard_normal((c, 3, 3, 3)) * 0.1).astype(np.float32), "w_in"))
        inits.append(numpy_helper.from_array((rng.standard_normal((512, c)) * 0.01).astype(np.float32), "w_src"))
        inits.append(numpy_helper.from_array(np.array([-1, c, 1, 1], np.int64), "shape_src"))
        nodes += [helper.make_node("Conv", ["target", "w_in"], ["h0"], pads=[1, 1, 1, 1]),
                  helper.make_node("MatMul", ["source", "w_src"], ["s"]),
                  helper.make_node("Reshape", ["s", "shape_src"], ["s4"]),
                  helper.make_node("Add", ["h0", "s4"], ["a0"]),
                  helper.make_node("Relu", ["a0"], ["x0"])]
        for i in range(layers):
            w = (rng.standard_normal((c, c, 3, 3)) * (1.0 / np.sqrt(9 * c))).astype(np.float32)
            inits.append(numpy_helper.from_array(w, f"w{i}"))
            nodes += [helper.make_node("Conv", [f"x{i}", f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                      helper.make_node("Relu", [f"c{i}"], [f"x{i + 1}"])]
        inits.append(numpy_helper.from_array((rng.standard_normal((3, c, 3, 3)) * 0.01).astype(np.float32), "w_out"))
        nodes += [helper.make_node("Conv", [f"x{layers}", "w_out"], ["o"], pads=[1, 1, 1, 1]),
                  helper.make_node("Sigmoid", ["o"], ["output"])]
    emap = rng.standard_normal((512, 512)).astype(np.float32) / np.sqrt(512)
    inits.append(numpy_helper.from_array(emap, "emap"))  # the last initializer, as in inswapper_128.onnx
    return _save(helper.make_graph(nodes, "inswapper_standin", [target, source], [output], initializer=inits), path)


def build_arcface(path: Path, seed: int = 1) -> Path:
    """A stand-in ArcFace: 8x8 average pooling, then a random projection to 512."""
    _, tp, helper, numpy_helper = _helpers()
    rng = np.random.default_rng(seed)
    image = helper.make_tensor_value_info("input.1", tp.FLOAT, ["N", 3, 112, 112])
    output = helper.make_tensor_value_info("683", tp.FLOAT, ["N", 512])
    inits = [numpy_helper.from_array(rng.standard_normal((3 * 14 * 14, 512)).astype(np.float32), "proj")]
    nodes = [helper.make_node("AveragePool", ["input.1"], ["p"], kernel_shape=[8, 8], strides=[8, 8]),
             helper.make_node("Flatten", ["p"], ["f"], axis=1),
             helper.make_node("MatMul", ["f", "proj"], ["683"])]
    return _save(helper.make_graph(nodes, "arcface_standin", [image], [output], initializer=inits), path)


def build_models_dir(root: Path, kind: Literal["identity", "tiny", "full"] = "tiny", **kw: object) -> Path:
    """A ZAOBOT_MODELS_DIR laid out like the operator's: inswapper_128.onnx + buffalo_l/w600k_r50.onnx."""
    build_inswapper(root / "inswapper_128.onnx", kind, **kw)  # type: ignore[arg-type]  # kw: build_inswapper's keywords, passed through
    build_arcface(root / "buffalo_l" / "w600k_r50.onnx")
    return root


def build_scrfd(path: Path, detections: list[tuple[int, int, int, list[float], list[float], float]]) -> Path:
    """A stand-in SCRFD (det_10g signature: 9 outputs) that reports fixed detections, whatever the input.

    Each detection is (stride, cell index, anchor, box distances l/t/r/b, keypoint offsets (10), score),
    in stride units, for a 640x640 input: enough to check the decoding and its use end to end.
    """
    _, tp, helper, numpy_helper = _helpers()
    image = helper.make_tensor_value_info("input.1", tp.FLOAT, [1, 3, "h", "w"])
    outputs, nodes = [], []
    arrays: dict[str, np.ndarray] = {}
    for kind, width in (("score", 1), ("bbox", 4), ("kps", 10)):
        for stride in (8, 16, 32):
            rows = (640 // stride) ** 2 * 2
            arrays[f"{kind}_{stride}"] = np.zeros((rows, width), np.float32)
    for stride, cell, anchor, dist, kps, score in detections:
        row = cell * 2 + anchor
        arrays[f"score_{stride}"][row, 0] = score
        arrays[f"bbox_{stride}"][row] = dist
        arrays[f"kps_{stride}"][row] = kps
    for name, value in arrays.items():  # insightface's order: scores, boxes, keypoints; strides 8, 16, 32
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name + "_v")))
        outputs.append(helper.make_tensor_value_info(name, tp.FLOAT, list(value.shape)))
    return _save(helper.make_graph(nodes, "scrfd_standin", [image], outputs), path)
