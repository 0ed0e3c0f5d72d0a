"""免申即享 batch runs: every firm of a province against the selected policies, chunk by chunk.

A run reads firm profiles in chunks (Parquet, JSONL, CSV, Excel), evaluates them with the
pure core (:mod:`matcher.eligibility`), applies the stacking rules (就高不重复, per-firm
caps), checkpoints each chunk in its run directory, and only at the end merges the chunks
into the published files (CSV, Excel, Parquet) and the manifest that makes the list
reproducible. The list then moves through the confirmation workflow (生成 → 确认 → 公示 →
异议 → 定稿), every step in an append-only audit log.
"""
