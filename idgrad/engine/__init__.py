"""The integration engine: path integrals with any schedule, on any path.

=================== =====================================================================
module              what it holds
=================== =====================================================================
``integrate``       :func:`~idgrad.engine.integrate.integrate`: check the options, prepare
                    the seam, run the schedule along the path, finish with the integrand
``integrands``      what is integrated: the factor (1 for IG, ``F'`` for IDG), the path's
                    velocity, IDG's rescaling to completeness; the delta
``schedules``       where the points go: ``uniform`` (a rule), ``pilot`` (the IDG paper's),
                    ``graded`` (where the integrand needs them, with an error estimate)
``evaluator``       the one place the model is evaluated along a path: chunks of points,
                    ``F`` and ``F'`` per point, weighted gradient sums streamed
``paths``           the straight path and the ``Path`` protocol (blur, layer, any other)
``rules``           quadrature rules on ``[0, 1]`` as values (``Schedule``); ``legendre``:
                    Gauss-Legendre nodes in O(n)
``maps``, ``estimate`` the graded schedule's smooth maps and its error estimate
=================== =====================================================================

It knows nothing about methods: a method says what it integrates and along which path; the
engine says where the points go and what they weigh.
"""
