"""The optimizer's own arithmetic per step, which a forward-graph count cannot see.

Training compute is 3 x forward x samples (forward, then backward at twice the forward) plus, where an
entry states it, this term: the FLOP its optimizer spends per step, times the steps to the level. It is
counted from the optimizer's definition (a level's `optimizers`, each written from the record's own
training script) and the parameter shapes of the entry's architecture export, and shown apart from the
forward-and-backward term so both stay visible.

A definition is a list of rules, first match wins, each naming the export's parameters it covers (a
regular expression over the state-dict names) and how they are updated:

- ``elementwise`` (AdamW, momentum SGD, Lion ...): `elementwise_flop` FLOP per parameter per step, a
  count the definition states from the script's update (for example AdamW: two moment updates, bias
  corrections, square root, division, decay and the step itself).
- ``newton-schulz`` (Muon and its descendants): the elementwise part as above, plus the Newton-Schulz
  iteration on each matrix. Muon (Jordan et al. 2024, `zeropower_via_newtonschulz5` in every modded-nanogpt
  script) transposes an m x n update so that m <= n, then repeats `ns_steps` times::

      A = X @ X.mT          m x n times n x m:  m^2 n multiply-adds
      B = b * A + c * A @ A m x m times m x m:  m^3   multiply-adds
      X = a * X + B @ X     m x m times m x n:  m^2 n multiply-adds

  so one iteration costs 2 m^2 n + m^3 multiply-adds, and the whole orthogonalization
  ns_steps x (2 m^2 n + m^3) multiply-adds = 2 x that in FLOP (`ns_products` "XXt, AA, BX"). The first
  Muon record of the speedrun (2024-10-10) writes the same polynomial as A = X X^T, B = A X,
  X = aX + bB + cAB: three m x m by m x n products, 3 m^2 n multiply-adds per iteration
  (`ns_products` "XXt, AX, AB"). Polar Express (later speedrun records) runs the first form once per
  coefficient triple: ns_steps is the number of triples. Only the matrix products are counted; the
  scalings and sums in the iteration and the initial norm (O(m n) each, under 0.3% of the products for
  the 768-wide matrices of GPT-2 small) are not.
  `split` k orthogonalizes a parameter as k equal blocks of its rows, as a script does that keeps q, k
  and v in one tensor but orthogonalizes each.
- ``products`` (either method): any further matrix arithmetic per matrix per step, as a polynomial in
  its rows r and columns c written from the script, in multiply-adds. SOAP (Vyas et al. 2024) for an
  r x c update, for example: the rotations into and out of the eigenbasis Q_r^T U Q_c and Q_r P Q_c^T
  (2 r^2 c + 2 r c^2), the Gram statistics G G^T and G^T G (r^2 c + r c^2), and each eigenbasis refresh
  by one power-iteration step and QR (Q^T S Q for the eigenvalue order, 2 r^3; S Q, r^3; the QR with its
  Q formed, 8/3 r^3 FLOP = 4/3 r^3 multiply-adds by Householder, LAPACK's geqrf and orgqr; the same in c).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aieff.repo import DataError
from aieff.verdict import Row


def newton_schulz_multiply_adds(rows: int, cols: int, ns_steps: int, products: str = "XXt, AA, BX") -> int:
    """Multiply-adds of `ns_steps` quintic Newton-Schulz iterations on a rows x cols matrix (Muon): the
    script works on the orientation with m = min(rows, cols) rows and n = max(rows, cols) columns, and
    each iteration runs X X^T (m^2 n), A A (m^3) and B X (m^2 n); or, written as X X^T, A X and A B,
    three products of m^2 n."""
    m, n = min(rows, cols), max(rows, cols)
    if products == "XXt, AX, AB":
        return ns_steps * 3 * m * m * n
    return ns_steps * (2 * m * m * n + m**3)


def matrix_products(rows: int, cols: int, coefficients: dict[str, float]) -> float:
    """Multiply-adds of the further matrix arithmetic a rule states for one r x c matrix: the sum of each
    coefficient times its monomial (r2c = r^2 c, rc2 = r c^2, r3, c3, m2n = m^2 n and m3 with m = min(r, c),
    n = max(r, c), r2 and c2 for elementwise work on r x r and c x c statistics)."""
    m, n = min(rows, cols), max(rows, cols)
    monomials = {
        "r2c": rows * rows * cols,
        "rc2": rows * cols * cols,
        "r3": rows**3,
        "c3": cols**3,
        "m2n": m * m * n,
        "m3": m**3,
        "r2": rows * rows,
        "c2": cols * cols,
    }
    return sum(coefficients[k] * monomials[k] for k in coefficients)


@dataclass
class StepCost:
    """The optimizer's FLOP per step, with one estimate row per rule: [rule, "", what it covers and costs, ""]."""

    flop: float
    rows: list[Row] = field(default_factory=list)


def _numel(shape: list[int]) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


def step_cost(definition: Any, shapes: dict[str, list[int]]) -> StepCost:
    """FLOP per optimizer step of `definition` (a schema OptimizerDefinition) over the export's parameters
    (name -> shape). Every parameter must match a rule: a definition that does not say how a parameter is
    updated cannot be counted. Parameters the graph-only export leaves out (biases, norm gains, scalars)
    come in through the definition's `extra_parameters`, at their own elementwise rate."""
    covered: dict[int, list[tuple[str, list[int]]]] = {i: [] for i in range(len(definition.rules))}
    for name, shape in shapes.items():
        i = next((i for i, r in enumerate(definition.rules) if re.fullmatch(r.parameters, name)), None)
        if i is None:
            raise DataError(f"optimizer {definition.name!r}: no rule covers the export's parameter {name} {shape}")
        covered[i].append((name, list(shape)))
    total, rows = 0.0, []
    for i, rule in enumerate(definition.rules):
        params = covered[i]
        numel = sum(_numel(s) for _, s in params)
        flop = float(rule.elementwise_flop) * numel
        what = f"{len(params)} tensors, {numel:,} parameters x {rule.elementwise_flop:g} FLOP"
        if rule.products:
            extra = 0.0
            for name, shape in params:
                if len(shape) != 2 or shape[0] % rule.split:
                    raise DataError(
                        f"optimizer {definition.name!r}: {name} {shape} is not a matrix of "
                        f"{rule.split} equal row blocks"
                    )
                extra += rule.split * matrix_products(shape[0] // rule.split, shape[1], rule.products)
            flop += 2.0 * extra
            what += f" + matrix products {extra:,.0f} multiply-adds"
        if rule.method == "newton-schulz":
            ns = 0
            for name, shape in params:
                if len(shape) != 2 or shape[0] % rule.split:
                    raise DataError(
                        f"optimizer {definition.name!r}: {name} {shape} is not a matrix of "
                        f"{rule.split} equal row blocks"
                    )
                blocks = newton_schulz_multiply_adds(
                    shape[0] // rule.split, shape[1], rule.ns_steps or 0, rule.ns_products
                )
                ns += rule.split * blocks
            flop += 2.0 * ns
            what += f" + Newton-Schulz {rule.ns_steps} steps: {ns:,} multiply-adds"
        rows.append(Row(f"optimizer: {rule.parameters}", None, flop, "", "FLOP", "", f"{what} = {flop:.6g} FLOP"))
        total += flop
    if definition.extra_parameters:
        extra = definition.extra_parameters * float(definition.extra_elementwise_flop)
        rows.append(
            Row(
                "optimizer: outside the export",
                None,
                extra,
                "",
                "FLOP",
                "",
                f"{definition.extra_parameters:,} parameters x {definition.extra_elementwise_flop:g} FLOP "
                f"= {extra:.6g} FLOP",
            )
        )
        total += extra
    return StepCost(total, rows)
