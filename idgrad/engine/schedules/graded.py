"""The graded schedule: Gauss-Legendre where the path is smooth, points where the integrand is.

Per example, every point a gradient evaluation (``F``, ``F'`` and the integrand from one
backward pass), in two passes through the model for a fixed budget of ``n`` points:

1. **probe**: the two ends of the path and every fourth node of the ``n``-point
   Gauss-Legendre rule (``m`` nodes, 4 to 64), each with a few random projections of the
   integrand (:mod:`idgrad.engine.estimate`).
2. **decide** (:func:`idgrad.engine.schedules.probe.decide`): where the integrand is active
   and how rough it is; a concentrated activity gets a smooth map
   (:class:`idgrad.engine.maps.SinhMap`) when the map promises a clear gain over the plain
   rule, else the plain rule it is.
3. **complete**: the plain ``n``-point Gauss-Legendre rule (the probe's nodes are among its
   nodes and keep their weights: nothing is wasted, and on smooth paths this *is* the
   uniform rule), or Gauss-Legendre on ``n - m`` points in the mapped coordinate (the probe
   only steered).

Budgets below :data:`MIN_BUDGET` are the plain rule at once (nothing can be learnt first).
The estimate of each example's relative error comes from the final rule's projections
(:func:`idgrad.engine.estimate.estimate_errors`). With ``rtol``, rounds follow: an example
above ``rtol`` gets a fresh rule with as many points as its estimate says it needs (rough:
``n E / rtol``, smooth: twice as many), within ``max_evaluations``; an example at the
rounding level, or smooth and no longer falling (a noise floor), or at the cap stops, with a
:class:`~idgrad.core.results.ToleranceWarning` saying which and why.

Example:
    >>> GradedSchedule(n_steps=32)
    GradedSchedule(n_steps=32, rtol=None, max_evaluations=None)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from idgrad.core.guard import user_stacklevel
from idgrad.core.results import ToleranceWarning
from idgrad.engine.estimate import combine, half_errors, matmul, spectral_errors
from idgrad.engine.evaluator import Evaluator, Pass
from idgrad.engine.maps import SinhMap
from idgrad.engine.rules import rule_points
from idgrad.engine.schedules import Outcome
from idgrad.engine.schedules.probe import decide

__all__ = ["GradedSchedule"]

#: Budgets below this are the plain Gauss-Legendre rule (no probe).
MIN_BUDGET = 16
#: Share of the budget the probe takes, and its bounds.
PROBE_SHARE, PROBE_MIN, PROBE_MAX = 0.25, 4, 64
#: Random projections of the integrand per point.
SKETCH_SIZE = 32
#: The first budget of a tolerance run, and the extra share its rounds aim above the need.
RTOL_START, RTOL_MARGIN = 32, 1.25
#: A smooth example's estimate that falls by less than ``STALL`` in two rounds running, or
#: any estimate below ``NEAR_ROUNDING`` times the inputs' machine epsilon, has hit a floor
#: (the precision the model's outputs allow). A rough example's estimate may stall for a
#: round by chance (where its jumps fall between the nodes), so it stops only at the floor
#: or at ``max_evaluations``.
STALL, NEAR_ROUNDING = 0.8, 100.0


@dataclass(frozen=True)
class GradedSchedule:
    """Points where the integrand needs them: ``n_steps`` per example, or ``rtol``."""

    n_steps: int | None = None
    rtol: float | None = None
    max_evaluations: int | None = None

    def run(self, evaluator: Evaluator, needs_ends: bool) -> Outcome:
        """Probe, decide and complete (and refine to ``rtol``); see the module docstring."""
        return _Run(evaluator, self).outcome()


#: The spectral estimate needs a projection per node and a ``k x k`` transform; above this
#: many nodes the rough estimate alone (from the streamed half sums: every feature) is used,
#: so time and memory stay linear in ``n`` (a smooth integrand is resolved to rounding long
#: before: the rough estimate is then cautious).
SPECTRAL_MAX = 512


def _halves(weights: np.ndarray, parity: np.ndarray) -> np.ndarray:
    """``(..., 3, n)``: the rule's weights and its two halves (twice the weight on each parity)."""
    return np.stack([weights, 2 * weights * (parity == 0), 2 * weights * (parity == 1)], axis=-2)


class _Rule:
    """The final rule of every example: nodes, weights, values, sums, estimate."""

    def __init__(self, batch: int) -> None:
        self.alphas: list[np.ndarray] = [np.zeros(0)] * batch
        self.weights: list[np.ndarray] = [np.zeros(0)] * batch
        self.outputs: list[np.ndarray] = [np.zeros(0)] * batch
        self.derivs: list[np.ndarray] = [np.zeros(0)] * batch
        self.error = np.full(batch, np.inf)
        self.rough = np.ones(batch, dtype=bool)
        self.size = np.zeros(batch, dtype=np.int64)  # points of the rule (for the next round)
        self.map: list[SinhMap | None] = [None] * batch
        #: per weight set (rule, half a, half b), per input: (B, D) sums
        self.sums: list[list[torch.Tensor]] | None = None


class _Run:
    def __init__(self, evaluator: Evaluator, policy: GradedSchedule) -> None:
        self.ev = evaluator
        self.policy = policy
        self.batch = evaluator.batch
        self.spent = np.zeros(self.batch, dtype=np.int64)
        self.start = np.full(self.batch, np.nan)
        self.end = np.full(self.batch, np.nan)
        self.eps = float(torch.finfo(evaluator.inputs[0].dtype).eps)
        gen = torch.Generator().manual_seed(0)
        self.sketch = [
            torch.randn(int(x[0].numel()), SKETCH_SIZE, generator=gen, dtype=torch.float64)
            .to(device=evaluator.device, dtype=d)
            .div_(math.sqrt(SKETCH_SIZE))
            for x, d in zip(evaluator.inputs, evaluator.sum_dtypes)
        ]
        self.rule = _Rule(self.batch)
        self.stop_reason = np.array([""] * self.batch, dtype=object)
        self.slow = np.zeros(self.batch, dtype=bool)  # the last round did not help

    # ------------------------------------------------------------------ passes

    def _pass(
        self, rows: np.ndarray, alphas: np.ndarray, weights: np.ndarray, sketch: bool = True
    ) -> tuple[Pass, np.ndarray, np.ndarray, np.ndarray | None]:
        """One pass over points (``rows`` sorted); ``F``, ``F'`` and projections as numpy."""
        p = self.ev.scatter(rows, alphas, weights, self.sketch if sketch else None)
        out = p.outputs.to(torch.float64).cpu().numpy()
        der = p.derivatives.to(torch.float64).cpu().numpy()
        sk = None if p.sketch is None else p.sketch.cpu().numpy()
        return p, out, der, sk

    def _rows(
        self, sums: list[tuple[torch.Tensor, ...]], rows: np.ndarray
    ) -> list[list[torch.Tensor]]:
        rows_dev = torch.as_tensor(rows, device=self.ev.device)
        return [[s.reshape(self.batch, -1)[rows_dev] for s in per_set] for per_set in sums]

    # ------------------------------------------------------------------ one budget

    def fixed(self, rows: np.ndarray, n: int) -> None:
        """Probe, decide and complete a rule of ``n`` points for the examples ``rows``."""
        nodes, weights = rule_points(n, "gausslegendre")
        parity = np.arange(n) % 2
        count = len(rows)
        spectral = n <= SPECTRAL_MAX
        if n < MIN_BUDGET:
            alphas = np.concatenate([[0.0, 1.0], nodes])
            w = np.concatenate([np.zeros((3, 2)), _halves(weights, parity)], axis=1)
            p, out, der, sk = self._pass(
                np.repeat(rows, n + 2), np.tile(alphas, count), np.tile(w, count), spectral
            )
            self._keep_ends(rows, out.reshape(count, n + 2))
            self.spent[rows] += n + 2
            self._store_sums(rows, self._rows(p.sums, rows))
            shape = (count, n + 2)
            sk3 = None if sk is None else sk.reshape(count, n + 2, -1)[:, 2:]
            for i, r in enumerate(rows):
                self._set(r, nodes, weights, out.reshape(shape)[i, 2:], der.reshape(shape)[i, 2:])
            self._estimate(rows, weights, sk3, der.reshape(shape)[:, 2:], None)
            return
        m = int(min(PROBE_MAX, max(PROBE_MIN, round(PROBE_SHARE * n))))
        idx = np.unique(np.round(np.linspace(0, n - 1, m)).astype(np.int64))
        m = len(idx)
        probe_alphas = np.concatenate([[0.0, 1.0], nodes[idx]])
        probe_weights = np.concatenate(
            [np.zeros((3, 2)), _halves(weights[idx], parity[idx])], axis=1
        )
        p, out, der, sk = self._pass(
            np.repeat(rows, m + 2),
            np.tile(probe_alphas, count),
            np.tile(probe_weights, count),
        )
        out, der = out.reshape(count, m + 2), der.reshape(count, m + 2)
        assert sk is not None
        sk = sk.reshape(count, m + 2, -1)
        self._keep_ends(rows, out)
        plan, mapping = self._decide(n, nodes[idx], out, der, sk)
        # complete: the rest of the plain rule, or the mapped rule
        free = np.ones(n, dtype=bool)
        free[idx] = False
        rest = np.flatnonzero(free)
        k = n - m
        t_parity = np.arange(k) % 2
        new_alphas = np.broadcast_to(nodes[rest], (count, k)).copy()
        new_weights = np.broadcast_to(_halves(weights[rest], parity[rest]), (count, 3, k)).copy()
        t_weights = weights  # the rule in t of the mapped rows (set below when there are any)
        if plan.any():
            t_nodes, t_weights = rule_points(k, "gausslegendre")
            chosen = SinhMap(mapping.c[plan], mapping.b[plan], mapping.f[plan])
            new_alphas[plan] = chosen.inverse(np.broadcast_to(t_nodes, (int(plan.sum()), k)))
            new_weights[plan] = _halves(t_weights / chosen.pdf(new_alphas[plan]), t_parity)
        mapped_alphas = new_alphas
        mapped_weights = new_weights[:, 0]
        q, qo, qd, qs = self._pass(
            np.repeat(rows, k),
            new_alphas.reshape(-1),
            new_weights.transpose(1, 0, 2).reshape(3, -1),
            spectral,
        )
        qo, qd = qo.reshape(count, k), qd.reshape(count, k)
        self.spent[rows] += m + 2 + k
        keep_probe = torch.as_tensor(~plan, device=self.ev.device)
        probe_sums, main_sums = self._rows(p.sums, rows), self._rows(q.sums, rows)
        self._store_sums(
            rows,
            [
                [s_q + s_p * keep_probe.to(s_p.dtype).unsqueeze(1) for s_p, s_q in zip(sp, sq)]
                for sp, sq in zip(probe_sums, main_sums)
            ],
        )
        # the final rule per example (in t order) and its estimate
        plain = ~plan
        full_out, full_der = np.empty((count, n)), np.empty((count, n))
        full_out[:, idx], full_out[:, rest] = out[:, 2:], qo
        full_der[:, idx], full_der[:, rest] = der[:, 2:], qd
        for i, r in enumerate(rows):
            if plain[i]:
                self._set(r, nodes, weights, full_out[i], full_der[i])
            else:
                one = SinhMap(mapping.c[i : i + 1], mapping.b[i : i + 1], mapping.f[i : i + 1])
                self._set(r, mapped_alphas[i], mapped_weights[i], qo[i], qd[i], one)
        full_sk = None
        if qs is not None:
            qs = qs.reshape(count, k, -1)
            full_sk = np.empty((count, n, qs.shape[2]))
            full_sk[:, idx], full_sk[:, rest] = sk[:, 2:], qs
        if plain.any():
            self._estimate(
                rows[plain],
                weights,
                None if full_sk is None else full_sk[plain],
                full_der[plain],
                None,
            )
        if plan.any():
            rho = mapping.pdf(mapped_alphas)[plan]
            self._estimate(
                rows[plan],
                t_weights,
                None if qs is None else qs[plan] / rho[:, :, None],
                qd[plan],
                rho,
            )

    def _keep_ends(self, rows: np.ndarray, values: np.ndarray) -> None:
        first = np.isnan(self.start[rows])
        self.start[rows] = np.where(first, values[:, 0], self.start[rows])
        self.end[rows] = np.where(first, values[:, 1], self.end[rows])

    def _set(
        self,
        row: int,
        alphas: np.ndarray,
        weights: np.ndarray,
        outputs: np.ndarray,
        derivs: np.ndarray,
        mapping: SinhMap | None = None,
    ) -> None:
        self.rule.alphas[row] = alphas
        self.rule.weights[row] = weights
        self.rule.outputs[row] = outputs
        self.rule.derivs[row] = derivs
        self.rule.size[row] = len(alphas)
        self.rule.map[row] = mapping

    def _store_sums(self, rows: np.ndarray, sums: list[list[torch.Tensor]]) -> None:
        if self.rule.sums is None:
            self.rule.sums = [
                [torch.zeros((self.batch, s.shape[1]), dtype=s.dtype, device=s.device) for s in per]
                for per in sums
            ]
        rows_dev = torch.as_tensor(rows, device=self.ev.device)
        for totals, per in zip(self.rule.sums, sums):
            for total, s in zip(totals, per):
                total[rows_dev] = s

    def _estimate(
        self,
        rows: np.ndarray,
        t_weights: np.ndarray,
        sketches: np.ndarray | None,
        derivs: np.ndarray,
        rho: np.ndarray | None,
    ) -> None:
        """The estimate of each example's rule (see :mod:`idgrad.engine.estimate`).

        The rough estimate from the streamed sums of the two halves (every feature), the
        spectral one from the projections in ``t`` (``sketches`` already times
        ``d alpha / dt``) when there are any; for IDG, the rescaling's quadrature adds.
        """
        assert self.rule.sums is not None
        k = len(t_weights)
        rows_dev = torch.as_tensor(rows, device=self.ev.device)
        full, first, second = (
            self._integrand(per, rows_dev) for per in self.rule.sums
        )  # (C, D) float64 each
        normaliser = None
        if self.ev.decision_weighted:
            f2 = derivs**2
            parity = np.arange(k) % 2
            in_t = f2 if rho is None else f2 / rho
            halves = np.stack(
                [t_weights, 2 * t_weights * (parity == 0), 2 * t_weights * (parity == 1)], axis=1
            )
            totals = matmul(in_t, halves).T  # (3, C): sum w F'^2 on the rule and its halves
            safe = np.where(np.abs(totals) > 0, totals, 1.0)
            full, first, second = (
                full / safe[0][:, None],
                first / safe[1][:, None],
                second / safe[2][:, None],
            )
            normaliser = in_t
        rough = half_errors(full, first, second)
        smooth = None
        if sketches is not None:
            smooth = spectral_errors(t_weights, sketches)
            if normaliser is not None:
                smooth = smooth + spectral_errors(t_weights, normaliser[:, :, None])
        err, is_smooth = combine(rough, smooth, self.eps, k)
        self.rule.error[rows] = err
        self.rule.rough[rows] = ~is_smooth

    def _integrand(self, per_input: list[torch.Tensor], rows: torch.Tensor) -> np.ndarray:
        """The sums of ``rows`` as the attributions' integral: times ``x - x'`` when straight."""
        parts = []
        for j, s in enumerate(per_input):
            v = s[rows].to(torch.float64)
            if self.ev.diffs is not None and not self.ev.velocity_in_sums:
                v = v * self.ev.diffs[j].reshape(self.batch, -1)[rows].to(torch.float64)
            parts.append(v)
        return torch.cat(parts, 1).cpu().numpy()

    def _decide(
        self,
        n: int,
        probe: np.ndarray,
        outputs: np.ndarray,
        derivs: np.ndarray,
        sketches: np.ndarray,
    ) -> tuple[np.ndarray, SinhMap]:
        return decide(n, probe, outputs, derivs, sketches, self.ev.decision_weighted)

    # ------------------------------------------------------------------ the runs

    def outcome(self) -> Outcome:
        policy = self.policy
        everyone = np.arange(self.batch)
        if policy.rtol is None:
            assert policy.n_steps is not None
            self.fixed(everyone, policy.n_steps)
            return self._assemble(None)
        cap = int(policy.max_evaluations or 0)
        first = max(2, min(RTOL_START, cap - 2))
        self.fixed(everyone, first)
        while True:
            todo = everyone[(self.rule.error > policy.rtol) & (self.stop_reason == "")]
            if not len(todo):
                break
            groups: dict[int, list[int]] = {}
            for r in todo:
                size = int(self.rule.size[r])
                err = float(self.rule.error[r])
                if self.rule.rough[r]:
                    want = math.ceil(size * min(err / policy.rtol, 16.0) * RTOL_MARGIN)
                else:
                    want = 2 * size
                room = cap - int(self.spent[r]) - 2
                if room < max(MIN_BUDGET, size + 1):
                    self.stop_reason[r] = "max_evaluations"
                    continue
                groups.setdefault(min(want, room), []).append(int(r))
            if not groups:
                break
            before = self.rule.error.copy()
            for size, members in sorted(groups.items()):
                self._round(np.array(members), size)
            for r in todo:
                if self.stop_reason[r] or self.rule.error[r] <= policy.rtol:
                    continue
                rounding = NEAR_ROUNDING * self.eps
                slow = self.rule.error[r] > STALL * before[r]
                stalled = slow and self.slow[r] and not self.rule.rough[r]
                if self.rule.error[r] <= rounding or stalled:
                    self.stop_reason[r] = "floor"
                self.slow[r] = slow
        return self._assemble(policy.rtol)

    def _round(self, rows: np.ndarray, n: int) -> None:
        """A fresh rule of ``n`` points for ``rows``, in each one's own coordinate."""
        plain = np.array([self.rule.map[r] is None for r in rows])
        if plain.any():
            self.fixed(rows[plain], n)
        mapped = rows[~plain]
        if not len(mapped):
            return
        t_nodes, t_weights = rule_points(n, "gausslegendre")
        maps = [self.rule.map[r] for r in mapped]
        mapping = SinhMap(
            np.array([m.c[0] for m in maps]),  # type: ignore[union-attr]
            np.array([m.b[0] for m in maps]),  # type: ignore[union-attr]
            np.array([m.f[0] for m in maps]),  # type: ignore[union-attr]
        )
        alphas = mapping.inverse(np.broadcast_to(t_nodes, (len(mapped), n)))
        weights = t_weights / mapping.pdf(alphas)
        parity = np.arange(n) % 2
        sets = _halves(weights, parity).transpose(1, 0, 2)
        p, out, der, sk = self._pass(
            np.repeat(mapped, n), alphas.reshape(-1), sets.reshape(3, -1), n <= SPECTRAL_MAX
        )
        self.spent[mapped] += n
        out, der = out.reshape(len(mapped), n), der.reshape(len(mapped), n)
        self._store_sums(mapped, self._rows(p.sums, mapped))
        for i, r in enumerate(mapped):
            self._set(r, alphas[i], weights[i], out[i], der[i], maps[i])
        rho = mapping.pdf(alphas)
        in_t = None if sk is None else sk.reshape(len(mapped), n, -1) / rho[:, :, None]
        self._estimate(mapped, t_weights, in_t, der, rho)

    def _assemble(self, rtol: float | None) -> Outcome:
        rule = self.rule
        assert rule.sums is not None
        batch = self.batch
        size = int(rule.size.max())
        alphas = np.full((batch, size), np.nan)
        weights = np.zeros((batch, size))
        outputs = np.full((batch, size), np.nan)
        derivs = np.full((batch, size), np.nan)
        fp_sum = np.zeros(batch)
        for b in range(batch):
            a = rule.alphas[b]
            order = (
                np.arange(len(a)) if bool(np.all(a[1:] >= a[:-1])) else np.argsort(a, kind="stable")
            )
            k = len(order)
            alphas[b, :k] = rule.alphas[b][order]
            weights[b, :k] = rule.weights[b][order]
            outputs[b, :k] = rule.outputs[b][order]
            derivs[b, :k] = rule.derivs[b][order]
            fp_sum[b] = weights[b, :k] @ derivs[b, :k]
        if rtol is not None:
            self._warn(rtol)
        device = self.ev.device
        acc = self.ev.acc

        def t(a: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
            return torch.as_tensor(a, device=device).to(dtype)

        sums = tuple(
            s.reshape(x.shape).to(d)
            for s, x, d in zip(rule.sums[0], self.ev.inputs, self.ev.sum_dtypes)
        )
        return Outcome(
            sums=sums,
            fp_sum=t(fp_sum),
            alphas=torch.as_tensor(alphas),
            weights=torch.as_tensor(weights),
            outputs=t(outputs, acc),
            derivatives=t(derivs, acc),
            start=t(self.start, acc),
            end=t(self.end, acc),
            evaluations=torch.as_tensor(self.spent),
            n_gradient_evals=int(self.spent.sum()),
            n_forward_evals=0,
            error=torch.as_tensor(rule.error),
        )

    def _warn(self, rtol: float) -> None:
        missed = np.flatnonzero(self.rule.error > rtol)
        if not len(missed):
            return
        shown = ", ".join(
            f"{i} ({self.rule.error[i]:.2g} after {int(self.spent[i])} evaluations"
            + ("" if self.stop_reason[i] != "floor" else ", no longer falling")
            + ")"
            for i in missed[:10]
        )
        more = f" and {len(missed) - 10} more" if len(missed) > 10 else ""
        floor = any(self.stop_reason[i] == "floor" for i in missed)
        why = (
            "; an estimate that stops falling has reached the precision the model's outputs "
            "allow (its dtype, or a noisy model): raise rtol"
            if floor
            else "; raise max_evaluations or rtol"
        )
        warnings.warn(
            f"rtol={rtol:g} was not reached for example(s) {shown}{more} (estimated errors; "
            f"max_evaluations={self.policy.max_evaluations}){why}",
            ToleranceWarning,
            stacklevel=user_stacklevel(),
        )
