"""S3 reads through answers of 503 SlowDown: small ranged reads the AWS SDK itself gives up on are retried."""

from __future__ import annotations

import pyarrow as pa
import pytest

from refinedweb.core.io import parquet_file, read_table, write_table
from refinedweb.core.storage import StorageConfig, configure, location

pytestmark = pytest.mark.slow


def test_small_reads_survive_slowdown_answers(s3_bucket, fault_proxy_factory, monkeypatch):
    marker, shard = s3_bucket.url("state/a.json"), s3_bucket.url("data/a.parquet")
    location(marker).write_text('{"done": true}')  # smaller than S3's XML error body
    table = pa.table({"id": ["a", "b", "c"], "text": ["x", "y", "z"]})
    write_table(table, shard)
    proxy = fault_proxy_factory(s3_bucket.server.endpoint, slowdown=1.0, max_in_a_row=2)  # every request fails twice first
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint_url)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    configure(StorageConfig())
    assert location(marker).read_text() == '{"done": true}'
    assert read_table(shard).equals(table)
    assert read_table(shard, filters=[("id", "=", "b")]).column("text").to_pylist() == ["y"]
    assert parquet_file(shard).read().equals(table)
    assert proxy.counts()["GET:slowdown"] > 0, proxy.counts()
