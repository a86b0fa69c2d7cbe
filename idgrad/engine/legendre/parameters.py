"""The tuned numbers of :func:`~idgrad.engine.legendre.gauss_legendre`, and why they are these.

**Switch points, from measurements.** Below ``n = 20`` the six boundary nodes the interior
series needs would reach ``theta ~ pi/2``, where the Taylor series of ``a_s``, ``b_s``
converge slowly; the recurrence's error grows like ``n`` (weights ``9e-16`` up to
``n = 19``, ``2e-15`` at ``n = 59``). Six orders ``a_s``: with four, the weights at
``n = 20`` are ``6e-15`` off, with five ``5e-16`` (but ``3e-15`` at ``n = 16``), with six
``5e-16``. Ten boundary nodes rather than 20 or 30: Stieltjes' series would need 12 or 11
terms instead of 17, but that saves only 5% at ``n = 10^6`` (the per-node work outside the
series dominates), while 20 boundary nodes would need ``n >= 69`` to keep ``theta < 0.9``;
the boundary costs 0.35 ms whatever its size (all its nodes are iterated together).

Newton's method stops at the first step below ``STEP_TOL * theta`` (quadratic convergence
leaves the new iterate exact to rounding); the weight of that last evaluation is moved to the
new node to first order.
"""

from __future__ import annotations

__all__ = [
    "BESSEL_ORDERS",
    "BLOCK",
    "BOUNDARY_NODES",
    "BOUNDARY_NODES_SMALL",
    "BOUNDARY_SMALL_BELOW",
    "RECURRENCE_BELOW",
    "SERIES_DEGREE",
    "STEP_TOL",
    "STIELTJES_TOL",
]

#: Below this ``n``, Newton's method on the three-term recurrence (O(n^2)).
RECURRENCE_BELOW = 20
#: The nodes at each end that come from the Bessel-type expansion (the rest: Stieltjes), and
#: fewer below ``n = 40``, so that they stay below ``theta = 0.9`` (``theta_k ~ j_{0,k} / rho``:
#: ``theta_6 = 0.88`` at ``n = 20``, ``theta_10 = 0.76`` at ``n = 40``).
BOUNDARY_NODES = 10
#: The boundary nodes below :data:`BOUNDARY_SMALL_BELOW`.
BOUNDARY_NODES_SMALL = 6
#: Below this ``n``, :data:`BOUNDARY_NODES_SMALL` boundary nodes.
BOUNDARY_SMALL_BELOW = 40
#: Orders of the Bessel-type expansion: ``a_s`` for ``s <= 6``, ``b_s`` for ``s < 6``.
BESSEL_ORDERS = 6
#: Taylor degree of the coefficient functions ``a_s``, ``b_s``.
SERIES_DEGREE = 30
#: Relative size of the first omitted term of Stieltjes' series.
STIELTJES_TOL = 2.0**-60
#: A Newton step below this times ``theta`` ends the iteration.
STEP_TOL = 1e-13
#: Nodes per block of the vectorised interior evaluation (keeps the work in cache).
BLOCK = 8192
