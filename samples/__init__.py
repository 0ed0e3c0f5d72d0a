"""Bundled synthetic sample data: firms (JSONL, Chinese-header CSV), policies, bad records.

Everything here is synthetic. ``python -m samples.generate`` rewrites the firm files
deterministically; ``policies.jsonl`` is written by hand. See ``samples/README.md``.
"""
