"""Exports are counted on the meta device only, their weights must meet the input where a counter prices
them (or in a free role), and an elementwise product that is summed counts as multiply-adds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from aieff.refusals import Refused  # noqa: E402
from aieff.verify.flops import count_forward, example_input, exported_model, load_export  # noqa: E402

IN, OUT = 64, 32


def _export(model: Any, *inputs: Any) -> Any:
    return torch.export.export(model.eval(), inputs)


class _Layer(torch.nn.Module):
    """A holder whose `fc.weight` has a Linear layer's name and shape, whatever the forward does with it."""

    def __init__(self, forward: Any) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(IN, OUT, bias=False)
        self._forward = forward

    def forward(self, x: Any) -> Any:
        return self._forward(x, self.fc.weight)


def _count(forward: Any) -> Any:
    return count_forward(
        exported_model(_export(_Layer(forward), torch.randn(1, IN))), example_input("vector", features=IN)
    )


def test_a_linear_written_as_multiply_and_sum_counts_as_the_linear() -> None:
    """The attack of issue 18: the same weights, a matching state dict, and no visible Linear. Counted,
    not refused: the product reaches a sum, so it is a contraction and is priced per element."""
    linear = _count(lambda x, w: torch.nn.functional.linear(x, w))
    assert linear.multiply_adds == IN * OUT
    for attack in (
        lambda x, w: (x.unsqueeze(-2) * w).sum(-1),
        lambda x, w: (w * x[:, None, :]).mean(-1) * IN,
        lambda x, w: (x.unsqueeze(-2) * w).transpose(-1, -2).cumsum(-2)[:, -1],
        lambda x, w: (x.unsqueeze(-2) / (1 / w)).sum(-1),  # the reciprocal is computed from weights alone
        lambda x, w: (x.expand(OUT, IN).reshape(-1) * w.reshape(-1)).view(OUT, IN).sum(-1),
        lambda x, w: (torch.relu(p := x.unsqueeze(-2) * w) - torch.relu(-p)).sum(-1),  # relu(p) - relu(-p) == p
        lambda x, w: torch.einsum("bi,oi->boi", x, w).sum(-1),  # an einsum that sums nothing is a product
    ):
        count = _count(attack)
        assert count.multiply_adds == linear.multiply_adds and count.torch_flop == linear.torch_flop
        assert not count.unsupported and not count.notes


def _split(p: Any) -> Any:
    """softplus(p) - softplus(-p) == p: the same values, but no summing reduction sees the product."""
    return torch.nn.functional.softplus(p) - torch.nn.functional.softplus(-p)


def test_a_product_hidden_from_the_sum_is_refused_naming_the_weight() -> None:
    """Still the Linear, but the sum no longer sees a product: the weight meets the input in an unpriced
    multiply at full size, which the weight rule refuses; so do the ways around the rule's shape test."""
    with pytest.raises(Refused, match=r"^A201 weight-not-counted: fc\.weight meets the input in aten\.mul"):
        _count(lambda x, w: _split(x.unsqueeze(-2) * w).sum(-1))
    with pytest.raises(Refused, match=r"^A201 weight-not-counted: fc\.weight meets the input in aten\.einsum"):
        _count(lambda x, w: _split(torch.einsum("bi,oi->boi", x, w)).sum(-1))
    # Flattened to one dimension the weight looks like a per-channel scale, but the input is a broadcast copy.
    with pytest.raises(Refused, match=r"A201 .*fc\.weight meets the input in aten\.mul"):
        _count(lambda x, w: _split(x.expand(OUT, IN).reshape(-1) * w.reshape(-1)).view(OUT, IN).sum(-1))
    repeat = torch.arange(IN).repeat(OUT)  # a lookup with weight-only indices is a copy too
    with pytest.raises(Refused, match=r"A201 .*fc\.weight meets the input in aten\.mul"):
        _count(lambda x, w: _split(x.index_select(1, repeat) * w.reshape(1, -1)).view(OUT, IN).sum(-1))
    with pytest.raises(Refused, match=r"A201 .*fc\.weight meets the input in aten\.mul"):  # indices made to depend on x
        _count(
            lambda x, w: (
                _split(x.index_select(1, repeat + (0 * x.sum()).long()) * w.reshape(1, -1)).view(OUT, IN).sum(-1)
            )
        )
    with pytest.raises(Refused, match=r"A201 .*fc\.weight meets the input in aten\.layer_norm"):  # W * x-hat
        _count(lambda x, w: torch.layer_norm(x.expand(OUT, IN).reshape(-1), (OUT * IN,), w.reshape(-1)))
    # Laundered: added to input-dependent data, the weight would look like activations from then on.
    with pytest.raises(Refused, match=r"A201 .*fc\.weight meets the input in aten\.add"):
        _count(lambda x, w: _split(x.unsqueeze(-2) * (w + 0 * x.sum())).sum(-1))
    with pytest.raises(Refused, match=r"A201 .*fc\.weight meets the input in aten\.add"):
        _count(lambda x, w: _split(x.unsqueeze(-2) * (w + (torch.zeros(OUT, IN) + 0 * x.sum()))).sum(-1))


def test_a_weight_consumed_only_by_an_unpriced_operator_is_refused_naming_it() -> None:
    with pytest.raises(Refused, match=r"^A201 weight-not-counted: fc\.weight meets the input in aten\.atan2"):
        _count(lambda x, w: torch.atan2(x.unsqueeze(-2), w).sum(-1))


def test_a_weight_never_applied_to_the_input_is_refused_when_a_checkpoint_is_compared() -> None:
    """A checkpoint would match the state dict while the graph skips the layer; without a checkpoint the
    state dict is no evidence and unused weights (GoogLeNet's auxiliary heads in eval mode) are allowed."""
    skipped = _export(_Layer(lambda x, w: x * 2), torch.randn(1, IN))
    with pytest.raises(Refused, match=r"^A202 weight-unused: fc\.weight is in the state dict"):
        exported_model(skipped, every_weight_used=True)
    returned = _export(_Layer(lambda x, w: (x * 2, w.sum())), torch.randn(1, IN))  # weights only, never the input
    with pytest.raises(Refused, match=r"A202 .*fc\.weight"):
        exported_model(returned, every_weight_used=True)
    assert count_forward(exported_model(skipped), example_input("vector", features=IN)).multiply_adds == 0


def test_free_roles_pass_the_weight_rule() -> None:
    """Per-channel scales, norm affines, biases, positional tables, lookups and tied weights are free."""

    class Free(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(50, 16)
            self.pos = torch.nn.Parameter(torch.randn(8, 16))
            self.norm = torch.nn.LayerNorm(16)
            self.scale = torch.nn.Parameter(torch.ones(16))
            self.head = torch.nn.Linear(16, 50, bias=False)
            self.head.weight = self.emb.weight
            t = torch.arange(8.0)[:, None] * torch.arange(8.0)[None]  # a rotary-like table, not in the state dict
            self.register_buffer("table", torch.cat([t, t], -1), persistent=False)

        def forward(self, ids: Any) -> Any:
            h = self.norm(self.emb(ids) + self.pos) * self.scale * self.table
            return self.head(h)

    count = count_forward(
        exported_model(_export(Free(), torch.zeros(1, 8, dtype=torch.long))),
        torch.zeros(1, 8, dtype=torch.long, device="meta"),
    )
    assert count.multiply_adds == 8 * 16 * 50 and not count.unsupported


def test_a_positional_table_sliced_to_a_dynamic_length_is_free() -> None:
    """Under dynamic shapes the table is sliced by the input's length (a size, not the input's values)."""

    class Positions(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pos = torch.nn.Parameter(torch.randn(64, 16))
            self.fc = torch.nn.Linear(16, 16, bias=False)

        def forward(self, h: Any) -> Any:
            return self.fc(h + self.pos[: h.shape[1]])

    length = torch.export.Dim("length", min=2, max=64)
    program = torch.export.export(Positions(), (torch.randn(1, 8, 16),), dynamic_shapes=({1: length},))
    count = count_forward(exported_model(program, every_weight_used=True), torch.empty(1, 32, 16, device="meta"))
    assert count.multiply_adds == 32 * 16 * 16


def test_a_dynamic_length_does_not_hide_the_input_size() -> None:
    """Exported with a length as large as the weight, the input it launders the weight with would look as
    large as the weight; sizes are judged where the input is smallest the export allows."""
    length = torch.export.Dim("length", min=1, max=4 * OUT)
    program = torch.export.export(
        _Layer(lambda x, w: _split(x.unsqueeze(-2) * (w + 0 * x.unsqueeze(-2))).sum(-1)).eval(),
        (torch.randn(OUT, IN),),
        dynamic_shapes=({0: length},),
    )
    with pytest.raises(Refused, match=r"A201 .*fc\.weight meets the input in aten\.add"):
        exported_model(program)


def _devices_seen(model: Any, sample: Any) -> set[str]:
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    seen: set[str] = set()

    class Devices(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            for value in tree_flatten((args, kwargs, out))[0]:
                if isinstance(value, torch.Tensor):
                    seen.add(value.device.type)
            return out

    with Devices():
        model(sample)
    return seen


def test_an_export_with_real_weights_is_counted_on_the_meta_device(tmp_path: Path) -> None:
    """Real weights and a tensor created on the CPU inside the graph: every tensor the counters' forward
    sees is a meta tensor, so no contributor arithmetic runs on real data."""

    class Real(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(IN, 512)
            self.register_buffer("gain", torch.full((512,), 2.0))

        def forward(self, x: Any) -> Any:
            h = self.fc(x) * self.gain
            big = torch.ones(512, 4096, device="cpu")  # real: 8 MiB and 2 M multiply-adds per sample
            return h @ big

    path = tmp_path / "real.pt2"
    torch.export.save(_export(Real(), torch.randn(1, IN)), str(path))
    model = load_export(path)
    sample = example_input("vector", features=IN)
    assert _devices_seen(model, sample) == {"meta"}
    assert count_forward(model, sample).multiply_adds == IN * 512 + 512 + 512 * 4096  # ptflops counts bias adds
    assert all(t.device.type == "meta" for t in model.state_dict().values())


def test_the_worker_refuses_an_export_with_an_unpriced_operator(tmp_path: Path) -> None:
    """A Linear applied as a matrix-vector product runs aten.mv, which no counter prices: counted as zero,
    so an export is refused rather than reported in a note."""
    from aieff.verify.worker import run_job

    class MatVec(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(IN, OUT, bias=False)

        def forward(self, x: Any) -> Any:
            return self.fc.weight @ x.reshape(-1)

    path = tmp_path / "mv.pt2"
    torch.export.save(_export(MatVec(), torch.randn(1, IN)), str(path))
    job = {"arch": {"export": str(path)}, "input": "vector", "features": IN, "phases": [{}], "checkpoint": None}
    result = run_job(job)
    assert not result["ok"] and result["error"].startswith("A203 operator-not-counted: mv.pt2 runs aten.mv")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "vit_b_16", "swin_v2_t", "convnext_tiny", "efficientnet_b0", "maxvit_t"])
def test_torchvision_models_exported_pass_the_weight_rule_and_count_as_built(name: str) -> None:
    """Per-channel scales, positional embeddings, relative-position tables, layer scales, squeeze-excitation
    and attention all pass, and the export counts exactly what the module counts (every torchvision
    classification model does: checked by hand for all 80 with this test's body)."""
    from aieff.verify.flops import build_torchvision

    model = build_torchvision(name, {})
    sample = example_input("image", resolution=224)
    exported = exported_model(torch.export.export(model, (sample,)), every_weight_used=True)
    assert (
        count_forward(exported, sample, grad=False).multiply_adds
        == count_forward(model, sample, grad=False).multiply_adds
    )


def test_a_broadcast_product_is_priced_whatever_hides_its_sum(tmp_path: Path) -> None:
    """Activations multiplied as an outer product, summed behind pow(p, 1) (an operator the summed-product
    search does not follow): priced as the broadcast product it is, never counted as zero."""

    class Outer(torch.nn.Module):
        def forward(self, q: Any) -> Any:
            return (q[:, None, :] * q[None]).pow(1).sum(-1)

    path = tmp_path / "outer.pt2"
    torch.export.save(_export(Outer(), torch.randn(4, IN)), str(path))
    model = load_export(path)
    count = count_forward(model, torch.empty(4, IN, device="meta"))
    assert count.multiply_adds >= 4 * 4 * IN  # the product's elements, one multiply-add each
