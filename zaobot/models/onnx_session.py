"""Thin onnxruntime wrappers: provider choice with CPU fallback, signature checks, a batch axis."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class ModelError(RuntimeError):
    """An operator-supplied model is missing, corrupt or not the model we expect."""


@dataclass(frozen=True)
class Port:
    """Expected input/output: trailing shape (after the batch axis)."""

    shape: tuple[int, ...]


def _runtime():
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("onnxruntime is not installed: pip install 'zaobot[cpu]' (or '[gpu]')") from None
    return onnxruntime


def choose_providers(prefer_gpu: bool = True, tensorrt: bool = False) -> list[str]:
    available = _runtime().get_available_providers()
    wanted = (["TensorrtExecutionProvider"] if tensorrt else []) + (["CUDAExecutionProvider"] if prefer_gpu else [])
    return [p for p in wanted if p in available] + ["CPUExecutionProvider"]


def provider_options(providers: list[str], fp16: bool, cache_dir: Path) -> list:
    """Provider list for InferenceSession; TensorRT gets FP16 and an engine cache when asked."""
    out: list = []
    for name in providers:
        if name == "TensorrtExecutionProvider":
            out.append((name, {"trt_fp16_enable": fp16, "trt_engine_cache_enable": True,
                               "trt_engine_cache_path": str(cache_dir / "trt")}))
        else:
            out.append(name)
    return out


def _batch_of_one(model) -> set[str]:
    """Names of the tensors whose leading axis is the batch of one, by shape inference on the
    fixed-batch model: those the graph's inputs lead with."""
    from onnx import shape_inference

    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - no inference, no rewriting
        return set()
    out = set()
    for value in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value") and dims[0].dim_value == 1:
            out.add(value.name)
    return out


def _free_reshape_batch(model, batched: set[str]) -> int:
    """Fixed-batch exports bake the batch of one into Reshape targets, e.g. [1, 3, 1, 1]. Where the
    reshaped tensor leads with the batch of one (`batched`), that leading 1 becomes 0: "copy this
    axis from the input", which is then the batch. Returns how many shapes were rewritten."""
    from onnx import numpy_helper

    shapes = {init.name: init for init in model.graph.initializer}
    rewritten = 0
    for node in model.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[0] not in batched:
            continue
        init = shapes.get(node.input[1])
        if init is None:
            continue
        target = numpy_helper.to_array(init)
        if target.ndim != 1 or len(target) < 2 or target[0] != 1:
            continue
        target = target.copy()
        target[0] = 0
        init.CopyFrom(numpy_helper.from_array(target.astype(np.int64), init.name))
        rewritten += 1
    return rewritten


def with_batch_axis(path: Path, cache_dir: Path) -> Path:
    """A copy of the model whose inputs and outputs have a symbolic batch axis (cached beside it)."""
    import onnx

    model = onnx.load(str(path))
    batched = _batch_of_one(model)
    changed = False
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"
            changed = True
    if not changed:
        return path
    _free_reshape_batch(model, batched)
    del model.graph.value_info[:]  # inferred shapes may carry the old fixed batch
    for target in (path.parent, cache_dir):
        copy = target / f"{path.stem}.batch.onnx"
        try:
            target.mkdir(parents=True, exist_ok=True)
            if not copy.exists() or copy.stat().st_mtime < path.stat().st_mtime:
                onnx.save(model, str(copy))
            return copy
        except OSError:
            continue
    return path


class OnnxModel:
    """One ONNX model on the best available provider, checked against the signature we need."""

    def __init__(self, path: Path, inputs: Sequence[Port], outputs: Sequence[Port], *, providers: list[str],
                 cache_dir: Path, name: str, check_outputs: bool = True, batch_axis: bool = True,
                 fp16: bool = False) -> None:
        ort = _runtime()
        if not path.is_file():
            raise ModelError(f"{name}: model file not found: {path}")
        self.name = name
        try:
            model_path = with_batch_axis(path, cache_dir) if batch_axis else path
            options = ort.SessionOptions()
            options.log_severity_level = 3
            self.session = ort.InferenceSession(str(model_path), options,
                                                providers=provider_options(providers, fp16, cache_dir))
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - onnx/onnxruntime raise many types for bad files
            raise ModelError(f"{name}: {path.name} is not a loadable ONNX model ({type(exc).__name__})") from None
        active = self.session.get_providers()
        if providers[0] != "CPUExecutionProvider" and providers[0] not in active:
            log.warning("%s: %s failed to load; running on CPU", name, providers[0])
        self.provider = active[0]
        self._check(self.session.get_inputs(), inputs, "inputs")
        if check_outputs:
            self._check(self.session.get_outputs(), outputs, "outputs")
        elif len(self.session.get_outputs()) != len(outputs):
            raise ModelError(f"{name}: expected {len(outputs)} outputs, found {len(self.session.get_outputs())}")
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.batch_ok = self._dynamic_batch()

    def _check(self, actual, expected: Sequence[Port], what: str) -> None:
        if len(actual) != len(expected):
            raise ModelError(f"{self.name}: expected {len(expected)} {what}, found {len(actual)}")
        for got, want in zip(actual, expected):
            tail = tuple(got.shape[1:])
            if len(tail) != len(want.shape) or any(isinstance(a, int) and a != b for a, b in zip(tail, want.shape)):
                raise ModelError(f"{self.name}: {what[:-1]} {got.name!r} has shape {got.shape}, "
                                 f"expected [N, {', '.join(map(str, want.shape))}]")

    def _dynamic_batch(self) -> bool:
        """Whether batches really work: a symbolic batch axis, and a batch of two that gives what two
        single runs give (a reshape or a broadcast deep inside may still pin the batch to one)."""
        inputs = self.session.get_inputs()
        if any(isinstance(i.shape[0], int) for i in inputs):
            return False
        rng = np.random.default_rng(0)
        probe = [rng.normal(size=(2, *[d if isinstance(d, int) else 1 for d in i.shape[1:]])).astype(np.float32)
                 for i in inputs]
        try:
            both = self._run(tuple(probe))
            one_by_one = np.concatenate([self._run(tuple(p[k:k + 1] for p in probe)) for k in range(2)])
            same = both.shape == one_by_one.shape and np.allclose(both, one_by_one, rtol=1e-3, atol=1e-4)
        except Exception:  # noqa: BLE001 - onnxruntime reports a shape clash as any of several types
            same = False
        if not same:
            log.warning("%s: the model gives other results in a batch; running it one at a time", self.name)
        return same

    def run(self, *arrays: np.ndarray) -> np.ndarray:
        """Run on a batch; splits it when the model only takes batches of one."""
        if self.batch_ok and arrays[0].shape[0] > 1:
            try:
                return self._run(arrays)
            except Exception:  # noqa: BLE001 - never fail a render on batching: go one by one from here
                log.warning("%s: a batch of %d failed; running the model one at a time", self.name,
                            arrays[0].shape[0])
                self.batch_ok = False
        if arrays[0].shape[0] == 1:
            return self._run(arrays)
        return np.concatenate([self._run(tuple(a[i:i + 1] for a in arrays)) for i in range(arrays[0].shape[0])])

    def run_all(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Every output, for one input batch (detectors)."""
        feeds = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in zip(self.input_names, arrays)}
        return self.session.run(self.output_names, feeds)

    def _run(self, arrays: tuple[np.ndarray, ...]) -> np.ndarray:
        feeds = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in zip(self.input_names, arrays)}
        if self.provider == "CPUExecutionProvider":
            return self.session.run(self.output_names[:1], feeds)[0]
        binding = self.session.io_binding()  # GPU: bind once, copy the output back once
        for name, value in feeds.items():
            binding.bind_cpu_input(name, value)
        binding.bind_output(self.output_names[0], "cuda")
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]
