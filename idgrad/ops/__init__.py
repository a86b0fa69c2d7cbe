"""Shared operations used by several layers: the Gaussian blur, channel reductions, progress."""
