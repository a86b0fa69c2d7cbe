"""The user's seam and vocabulary: inputs, baselines, targets, checks, the model guard, results.

Everything every layer above needs to talk about a call: :mod:`idgrad.core.seam` (the one
place that knows how a model is called; :mod:`idgrad.core.inputs` checks inputs and baselines),
:mod:`idgrad.core.targets` (what ``target`` means; :mod:`idgrad.core.fan` and
:mod:`idgrad.core.fan_seam` for ``targets``, several in one call),
:mod:`idgrad.core.validation` (uniform checks and messages), :mod:`idgrad.core.guard` (the
model left as found), :mod:`idgrad.core.results` (the ``Details`` family) and
:mod:`idgrad.core.baselines` (baselines by kind). It depends on torch and numpy only.
"""
