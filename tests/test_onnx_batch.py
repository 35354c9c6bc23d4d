"""Batch re-export of operator models: fixed-batch reshapes are rewritten, and a model that still
cannot batch falls back to batch 1 with a warning instead of crashing the render."""

from __future__ import annotations

import logging

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from zaobot.models.onnx_session import OnnxModel, Port  # noqa: E402


def save(path, nodes, inits, out_shape):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def fixed_batch_reshape(path):
    """y = Reshape(x * w, [1, 3, 1, 1]): the batch of one is baked into the reshape."""
    w = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, 3, 1, 1], np.int64), "shape")
    nodes = [helper.make_node("Mul", ["x", "w"], ["xw"]), helper.make_node("Reshape", ["xw", "shape"], ["y"])]
    return save(path, nodes, [w, shape], [1, 3, 1, 1])


def unbatchable(path):
    """y = Reshape(Reshape(x, [3, 1]), [1, 3]): the batch is folded into another axis on the way."""
    s1 = numpy_helper.from_array(np.array([3, 1], np.int64), "s1")
    s2 = numpy_helper.from_array(np.array([1, 3], np.int64), "s2")
    nodes = [helper.make_node("Reshape", ["x", "s1"], ["t"]), helper.make_node("Reshape", ["t", "s2"], ["y"])]
    return save(path, nodes, [s1, s2], [1, 3])


def load(path, out_shape, tmp_path):
    return OnnxModel(path, [Port((3,))], [Port(out_shape)], providers=["CPUExecutionProvider"],
                     cache_dir=tmp_path / "cache", name="test")


def test_a_fixed_batch_reshape_is_rewritten_and_batches_match_single_runs(tmp_path):
    model = load(fixed_batch_reshape(tmp_path / "m.onnx"), (3, 1, 1), tmp_path)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    batched = model.run(x)
    assert model.batch_ok and batched.shape == (8, 3, 1, 1)
    singles = np.concatenate([model.run(x[i:i + 1]) for i in range(8)])
    np.testing.assert_allclose(batched, singles, rtol=1e-6)
    np.testing.assert_allclose(batched[:, :, 0, 0], x * np.array([1, 2, 3], np.float32), rtol=1e-6)


def test_a_model_that_cannot_batch_runs_one_by_one_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        model = load(unbatchable(tmp_path / "u.onnx"), (3,), tmp_path)
    assert not model.batch_ok
    assert any("batch" in r.getMessage() and "one at a time" in r.getMessage() for r in caplog.records)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(model.run(x), x)  # never a crash: each frame on its own
