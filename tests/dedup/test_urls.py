"""URL dedup: the first (file, row) of a URL is kept whichever shuffle partition sees it, fragments ignored."""

from __future__ import annotations

import numpy as np
import pytest

from refinedweb.config import ConfigError, from_dict
from refinedweb.dedup.urls import UrlDedupConfig, duplicates, normalize_url, partition, split_order, url_keys


def test_normalisation_strips_only_the_fragment():
    assert normalize_url("https://a.org/x?q=1#top") == "https://a.org/x?q=1"
    assert normalize_url("https://A.org/x/") == "https://A.org/x/"  # host case and slash kept
    assert normalize_url("") is None and normalize_url(None) is None and normalize_url("#only") is None


def _dups(files: list[list[str | None]], parts: int) -> set[tuple[int, int]]:
    mapped = [partition(url_keys(urls, np.arange(len(urls)), f), parts) for f, urls in enumerate(files)]
    found = [duplicates([m[k] for m in reversed(mapped)]) for k in range(parts)]  # arrival order does not matter
    files_, rows = split_order(np.concatenate(found))
    return set(zip(files_.tolist(), rows.tolist()))


@pytest.mark.parametrize("parts", [1, 3])
def test_first_occurrence_in_file_row_order_is_kept(parts):
    files = [
        ["https://a.org/1", "https://a.org/2", None, "https://a.org/1#comments"],
        ["https://a.org/2", "", "https://a.org/3", "https://a.org/1?page=2", None],
        ["https://a.org/3", "https://a.org/1"],
    ]
    assert _dups(files, parts) == {(0, 3), (1, 0), (2, 0), (2, 1)}


def test_partitions_grow_with_the_document_count():
    cfg = UrlDedupConfig(docs_per_partition=100)
    assert cfg.partitions(50, workers=2) == 2 and cfg.partitions(1001, workers=2) == 11
    with pytest.raises(ConfigError, match="docs_per_partition"):
        from_dict(UrlDedupConfig, {"docs_per_partition": 0})
