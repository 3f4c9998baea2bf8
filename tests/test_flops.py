"""Forward multiply-adds counted on the meta device agree with torchvision's published figures."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torchvision import models  # noqa: E402

from aieff.flops import build_torchvision, count_forward, example_input  # noqa: E402

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
