"""Deduplication over all shards of a run: MinHash (fuzzy), exact substrings and URLs (RefinedWeb App. G.3)."""
