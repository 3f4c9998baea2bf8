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
      locator: TODO table, section or figure where the number stands
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


LEVEL_TEMPLATE = """\
# yaml-language-server: $schema=../../schema/benchmark.schema.json
# New level. Replace every TODO, then write its baseline entry ({baseline}.yaml, created beside this
# file) and run `aieff validate entries/{level}`. Field reference: docs/fields.md.
id: {level}
title: TODO short title, e.g. "AlexNet-level ImageNet classification"
task: TODO task, e.g. image classification
dataset:
  name: TODO training data, e.g. ImageNet-1k (ILSVRC 2012) train
  train_samples_per_epoch: TODO  # e.g. 1281167; delete for step-based levels
metric:
  name: TODO metric, e.g. top-5 accuracy
  unit: TODO  # percent | fraction | BLEU | loss | elo | win-rate
  split: TODO evaluation split, e.g. validation
direction: TODO  # higher | lower (which is better)
threshold: TODO  # the level, in the metric's unit
baseline: {baseline}
rules: TODO what counts: training data allowed, how runs on different hardware are grouped
source:
  title: TODO where the level is defined
  url: https://TODO
  locator: TODO section or table
"""


def level_skeleton(level: str, baseline: str) -> str:
    """The skeleton text for a new level whose baseline entry is `baseline`."""
    return LEVEL_TEMPLATE.format(level=level, baseline=baseline)
