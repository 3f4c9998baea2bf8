"""Forward cost of one sample: ptflops (aten backend) on the meta device, cross-checked by torch.

A module with a fused-attention fast path (nn.MultiheadAttention, nn.TransformerEncoderLayer) is
counted with gradients enabled, which keeps it on the plain path; every other model is counted with
gradients off, sparing autograd's bookkeeping (the counts are the same either way). Operators
that neither counter prices are reported by name unless they are in KNOWN_ZERO_MAC (elementwise,
shape, normalisation and pooling ops that multiply-add counts leave out by convention).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aieff.dataset.diagnostics import first_line
from aieff.repo import DataError

DISAGREEMENT = 0.02
KNOWN_ZERO_MAC = frozenset(
    "aten." + name
    for name in """
    _adaptive_avg_pool2d adaptive_avg_pool2d adaptive_max_pool2d avg_pool2d max_pool2d_with_indices max_pool2d
    _softmax _safe_softmax _log_softmax softmax log_softmax _unsafe_view view reshape permute transpose t
    expand expand_as select slice split split_with_sizes unbind chunk squeeze unsqueeze flatten alias as_strided
    as_strided_ contiguous clone copy_ detach empty empty_like new_zeros new_empty new_ones zeros zeros_like
    ones ones_like full fill_ scalar_tensor arange cat stack roll constant_pad_nd pad index index_select gather
    masked_fill eq ne lt le gt ge where add add_ sub sub_ mul mul_ div div_ neg rsqrt sqrt pow exp log abs
    clamp clamp_ clamp_min clamp_max mean sum cumsum amax max min relu relu_ gelu silu silu_ sigmoid sigmoid_ tanh tanh_
    hardswish hardswish_ hardsigmoid hardsigmoid_ hardtanh hardtanh_ leaky_relu leaky_relu_ elu elu_ erf
    native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_no_training native_layer_norm
    native_group_norm linalg_vector_norm norm dropout native_dropout bernoulli_ stochastic_depth _to_copy
    lift_fresh_copy zero_ sort topk argmax any all logical_not bitwise_not cos sin embedding rms_norm
    _fused_rms_norm scaled_dot_product_attention triu tril bitwise_and logical_and rsub square reciprocal unfold
    """.split()
)


@dataclass
class ForwardCount:
    """Forward cost of one sample, in multiply-adds, with what the cross-check found."""

    multiply_adds: float
    torch_flop: float
    parameters: int
    unsupported: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def flop(self) -> float:
        """Forward FLOP (2 per multiply-add)."""
        return 2.0 * self.multiply_adds

    @property
    def disagreement(self) -> float:
        """Relative difference between ptflops and torch's FlopCounterMode."""
        return abs(self.flop - self.torch_flop) / max(self.torch_flop, 1.0)


@contextlib.contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Build with ordinary tensors for the builder's own arithmetic, but move each parameter and buffer
    to the meta device as it is registered, so no weight stays allocated or is initialised for real."""
    import torch

    module = torch.nn.Module
    register_parameter, register_buffer = module.register_parameter, module.register_buffer

    def parameter(self: Any, name: str, param: Any) -> None:
        if param is not None and param.device.type != "meta":
            param = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def buffer(self: Any, name: str, tensor: Any, persistent: bool = True) -> None:
        register_buffer(self, name, None if tensor is None else tensor.to("meta"), persistent)

    # Patching torch.nn.Module's methods for the build is the point: method-assign is what mypy flags.
    module.register_parameter, module.register_buffer = parameter, buffer  # type: ignore[method-assign]
    try:
        yield
    finally:
        module.register_parameter, module.register_buffer = register_parameter, register_buffer  # type: ignore[method-assign]


def build_torchvision(name: str, kwargs: dict[str, Any]) -> Any:
    """A torchvision model without weights on the meta device (CPU fallback for builders that need data)."""
    import warnings

    import torch
    from torchvision import models

    warnings.filterwarnings("ignore", category=FutureWarning, module="torchvision")
    if name not in models.list_models():
        raise DataError(f"torchvision has no model {name!r}")
    if any(k.startswith("weights") or k == "progress" for k in kwargs):
        raise DataError(f"torchvision {name}: weights are never loaded (no {sorted(kwargs)})")
    try:
        try:
            with torch.device("meta"):
                model = models.get_model(name, weights=None, **kwargs)
        except NotImplementedError:  # e.g. RegNet computes widths with real tensors while building
            with _parameters_on_meta():
                model = models.get_model(name, weights=None, **kwargs)
    except (TypeError, ValueError, RuntimeError, AssertionError) as exc:
        first = first_line(exc)[:200]
        raise DataError(f"torchvision {name}: bad constructor arguments: {type(exc).__name__}: {first}") from exc
    return model.eval()


class _LastLogLine(logging.Handler):
    """Keeps the last line of the last record: torch.export.load logs the real cause, then raises a generic error."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.line = ""

    def emit(self, record: logging.LogRecord) -> None:
        lines = [ln.strip() for ln in self.format(record).splitlines() if ln.strip()]
        self.line = lines[-1] if lines else self.line


def load_export(path: Path, *, every_weight_used: bool = False) -> Any:
    """A torch.export archive (.pt2) as a module the counters can run (`exported_model`), loaded from its
    checked copy."""
    import tempfile

    import torch

    from aieff.verify.pt2 import sanitized_copy

    with tempfile.TemporaryDirectory(prefix="aieff-pt2-") as tmp:
        clean = sanitized_copy(path, Path(tmp) / "checked.pt2")
        caught = _LastLogLine()
        logger = logging.getLogger("torch.export")
        logger.addHandler(caught)
        try:
            program = torch.export.load(str(clean))
        except Exception as exc:  # a corrupt archive: one clean message, with the cause torch only logged
            first = caught.line or first_line(exc)
            raise DataError(f"{path.name}: not a loadable torch.export archive: {first[:200]}") from exc
        finally:
            logger.removeHandler(caught)
    return exported_model(program, every_weight_used=every_weight_used)


def exported_model(program: Any, *, every_weight_used: bool = False) -> Any:
    """An ExportedProgram as a module the counters can run: its weights' roles checked and everything it
    holds on the meta device (aieff.verify.export_graph), so counting never computes on its data.
    every_weight_used: refuse weights the graph never applies (when a checkpoint is compared with them)."""
    import torch

    from aieff.verify.export_graph import prepare

    graph = _fused_attention(prepare(program, every_weight_used=every_weight_used))
    # Shapes only, with the archive's ties kept: tensors on one storage (a loaded archive's tied weights)
    # stay one meta tensor; a graph-only archive's meta tensors are kept as they are (their ties are unknown).
    state: dict[str, Any] = {}
    seen: dict[tuple[Any, ...], Any] = {}
    for k, v in program.state_dict.items():
        if v.is_meta:
            state[k] = v
            continue
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape), v.stride())
        state[k] = seen.setdefault(key, torch.empty_like(v, device="meta"))

    class Exported(torch.nn.Module):
        """Runs the exported graph; eval()/train() are no-ops for it (export fixes the mode)."""

        _graph: Any  # set without registering a child module

        def __init__(self) -> None:
            super().__init__()
            object.__setattr__(self, "_graph", graph)  # not a child: eval() raises

        ties_unknown = bool(state) and all(v.is_meta for v in program.state_dict.values())  # graph-only archive

        def forward(self, *args: Any) -> Any:
            return self._graph(*args)

        # The archive's state (meta tensors) whatever is asked: torch's overloads describe a module's own
        # parameters and buffers, which this wrapper has none of.
        def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
            return dict(state)

    return Exported()


def _sdpa_fused(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Any:
    """Attention through the fused CPU kernel (which has a meta implementation), so both counters see
    one attention op with its is_causal flag instead of the decomposed full-size matmuls."""
    import torch

    aten = torch.ops.aten
    if attn_mask is None and not enable_gqa and q.dim() == 4 and q.shape[1] == k.shape[1]:
        return aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, dropout_p, is_causal, scale=scale)[0]
    return aten.scaled_dot_product_attention.default(
        q, k, v, attn_mask, dropout_p, is_causal, scale=scale, enable_gqa=enable_gqa
    )


def _fused_attention(graph_module: Any) -> Any:
    """Point the graph's scaled_dot_product_attention nodes at _sdpa_fused (the graph is already checked)."""
    import torch

    changed = False
    for node in graph_module.graph.nodes:
        if node.op == "call_function" and node.target is torch.ops.aten.scaled_dot_product_attention.default:
            node.target = _sdpa_fused
            changed = True
    if changed:
        graph_module.recompile()
    return graph_module


BELOW_DESIGN = 3.0  # warn when an image model is counted at under a third of the side it was designed for


def design_resolution(name: str) -> int | None:
    """The crop side torchvision's own weights for `name` were trained at (metadata only, no download)."""
    from torchvision import models

    try:
        transforms = models.get_model_weights(name).DEFAULT.transforms
    except (ValueError, AttributeError, KeyError):
        return None
    crop = getattr(transforms, "keywords", {}).get("crop_size")
    return int(crop) if isinstance(crop, int) else None


def resolution_warning(name: str, resolution: int | None) -> str | None:
    """A note when a torchvision model is counted far below its design resolution (e.g. an ImageNet
    ResNet-18 at CIFAR's 32 px: its stride-4 stem is not the CIFAR variant, and its count is ~15x low)."""
    design = design_resolution(name)
    if design and resolution and resolution * BELOW_DESIGN <= design:
        return (
            f"torchvision {name} is designed for {design} px and counted at {resolution} px: its stem and "
            "strides are the ImageNet ones; for a small-image variant (e.g. CIFAR ResNets) use a graph-only export"
        )
    return None


def example_input(
    kind: str,
    *,
    resolution: int | None = None,
    features: int | None = None,
    sequence_length: int | None = None,
    device: str = "meta",
    batch: int = 1,
) -> Any:
    """A batch (one sample by default) of the shape the entry declares."""
    import torch

    if kind == "image":
        if not resolution:
            raise DataError("image models need forward_cost.resolution")
        return torch.empty(batch, 3, resolution, resolution, device=device)
    if kind == "vector":
        if not features:
            raise DataError("vector models need architecture.input_features")
        return torch.empty(batch, features, device=device)
    if not sequence_length:
        raise DataError("token models need forward_cost.sequence_length")
    return torch.zeros(batch, sequence_length, dtype=torch.long, device=device)


# Position of `is_causal` in each fused attention op's arguments (query, key, value first).
CAUSAL_ARG = {
    "_scaled_dot_product_flash_attention_for_cpu": 4,
    "_scaled_dot_product_flash_attention": 4,
    "_scaled_dot_product_efficient_attention": 6,
    "_scaled_dot_product_cudnn_attention": 6,
}


def attention_pairs(lq: int, lk: int, causal: bool) -> int:
    """Query-key pairs attention computes: all of them, or under a causal mask only keys at or before
    the query's position (PyTorch's top-left alignment), L(L+1)/2 for a square product."""
    if not causal:
        return lq * lk
    full_rows = max(0, lq - lk)  # queries past the last key see every key
    partial = min(lq, lk)
    return partial * (partial + 1) // 2 + full_rows * lk


def attention_macs(q: Any, k: Any, v: Any, causal: bool) -> int:
    """Q @ K^T and weights @ V for shapes q, k, v: batch x heads x pairs x (E + Ev) multiply-adds."""
    batch_heads = 1
    for d in q[:-2]:
        batch_heads *= d
    return int(batch_heads * attention_pairs(q[-2], k[-2], causal) * (q[-1] + v[-1]))


def _sdpa_macs_for(name: str) -> Any:
    where = CAUSAL_ARG[name]

    def macs(args: tuple[Any, ...], outputs: tuple[Any, ...]) -> int:
        causal = len(args) > where and bool(args[where])
        return attention_macs(args[0].shape, args[1].shape, args[2].shape, causal)

    return macs


def _attention_ops() -> dict[str, Any]:
    import torch

    aten = torch.ops.aten
    return {n: getattr(aten, n) for n in CAUSAL_ARG if hasattr(aten, n)}


def _attention_rules() -> dict[Any, Any]:
    """ptflops rules (multiply-adds) for fused attention, which it otherwise counts as zero, and for the
    summed elementwise products found in exports (aieff.verify.export_graph)."""
    from aieff.verify.export_graph import summed_product_rules

    return {op: _sdpa_macs_for(name) for name, op in _attention_ops().items()} | summed_product_rules()[0]


def _sdpa_flop_for(name: str) -> Any:
    where = CAUSAL_ARG[name] - 3  # FlopCounterMode passes the shapes of q, k, v, then the other arguments

    def flop(q: Any, k: Any, v: Any, *args: Any, **kwargs: Any) -> int:
        return 2 * attention_macs(q, k, v, len(args) > where and bool(args[where]))

    return flop


def _torch_attention_rules() -> dict[Any, Any]:
    """The same rules in FLOP for torch's FlopCounterMode, which misses CPU flash attention in this torch."""
    from aieff.verify.export_graph import summed_product_rules

    return {op: _sdpa_flop_for(name) for name, op in _attention_ops().items()} | summed_product_rules()[1]


def needs_grad(model: Any) -> bool:
    """Whether a module has a fused-attention fast path that only gradients keep it off."""
    import torch

    fast = (torch.nn.MultiheadAttention, torch.nn.TransformerEncoderLayer, torch.nn.TransformerDecoderLayer)
    return any(isinstance(m, fast) for m in model.modules())


def _ptflops(model: Any, sample: Any, log: io.StringIO, printed: io.StringIO) -> tuple[Any, Any]:
    """ptflops' (multiply-adds, parameters), or (None, None) with its printed reason in `printed`."""
    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        return get_model_complexity_info(
            model,
            tuple(sample.shape[1:]),
            input_constructor=lambda _: sample,
            as_strings=False,
            backend="aten",
            print_per_layer_stat=False,
            verbose=True,
            ost=log,
            custom_modules_hooks=_attention_rules(),
        )


def count_forward(model: Any, sample: Any, *, grad: bool | None = None) -> ForwardCount:
    """Count forward multiply-adds of one sample with ptflops' aten backend and cross-check with torch.

    grad=True keeps attention off fused fast paths; None (the default) turns it on only for a module
    that has one (`needs_grad`). Exported graphs are already aten ops and count with gradients off
    (their frozen buffers cannot require grad).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    mode = torch.enable_grad if (needs_grad(model) if grad is None else grad) else torch.no_grad
    # One forward pass feeds both counters: ptflops' dispatch mode sees each aten op first and passes
    # it on to FlopCounterMode's, so the two count the same execution independently.
    log, printed = io.StringIO(), io.StringIO()
    with mode(), FlopCounterMode(display=False, custom_mapping=_torch_attention_rules()) as counter:
        macs, params = _ptflops(model, sample, log, printed)
    if macs is None:  # which counter failed: each on its own, for a message naming it and its cause
        log, printed = io.StringIO(), io.StringIO()
        with mode():
            macs, params = _ptflops(model, sample, log, printed)
        if macs is None:  # ptflops prints the exception and its traceback instead of raising
            found = re.search(r"following exception: \n(.+)", printed.getvalue())
            lines = printed.getvalue().strip().splitlines() or ["no reason given"]
            cause = found.group(1) if found else lines[-1]
            raise DataError(f"ptflops could not count the model: {cause.strip()[:300]}")
        try:
            with mode(), FlopCounterMode(display=False, custom_mapping=_torch_attention_rules()) as counter:
                model(sample)
        except Exception as exc:  # the cross-check's own failure, with its cause
            first = first_line(exc)[:300]
            raise DataError(f"torch FlopCounterMode could not run the model: {type(exc).__name__}: {first}") from exc
    zero_ops = re.findall(r"Warning: (\S+) operation is treated as a zero-op", log.getvalue())
    unsupported: dict[str, int] = {}
    for op in zero_ops:
        if op not in KNOWN_ZERO_MAC:
            unsupported[op] = unsupported.get(op, 0) + 1
    n_params = sum(int(v.numel()) for v in model.state_dict().values()) if not params else int(params)
    result = ForwardCount(float(macs), float(counter.get_total_flops()), n_params, unsupported)
    if result.disagreement > DISAGREEMENT:
        result.notes.append(
            f"ptflops {result.flop:.4g} FLOP vs torch FlopCounterMode {result.torch_flop:.4g} FLOP "
            f"({result.disagreement:.1%} apart, over the {DISAGREEMENT:.0%} limit)"
        )
    for op, n in sorted(unsupported.items()):
        result.notes.append(f"operator {op} ({n} call(s)) has no counting rule and was counted as zero")
    return result
