"""Benchmarks of pyramid_elasticjobs against hand-written floors: ``python -m bench``.

Not part of the test run: timings on a shared machine are figures to read, not to assert.
docs/performance.md says what each benchmark measures and records a run.
"""
