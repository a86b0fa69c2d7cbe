"""The integration engine: quadrature rules, schedules and the chunked evaluation along paths.

It knows nothing about methods: a method says what it integrates and the engine says where
the points go and what they weigh.
"""
