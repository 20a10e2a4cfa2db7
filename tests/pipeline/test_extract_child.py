"""The trafilatura process's side: one Extractor for every page gives extract()'s own texts."""

from __future__ import annotations

import gzip

import pytest
import trafilatura
from trafilatura.deduplication import LRUCache
from trafilatura.settings import LRU_SIZE

from refinedweb.pipeline.extract import ExtractConfig
from refinedweb.pipeline.extract_child import extractor


def test_one_extractor_gives_the_texts_of_extract_with_keywords(shared_data):
    options = ExtractConfig().trafilatura_options()
    folder = shared_data / "dev" / "html" / "scrapinghub"
    pages = [gzip.decompress(p.read_bytes()).decode("utf-8", "replace") for p in sorted(folder.glob("*.html.gz"))[:40]]
    for variant in ({}, {"include_comments": True, "favor_precision": False, "include_tables": False}):
        built = extractor({**options, **variant})
        for html in pages:
            built.dedup = LRUCache(maxsize=LRU_SIZE)
            expected = trafilatura.extract(html, **{**options, **variant, "deduplicate": LRUCache(maxsize=LRU_SIZE)})
            assert trafilatura.extract(html, options=built) == expected


def test_an_option_without_an_extractor_field_is_an_error():
    with pytest.raises(ValueError, match="target_language"):
        extractor({**ExtractConfig().trafilatura_options(), "target_language": "en"})
