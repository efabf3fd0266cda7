"""Export of a character graph to ONNX: build, export, check, compare with PyTorch."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from puppet.bundle import CHOICE, INPUT, OUTPUTS, PREVIOUS_CHOICE

from .models import FrozenCharacter, FrozenWarpCharacter, LatentPoseModel, Shares

OPSET = 17


@dataclass(frozen=True)
class ParityReport:
    max_rel_error: float  # max |ort - torch| / max(|torch|) over the three outputs
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_rel_error <= self.tolerance


def character_graph(model: LatentPoseModel, identity: torch.Tensor, references: torch.Tensor | None = None,
                    reference_params: torch.Tensor | None = None,
                    reference_drivers: torch.Tensor | None = None, shares: Shares = Shares(),
                    head_size: float = 1.0, soft_edge: bool = False) -> FrozenCharacter:
    """The frozen-identity module in export mode (eval, float32, CPU). A warp-head model also
    freezes in its references (uint8 [R,4,S,S]: RGB and mask at the output side), their
    expression parameters [R, NUM_PARAMS] and where its choice places them, read from a driver
    showing each [R,3,H,W], how much of the learnt local flow and residual it uses, and the
    character's head: its size (relative to the proxy's) and whether its edge is soft."""
    model = model.float().cpu().eval()
    if model.warp is None:
        return FrozenCharacter(model, identity.float().cpu()).eval()
    if references is None or reference_params is None or reference_drivers is None:
        raise ValueError("a warp-head character needs its reference images, their expression parameters "
                         "and a driver showing each")
    return FrozenWarpCharacter(model, identity.float().cpu(), references.cpu(), reference_params.cpu(),
                               reference_drivers.cpu(), shares, head_size, soft_edge).eval()


def export_onnx(graph: FrozenCharacter, resolution: int) -> bytes:
    """ONNX bytes (opset 17) with a dynamic batch axis, constant-folded and checked; a warp
    character's references stored as bytes."""
    warp = isinstance(graph, FrozenWarpCharacter)
    args: tuple[torch.Tensor, ...] = (torch.rand(1, 3, resolution, resolution),)
    inputs, outputs = [INPUT], list(OUTPUTS)
    if warp:
        args += (graph.nothing_held(),)
        inputs.append(PREVIOUS_CHOICE)
        outputs.append(CHOICE)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about constant shapes
        torch.onnx.export(
            graph, args, buf, opset_version=OPSET, dynamo=False,
            input_names=inputs, output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in (INPUT, *outputs)},
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    if warp:
        return store_references_as_bytes(proto.SerializeToString(), graph.references.numpy())
    return proto.SerializeToString()


def store_references_as_bytes(graph_bytes: bytes, references: np.ndarray) -> bytes:
    """The same graph with a warp character's references stored at a byte per value.

    Constant folding turns the uint8 references and their scaling into one float32 tensor, four
    times their size; this puts them back as uint8, cast to float and scaled by 1/255: constants
    that onnxruntime folds when it loads the graph, so the file is a quarter the size and a frame
    costs nothing more (a DequantizeLinear would not be folded: 0.9 ms a frame on the CPU).
    ``references`` uint8 [R,4,S,S]."""
    proto = onnx.load_from_string(graph_bytes)
    r, c, t, _ = references.shape
    # as the graph holds them: as they are (enlarged when it loads) or, at a side it does not
    # enlarge, already stacked into one picture (export.models.warp_head.stacked)
    layouts = (references, references.transpose(1, 0, 2, 3).reshape(1, c, r * t, t))
    found = 0
    for init in proto.graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) != references.size:
            continue
        values = numpy_helper.to_array(init)
        match = [u8 for u8 in layouts if np.allclose(values.reshape(u8.shape), u8.astype(np.float32) / 255, atol=1e-6)]
        if not match:
            continue
        name, shape = init.name, values.shape
        init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(match[0]).reshape(shape), f"{name}.u8"))
        proto.graph.initializer.append(numpy_helper.from_array(np.array(1 / 255, np.float32), f"{name}.scale"))
        proto.graph.node.insert(0, helper.make_node("Mul", [f"{name}.float", f"{name}.scale"], [name]))
        proto.graph.node.insert(0, helper.make_node("Cast", [f"{name}.u8"], [f"{name}.float"], to=TensorProto.FLOAT))
        found += 1
    if found != 1:
        raise RuntimeError(f"expected the references once among the graph's constants, found them {found} times")
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def to_fp16(graph_bytes: bytes) -> bytes:
    """The same graph with fp16 weights and arithmetic, keeping float32 inputs and outputs. For
    synthesis-head graphs: a warp head's grid coordinates in fp16 move sharp edges by part of a
    pixel (measured: up to 0.07 on a procedural head), so warp characters stay float32."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = onnx.load_from_string(graph_bytes)
    half = convert_float_to_float16(proto, keep_io_types=True, disable_shape_infer=False)
    return half.SerializeToString()


def tensors_feeding(graph: onnx.GraphProto, output: str) -> set[str]:
    """Every tensor name that ``output`` is computed from."""
    producer = {out: node for node in graph.node for out in node.output}
    seen, todo = set(), [output]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in producer:
            todo.extend(producer[name].input)
    return seen


def to_half_storage(graph_bytes: bytes, min_elements: int = 1024) -> bytes:
    """The same float32 graph with its large weights stored as fp16 and cast back to float32 by
    Cast nodes: about half the file, float32 arithmetic (onnxruntime folds the casts when a
    session starts, so running it costs nothing more). For shipping characters where size matters.

    Weights that compute the pose code stay float32: the generator amplifies an error in the code
    (measured on the toon base: fp16 pose-encoder weights moved the code by 0.2 % and the mask by
    up to 6 %; the generator's own weights in fp16 moved nothing by more than 0.01 %)."""
    proto = onnx.load_from_string(graph_bytes)
    exact = tensors_feeding(proto.graph, "pose")
    casts = []
    for init in proto.graph.initializer:
        if init.data_type != TensorProto.FLOAT or init.name in exact:
            continue
        weights = numpy_helper.to_array(init)
        if weights.size < min_elements:
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(weights.astype(np.float16), f"{name}.fp16"))
        casts.append(helper.make_node("Cast", [f"{name}.fp16"], [name], to=TensorProto.FLOAT))
    nodes = casts + list(proto.graph.node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def check_parity(graph: FrozenCharacter, graph_bytes: bytes, resolution: int, batch: int = 2,
                 tolerance: float = 1e-4, seed: int = 0, drivers: np.ndarray | None = None) -> ParityReport:
    """Run ``drivers`` [N,3,R,R] (default: ``batch`` random images) through PyTorch and
    onnxruntime (CPU, in a session made as the program makes it) and compare."""
    from puppet.engine import EngineConfig, make_session

    if drivers is not None:
        driver = torch.from_numpy(np.ascontiguousarray(drivers, dtype=np.float32))
    else:
        driver = torch.rand(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed))
    sess = make_session(graph_bytes, [], EngineConfig(device="cpu").threads())
    names = [o.name for o in sess.get_outputs()]
    previous: list[torch.Tensor | None] = [None]
    if PREVIOUS_CHOICE in {i.name for i in sess.get_inputs()}:  # nothing held, and drawing 0 held
        held = graph.nothing_held()
        previous = [held, held.index_fill(2, torch.tensor([0]), 1.0)]
    err = 0.0
    for p in previous:
        with torch.no_grad():
            expected = [t.numpy() for t in (graph(driver) if p is None else graph(driver, p))]
        feed = {INPUT: driver.numpy()} | ({} if p is None else {PREVIOUS_CHOICE: p.numpy()})
        got = sess.run(names, feed)
        err = max([err] + [float(np.abs(g - e).max() / max(np.abs(e).max(), 1e-8)) for g, e in zip(got, expected)])
    return ParityReport(err, tolerance)
