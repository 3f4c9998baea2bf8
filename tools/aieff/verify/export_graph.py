"""An export's graph made ready for counting: on the meta device, its weights' roles checked, and its
summed elementwise products priced as multiply-adds.

Counting never runs a contributor's graph on real data: every weight, buffer and constant is replaced by
a meta tensor and every operator that creates a tensor is pointed at the meta device, so the forward pass
computes shapes only, whatever the archive holds.

The weight rule (A201, A202). A checkpoint is compared with an export's state dict by tensor shapes, so
the graph must not be able to hold a layer's weights and skip (or hide) the layer's arithmetic. Each
tensor of the state dict is followed through the computation that depends on weights alone (views,
casts, concatenations, weight standardisation: all per-sample free) to every operator where it meets
data that depends on the input. Each such meeting must be one of:

- an operator the counters price: convolution, linear, mm / addmm / bmm / matmul, an einsum that sums
  over an index, attention, or an elementwise product that is summed (below);
- a lookup that reads the weight as a table: embedding, index, index_select, gather;
- a normalisation (batch / layer / group / RMS norm) taking it as affine weight, bias or running
  statistic with at most one dimension longer than 1;
- an additive elementwise operator (add, sub, where, masked_fill, cat, comparisons ...): biases,
  positional embeddings, masks;
- a multiplicative elementwise operator (mul, div, outer, an einsum that sums nothing) where the weight has
  at most one dimension longer than 1 (a per-channel scale).

The last three are free because they cost one operation per element of the input; so in them the weight
must be no larger than the distinct data of the input it meets. Copies add no data: an input broadcast or
replicated to the weight's size (expand, repeat, unfold, nearest upsampling, a lookup with weight-only
indices, `x + zeros(n, m)`) would make it one operation per weight, a matrix-vector product in disguise,
and a weight meeting a smaller input (`W + 0 * x.sum()`) would be laundered into input-dependent data.
Anything else is refused (A201) naming the tensor and the operator. When the entry pins a checkpoint, a
floating-point tensor of the state dict that never meets the input is refused too (A202): the checkpoint
would match a graph that skips that layer. Without a checkpoint the state dict is no evidence, and unused
weights (e.g. the auxiliary heads of torchvision's GoogLeNet and Inception v3 in eval mode) are allowed.
Tensors outside the state dict (non-persistent buffers, constants such as rotary tables) are not in a
checkpoint and only count through the operators they feed. The rule passes every committed export and
every torchvision classification model exported on the meta device.

Summed products. An elementwise product (mul, div, outer, an einsum that sums nothing) whose result
reaches a summing reduction (sum, mean, cumsum, average pooling) through views, linear and
piecewise-linear elementwise operators (add, cat, relu, where ...) is a contraction written out by hand,
e.g. a Linear layer as `(x[..., None, :] * W).sum(-1)`, whether its operands are weights or activations.
Each such product is passed through the operator `aieff::summed_product`, which both counters price at
one multiply-add per element of the product, so it counts as much as the Linear it replaces. A per-channel
scale that reaches a pooling this way is priced too (one multiply-add per element, a small overcount that
only makes a count higher). So is every broadcasting product, one whose result is larger than the distinct
data of each operand, whether or not a sum is seen to follow it.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Iterable
from typing import Any

from aieff.refusals import Refused

VIEWS = frozenset(
    """
    view _unsafe_view reshape permute transpose t squeeze unsqueeze flatten unflatten alias contiguous
    clone detach _to_copy to type_as select slice narrow split split_with_sizes chunk unbind movedim
    swapaxes view_as as_strided lift_fresh_copy _assert_tensor_metadata
    """.split()
)
BROADCASTS = frozenset("expand expand_as broadcast_to repeat tile repeat_interleave".split())
# What a product may pass through on its way to a sum and still be a contraction: linear operators, and the
# piecewise-linear ones that split it exactly (relu(p) - relu(-p) == p).
PASS_THROUGH = (
    VIEWS
    | BROADCASTS
    | frozenset(
        """
        add sub rsub neg cat stack pad constant_pad_nd flip roll relu abs clamp clamp_min clamp_max hardtanh
        leaky_relu where masked_fill maximum minimum
        """.split()
    )
)
REDUCTIONS = frozenset(
    """
    sum mean nansum cumsum avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d
    adaptive_avg_pool3d _adaptive_avg_pool2d _adaptive_avg_pool3d trace
    """.split()
)
PRODUCTS = frozenset({"mul", "div", "outer", "ger"})  # and an einsum that contracts no index
COUNTED = frozenset(  # priced by both counters (einsum: when it contracts an index)
    """
    linear matmul mm addmm bmm einsum conv1d conv2d conv3d convolution _convolution conv_transpose1d
    conv_transpose2d conv_transpose3d scaled_dot_product_attention _scaled_dot_product_flash_attention_for_cpu
    _scaled_dot_product_flash_attention _scaled_dot_product_efficient_attention
    _scaled_dot_product_cudnn_attention
    """.split()
)
LOOKUPS = frozenset("embedding index index_select gather take".split())
NORMS = frozenset(
    """
    batch_norm native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_no_training layer_norm
    native_layer_norm group_norm native_group_norm instance_norm rms_norm _fused_rms_norm
    """.split()
)
ADDITIVE = frozenset(
    """
    add sub rsub where masked_fill cat stack eq ne lt le gt ge maximum minimum clamp clamp_min clamp_max
    """.split()
)
COPIES = BROADCASTS | frozenset(
    """
    unfold pad constant_pad_nd upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact1d
    _upsample_nearest_exact2d _upsample_nearest_exact3d flip roll
    """.split()
)
ELEMENTWISE = (ADDITIVE | PRODUCTS | PASS_THROUGH) - VIEWS - BROADCASTS - frozenset({"cat", "stack"})
SHAPE_ONLY = frozenset("expand_as view_as type_as".split())  # read the weight's shape or dtype, not its values


def _name(node: Any) -> str:
    """The operator's name without namespace or overload (aten.mul.Tensor -> mul)."""
    return "getitem" if node.target is operator.getitem else _name_of(node.target)


def _shape(node: Any) -> tuple[Any, ...] | None:
    val = node.meta.get("val") if hasattr(node, "meta") else None
    return tuple(val.shape) if val is not None and hasattr(val, "shape") else None


def _smallest(d: Any) -> int:
    """A dimension's size, or for a symbolic one (dynamic shapes) the smallest it may be, at least 1: every
    size is judged at one point, where the input is as small as the export allows (an input made large only
    at export time, e.g. a batch of the weight's size, would otherwise pass)."""
    if isinstance(d, int):
        return d
    try:
        lower = d.node.shape_env.bound_sympy(d.node.expr).lower
        return max(1, int(lower)) if lower.is_finite else 1
    except Exception:  # an expression the shape environment cannot bound
        return 1


def _numel(node: Any) -> int | None:
    """Elements of a node's value (symbolic sizes at their smallest); None when unknown."""
    shape = _shape(node)
    return None if shape is None else math.prod(_smallest(d) for d in shape)


def _long_dims(shape: tuple[Any, ...] | None) -> int:
    """Dimensions longer than 1 (a symbolic size counts as long); unknown shapes count as many."""
    if shape is None:
        return 99
    return sum(1 for d in shape if not (isinstance(d, int) and d <= 1))


def _tensor_args(node: Any) -> Iterable[tuple[int | str, Any]]:
    """(position, node) of every graph node among a node's arguments, nested lists included."""
    import torch.fx

    def walk(key: int | str, value: Any) -> Iterable[tuple[int | str, Any]]:
        if isinstance(value, torch.fx.Node):
            yield key, value
        elif isinstance(value, list | tuple):
            for item in value:
                yield from walk(key, item)

    for i, a in enumerate(node.args):
        yield from walk(i, a)
    for k, v in node.kwargs.items():
        yield from walk(k, v)


def input_dependent(graph: Any) -> set[Any]:
    """Nodes whose value depends on the values of the graph's inputs (placeholders). A size read from an
    input (sym_size, under dynamic shapes) is not its values: slicing a positional table to the input's
    length stays computation on weights alone."""
    import torch

    dependent: set[Any] = set()
    for node in graph.nodes:
        if isinstance(node.meta.get("val"), torch.SymInt | torch.SymFloat | torch.SymBool | int | float | bool):
            continue
        if node.op == "placeholder" or any(a in dependent for _, a in _tensor_args(node)):
            dependent.add(node)
    return dependent


def _contracts(node: Any) -> bool:
    """Whether an einsum sums over an index (priced as a matrix product), not only multiplies elementwise."""
    equation = node.args[0] if node.args and isinstance(node.args[0], str) else ""
    inputs, _, output = equation.replace(" ", "").partition("->")
    if not _:
        return True  # implicit output: every index seen once is kept, repeated ones are summed
    return bool(set(inputs) - set(output) - {",", "."})


def _is_product(node: Any) -> bool:
    if node.op != "call_function":
        return False
    name = _name(node)
    if name == "einsum":
        return not _contracts(node)
    return name in PRODUCTS and sum(1 for _ in _tensor_args(node)) == 2


def summed_products(graph: Any) -> list[Any]:
    """Elementwise products whose value reaches a summing reduction through PASS_THROUGH operators."""
    found = []
    for node in graph.nodes:
        if not _is_product(node):
            continue
        seen, todo = {node}, [node]
        while todo:
            current = todo.pop()
            for user in current.users:
                name = _name(user) if user.op == "call_function" else ""
                if name in REDUCTIONS and user.args and user.args[0] is current:
                    found.append(node)
                    todo = []
                    break
                if (name in PASS_THROUGH or name == "getitem" or _is_product(user)) and user not in seen:
                    seen.add(user)
                    todo.append(user)
    return found


def broadcast_products(graph: Any) -> list[Any]:
    """Elementwise products whose result holds more elements than the distinct data of each operand: an
    outer product, the terms of a contraction written out. Priced however (or whether) they are summed
    later: a sum hidden behind an operator the summed-product search does not follow (`pow(p, 1)`, a tree
    of slices and adds) cannot make one free."""
    dependent = input_dependent(graph)
    distinct = distinct_sizes(graph, dependent)
    found = []
    for node in graph.nodes:
        if not _is_product(node):
            continue
        out = _numel(node)
        sizes = [distinct.get(a) if a in dependent else _numel(a) for _, a in _tensor_args(node)]
        if out is not None and sizes and (known := _all_known(sizes)) is not None and out > max(known):
            found.append(node)
    return found


def _all_known(sizes: list[int | None]) -> list[int] | None:
    """The sizes when every one is known, else None."""
    known = [s for s in sizes if s is not None]
    return known if len(known) == len(sizes) else None


def distinct_sizes(graph: Any, dependent: set[Any]) -> dict[Any, int | None]:
    """For each input-dependent node, how many elements of its value are distinct input data rather than
    copies: its size, except that copying operators (expand, repeat, unfold, padding, nearest upsampling,
    a concatenation of one tensor twice) and elementwise operators that broadcast against a larger
    weight-only operand (`x + zeros(n, m)`) add none, and a lookup holds no more than its table and its
    input-dependent indices. None: unknown."""
    out: dict[Any, int | None] = {}

    def of(a: Any) -> int | None:
        return out.get(a) if a in dependent else _numel(a)

    for node in graph.nodes:
        if node not in dependent:
            continue
        size = _numel(node)
        name = _name(node) if node.op == "call_function" else ""
        deps = [a for _, a in _tensor_args(node) if a in dependent]
        inner: int | None = size
        if name in VIEWS or name in COPIES or name == "getitem":
            first = node.args[0] if node.args else None
            inner = out.get(first) if first in dependent else size
        elif name in ELEMENTWISE and deps:
            sizes = [out.get(a) for a in deps]
            inner = None if (known := _all_known(sizes)) is None else max(known)
        elif name in ("cat", "stack") and node.args and isinstance(node.args[0], list | tuple):
            parts = [of(a) for a in dict.fromkeys(node.args[0])]  # one tensor twice is one tensor's data
            inner = None if (known := _all_known(parts)) is None else sum(known)
        elif name in LOOKUPS and node.args:  # a lookup holds its table's data and its indices' choices, no more
            table, rest = node.args[0], [a for _, a in _tensor_args(node) if a is not node.args[0]]
            parts = [of(table)] + [out.get(a) for a in rest if a in dependent]  # weight-only indices choose nothing
            inner = None if (known := _all_known(parts)) is None else sum(known)
        out[node] = None if size is None or inner is None else min(size, inner)
    return out


def _meeting_allowed(
    user: Any, position: int | str, static: Any, dependent: set[Any], distinct: dict[Any, int | None], counted: set[Any]
) -> bool:
    """Whether a weight-derived value `static` may meet input-dependent data at `user` (see the module doc)."""
    if user in counted:
        return True
    name = _name(user) if user.op == "call_function" else ""
    if name in COUNTED and not (name == "einsum" and not _contracts(user)) or name in LOOKUPS:
        return True
    # The free roles below cost one operation per element of the input; a weight larger than the distinct
    # data of the input it meets would make that one operation per weight (a matrix-vector product in
    # disguise, on a broadcast copy of the input) or launder the weight into input-dependent data.
    weight, sizes = _numel(static), [distinct.get(a) for _, a in _tensor_args(user) if a in dependent]
    if weight is not None and (known := _all_known(sizes)) is not None and weight > max(known, default=0):
        return False
    if name in NORMS:
        return position != 0 and _long_dims(_shape(static)) <= 1
    if name in ADDITIVE:
        return True
    if _is_product(user) or name in PRODUCTS:
        return _long_dims(_shape(static)) <= 1
    return False


def _root(node: Any) -> Any:
    """The node a chain of views and copies starts from (so slices of one input count as that input)."""
    while node.op == "call_function" and (_name(node) in VIEWS or _name(node) in COPIES or _name(node) == "getitem"):
        if not node.args or not hasattr(node.args[0], "op"):
            break
        node = node.args[0]
    return node


def check_weights(gm: Any, state: dict[str, Any], counted: set[Any], *, every_weight_used: bool) -> None:
    """Refuse a graph whose state-dict tensors meet the input other than as the module doc allows."""
    graph = gm.graph
    dependent = input_dependent(graph)
    distinct = distinct_sizes(graph, dependent)
    sources: dict[Any, set[str]] = {}  # weight-derived node -> the state-dict names it carries
    for node in graph.nodes:
        if node in dependent:
            continue
        names: set[str] = set()
        if node.op == "get_attr" and node.target in state:
            names.add(node.target)
        for _, a in _tensor_args(node):
            names |= sources.get(a, set())
        if names:
            sources[node] = names
    consumed: set[str] = set()
    # A weight's free multiplicative uses against one input add up: the rows of a matrix applied one by one
    # as per-channel scales are a matrix-vector product, however small each row is.
    scaled: dict[tuple[str, Any], int] = {}
    for node, names in sources.items():
        for user in node.users:
            if user not in dependent or user.op == "output":
                continue
            if user.op == "call_function" and _name(user) in SHAPE_ONLY:
                continue
            positions = [pos for pos, a in _tensor_args(user) if a is node]
            for pos in positions:
                if not _meeting_allowed(user, pos, node, dependent, distinct, counted):
                    first = sorted(names)[0]
                    more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
                    raise Refused(
                        "A201",
                        f"{first}{more} meets the input in {user.target}, which no counter prices "
                        "and which is not free for a weight of that shape",
                    )
            if user not in counted and (_is_product(user) or _name(user) in PRODUCTS):
                size = _numel(node) or 0
                for _, other in _tensor_args(user):
                    if other in dependent:
                        for name in names:
                            key = (name, _root(other))
                            scaled[key] = scaled.get(key, 0) + size
                            limit = distinct.get(other)
                            if limit is not None and scaled[key] > limit:
                                raise Refused(
                                    "A201",
                                    f"{name} scales the input in {scaled[key]:,} elements over several free "
                                    f"products (more than the {limit:,} it holds): a matrix product applied "
                                    "piece by piece, which no counter prices",
                                )
            consumed |= names
    if not every_weight_used:
        return
    aliases: dict[int, set[str]] = {}  # tied weights: one tensor under several names, read through one
    for name, tensor in state.items():
        aliases.setdefault(id(tensor), set()).add(name)
    for name, tensor in sorted(state.items()):
        if not aliases[id(tensor)] & consumed and (tensor.is_floating_point() or tensor.is_complex()):
            raise Refused("A202", f"{name} is in the state dict but never applied to the input")


@functools.cache
def _summed_product_op() -> Any:
    """The operator `aieff::summed_product(product) -> Tensor`: the product unchanged, priced by both counters
    at one multiply-add per element."""
    import torch

    def summed_product(product: Any) -> Any:
        return product.clone()

    schema = "(Tensor product) -> Tensor"  # given: this module's annotations are strings
    torch.library.custom_op("aieff::summed_product", mutates_args=(), schema=schema)(summed_product).register_fake(
        summed_product
    )
    return torch.ops.aieff.summed_product


def summed_product_rules() -> tuple[dict[Any, Any], dict[Any, Any]]:
    """(ptflops rule in multiply-adds, FlopCounterMode rule in FLOP) for aieff::summed_product."""
    op = _summed_product_op()

    def macs(args: tuple[Any, ...], outputs: tuple[Any, ...]) -> int:
        return int(outputs[0].numel())

    def flop(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return 2 * math.prod(out_shape)

    return {op: macs}, {op: flop}


def _priced(target: Any) -> Any:
    """`target` (a product operator) with its result passed through aieff::summed_product."""

    def summed(*args: Any, **kwargs: Any) -> Any:
        return _summed_product_op()(target(*args, **kwargs))

    summed.__name__ = f"summed_{_name_of(target)}"
    return summed


def _name_of(target: Any) -> str:
    packet = getattr(target, "_overloadpacket", None)
    return str(getattr(packet, "__name__", None) or getattr(target, "__name__", "op"))


def _to_meta(gm: Any) -> None:
    """Every weight, buffer and constant a meta tensor; every tensor-creating operator on the meta device."""
    import torch

    # A loaded archive's tied weights are distinct tensors on one storage: keep them one tensor on meta, so a
    # checkpoint that ties them still matches (aieff.verify.checkpoint.state_shapes reads ties by identity).
    tied: dict[tuple[Any, ...], list[str]] = {}
    for name, value in gm.state_dict(keep_vars=True).items():
        if isinstance(value, torch.Tensor) and not value.is_meta:
            key = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape), value.stride())
            tied.setdefault(key, []).append(name)
    gm.to_empty(device="meta")
    for names in tied.values():
        first_owner, _, first_attr = names[0].rpartition(".")
        first = getattr(gm.get_submodule(first_owner) if first_owner else gm, first_attr)
        for name in names[1:]:
            owner, _, attr = name.rpartition(".")
            setattr(gm.get_submodule(owner) if owner else gm, attr, first)
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            owner, _, attr = node.target.rpartition(".")
            holder = gm.get_submodule(owner) if owner else gm
            value = getattr(holder, attr, None)
            if isinstance(value, torch.Tensor) and value.device.type != "meta":
                meta = torch.empty_like(value, device="meta")
                if isinstance(value, torch.nn.Parameter):
                    meta = torch.nn.Parameter(meta, requires_grad=value.requires_grad)
                setattr(holder, attr, meta)
        elif node.op == "call_function":
            schema = getattr(node.target, "_schema", None)
            if schema is not None and any(arg.name == "device" for arg in schema.arguments):
                node.args = tuple(torch.device("meta") if isinstance(a, torch.device) else a for a in node.args)
                positional = [arg.name for arg in schema.arguments][: len(node.args)]
                if "device" not in positional:
                    node.kwargs = {**node.kwargs, "device": torch.device("meta")}
    gm.recompile()


def prepare(program: Any, *, every_weight_used: bool = False) -> Any:
    """The program's module, counted on the meta device: weights checked (A201, and A202 when
    `every_weight_used`, i.e. a checkpoint is compared), summed products priced."""
    gm = program.module()
    state = dict(program.state_dict)
    products = list(dict.fromkeys([*summed_products(gm.graph), *broadcast_products(gm.graph)]))
    check_weights(gm, state, set(products), every_weight_used=every_weight_used)
    for node in products:
        node.target = _priced(node.target)
    _to_meta(gm)
    return gm
