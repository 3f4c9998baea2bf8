"""Write a commented skeleton entry that a contributor fills in (`aieff new`)."""

from __future__ import annotations

TEMPLATE = """\
# yaml-language-server: $schema=../../schema/entry.schema.json
# New entry for the {benchmark} level. Replace every TODO, delete the optional blocks you do not
# use, then run `aieff validate entries/{benchmark}/{id}.yaml`. Field reference: docs/fields.md.
id: {id}
benchmark: {benchmark}
model: TODO model name as the paper writes it
publication:
  title: TODO full paper title
  authors: [TODO First Author, TODO Second Author]
  url: https://arxiv.org/abs/TODO
  date: TODO  # first public date, YYYY-MM-DD (arXiv v1 where one exists)
  arxiv: TODO  # e.g. "1905.11946" (quoted); delete this line when there is none
# Compute to reach the level, as each source states it, in the source's own unit.
claims:
  - value: TODO  # a number > 0, e.g. 6.0e15
    unit: TODO  # FLOP | multiply-adds | 1e15 multiply-adds | teraflop/s-days | petaflop/s-days | ...
    method: TODO  # counted | reported | hardware-time
    source:
      title: TODO source title
      url: https://TODO
    confidence: TODO  # high | medium | low
# The facts compute is derived from. Never type the derived compute or a reduction factor.
training:
  epochs_to_target: TODO  # epochs until the level's threshold was first reached
  forward_cost:
    value: TODO  # per sample, one forward pass
    unit: multiply-adds  # or FLOP (1 multiply-add = 2 FLOP)
    resolution: 224
# Optional: what CI re-estimates from (see CONTRIBUTING.md).
# artifacts:
#   architecture: {{torchvision: resnet50}}
#   training_log: {{path: entries/{benchmark}/{id}.tsv, sha256: ..., format: dawnbench-tsv}}
"""


def skeleton(benchmark: str, entry_id: str) -> str:
    """The skeleton text for a new entry."""
    return TEMPLATE.format(benchmark=benchmark, id=entry_id)
