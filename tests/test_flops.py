"""Forward multiply-adds counted on the meta device agree with torchvision's published figures."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torchvision import models  # noqa: E402

from aieff.verify.flops import build_torchvision, count_forward, example_input, needs_grad  # noqa: E402

NAMES = sorted(models.list_models(module=models))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_counted_forward_matches_torchvision_metadata(name: str) -> None:
    weights = models.get_model_weights(name).DEFAULT
    published = weights.meta["_ops"] * 1e9  # torchvision's "GFLOPS" are multiply-adds
    crop = weights.transforms().crop_size[0]
    # The default weights of some ViTs (vit_h_14: 518 px) are for a larger input than the builder's default.
    kwargs = {"image_size": crop} if name.startswith("vit_") else {}
    count = count_forward(build_torchvision(name, kwargs), example_input("image", resolution=crop))
    # The metadata is rounded to 3 decimals of a GFLOP: allow half a unit of that on top of 1%.
    assert abs(count.multiply_adds - published) <= max(0.01 * published, 0.0005e9), (count.multiply_adds, published)
    assert count.disagreement <= 0.02, count.notes
    assert not count.unsupported, count.unsupported


def test_resolution_changes_the_count() -> None:
    model = build_torchvision("resnet50", {})
    at = {r: count_forward(model, example_input("image", resolution=r)).flop / 1e9 for r in (128, 224, 288)}
    assert at[224] == pytest.approx(8.178, abs=0.01)  # REFERENCE.md section 3
    assert at[128] == pytest.approx(2.673, abs=0.01) and at[288] == pytest.approx(13.517, abs=0.01)


def test_an_operator_without_a_rule_is_named() -> None:
    class Odd(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.linalg.cholesky(x @ x.transpose(-1, -2) + torch.eye(4))

    count = count_forward(Odd(), torch.randn(1, 4, 4))
    assert "aten.linalg_cholesky_ex" in count.unsupported
    assert any("no counting rule" in n for n in count.notes)


def test_unknown_torchvision_name_is_a_clean_error() -> None:
    from aieff.repo import DataError

    with pytest.raises(DataError, match="no model"):
        build_torchvision("resnet9000", {})


def test_fused_attention_is_counted_with_real_tensors() -> None:
    """On real CPU tensors attention runs as one fused SDPA op; it must not count as zero."""
    mha = torch.nn.MultiheadAttention(64, 4, batch_first=True)

    class Block(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return mha(x, x, x, need_weights=False)[0]

    real = count_forward(Block(), torch.randn(1, 50, 64))
    projections = 4 * 50 * (64 * 64 + 64)  # q, k, v and output projections; ptflops counts bias adds
    attention = 2 * 50 * 50 * 64  # Q @ K^T and weights @ V over all heads
    assert real.multiply_adds == pytest.approx(projections + attention, rel=0.01)
    assert not real.unsupported and real.disagreement <= 0.02


def test_a_module_with_an_attention_fast_path_is_counted_with_gradients() -> None:
    """In eval mode without gradients, nn.MultiheadAttention runs one fused op no counter prices; the
    default counts such a module with gradients on, and every other model with them off."""

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = torch.nn.MultiheadAttention(64, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.mha(x, x, x, need_weights=False)[0]

    x = torch.randn(1, 50, 64)
    for model in (Block().eval(), torch.nn.TransformerEncoderLayer(64, 4, batch_first=True).eval()):
        fused = count_forward(model, x, grad=False)
        assert "aten._native_multi_head_attention" in fused.unsupported  # what the default avoids
        counted = count_forward(model, x)
        assert not counted.unsupported and counted.multiply_adds == count_forward(model, x, grad=True).multiply_adds
        assert counted.multiply_adds > fused.multiply_adds
    assert not needs_grad(build_torchvision("resnet18", {})) and needs_grad(build_torchvision("vit_b_16", {}))


def test_a_failing_counter_is_named_with_its_cause() -> None:
    """Both counters share one forward pass; when it fails, the message names the counter that failed."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    from aieff.repo import DataError

    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("broken forward")

    class HatesTorchCounter(torch.nn.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if any(type(m).__module__ == "torch.utils.flop_counter" for m in _get_current_dispatch_mode_stack()):
                raise RuntimeError("not under FlopCounterMode")
            return super().forward(x)

    with pytest.raises(DataError, match="ptflops could not count the model: .*broken forward"):
        count_forward(Broken(), torch.zeros(1, 4))
    with pytest.raises(DataError, match="torch FlopCounterMode could not run the model: RuntimeError: not under"):
        count_forward(HatesTorchCounter(4, 3), torch.zeros(1, 4))


class _Attention(torch.nn.Module):
    def __init__(self, causal: bool) -> None:
        super().__init__()
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x.view(1, 64, 2, 8).transpose(1, 2)  # 2 heads of 8 over 64 positions
        return torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=self.causal)


def test_causal_attention_counts_the_unmasked_pairs_in_both_counters() -> None:
    from aieff.verify.flops import attention_pairs

    x = torch.zeros(1, 64, 16)
    full = count_forward(_Attention(False), x)
    causal = count_forward(_Attention(True), x)
    assert full.multiply_adds == 2 * 64 * 64 * (8 + 8)
    assert causal.multiply_adds == 2 * (64 * 65 // 2) * (8 + 8)  # L(L+1)/2 query-key pairs
    assert causal.torch_flop == 2 * causal.multiply_adds and not causal.notes
    assert attention_pairs(4, 6, True) == 1 + 2 + 3 + 4 and attention_pairs(6, 4, True) == 10 + 2 * 4


def test_conventional_zero_cost_ops_are_not_reported() -> None:
    class Rope(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(50, 8)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            h = self.emb(ids)
            return h * torch.cos(h) + torch.sin(h)

    count = count_forward(Rope(), torch.zeros(1, 10, dtype=torch.long))
    assert count.unsupported == {} and count.notes == []


def test_far_below_design_resolution_is_warned() -> None:
    from aieff.verify.flops import resolution_warning

    assert "designed for 224 px and counted at 32 px" in resolution_warning("resnet18", 32)
    assert resolution_warning("resnet18", 128) is None  # progressive resizing stays quiet
    assert resolution_warning("inception_v3", 299) is None


def test_the_torch_free_table_of_torchvision_costs_is_current() -> None:
    """tools/aieff/analysis/data/torchvision_ops.json is what the pinned torchvision says
    (python -m aieff.analysis.torchvision_table)."""
    from aieff.analysis.torchvision_table import TABLE, generate

    assert TABLE.read_text() == generate()
