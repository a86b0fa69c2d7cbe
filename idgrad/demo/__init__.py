"""Demonstrations run by ``idgrad demo`` (and ``make demo``)."""
