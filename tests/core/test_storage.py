"""The storage resolver against a real S3 API server (moto's, on loopback): URLs, config, AWS variables, errors."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from refinedweb.config import ConfigError, UserError, from_dict
from refinedweb.core.inputs import CRAWL, PARQUET, resolve_inputs, resolve_parquet
from refinedweb.core.io import read_json_file, read_table, write_json_atomic, write_table
from refinedweb.core.output import OutputDir, output_lock
from refinedweb.core.storage import Remote, S3Config, StorageConfig, configure, effective_s3, location, s3_filesystem
from refinedweb.pipeline.config import PipelineConfig


def test_local_paths_stay_paths_and_urls_become_remote(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert location("~/out") == tmp_path / "out"
    assert location(f"file://{tmp_path}/x") == tmp_path / "x"
    where = location("s3://bucket/run/out/")
    assert isinstance(where, Remote) and str(where) == "s3://bucket/run/out"
    assert str(where / "data" / "a.parquet") == "s3://bucket/run/out/data/a.parquet"
    assert (where / "a.parquet").parent == where and where.name == "out" and (where / "a.parquet").suffix == ".parquet"


@pytest.mark.parametrize("url, message", [
    ("https://example.org/out", "cannot be a folder"),
    ("s3:///key", "no bucket"),
    ("nosuchscheme://bucket/key", "no filesystem for nosuchscheme://"),
])
def test_a_bad_url_is_an_error_naming_it(url, message):
    with pytest.raises(UserError, match=re.escape(url) + ".*" + message):
        location(url)


def test_config_is_validated_and_named_by_field():
    with pytest.raises(ConfigError, match=r"storage\.s3\.max_attempts: must be in \[1, 100\]"):
        from_dict(PipelineConfig, {"storage": {"s3": {"max_attempts": 0}}})
    with pytest.raises(ConfigError, match=r"storage\.s3\.endpoint_url: must be an http\(s\) URL"):
        from_dict(PipelineConfig, {"storage": {"s3": {"endpoint_url": "127.0.0.1:9000"}}})
    with pytest.raises(ConfigError, match=r"storage\.s3\.bucket: unknown config key"):
        from_dict(PipelineConfig, {"storage": {"s3": {"bucket": "x"}}})
    cfg = from_dict(PipelineConfig, {"storage": {"s3": {"endpoint_url": "http://127.0.0.1:1", "anonymous": True}}})
    assert cfg.storage.s3 == S3Config(endpoint_url="http://127.0.0.1:1", anonymous=True)


def test_unset_fields_fall_back_to_the_standard_aws_variables(monkeypatch):
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    got = effective_s3(S3Config())
    assert (got.endpoint_url, got.region) == ("http://127.0.0.1:4566", "eu-west-3")
    assert effective_s3(S3Config(endpoint_url="http://10.0.0.1:9000")).endpoint_url == "http://10.0.0.1:9000"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000")  # the S3-specific one wins
    assert effective_s3().endpoint_url == "http://127.0.0.1:9000"


def test_a_named_profile_supplies_keys_and_region(tmp_path, monkeypatch, s3_bucket):
    creds = tmp_path / "credentials"
    creds.write_text("[crawler]\naws_access_key_id = testing\naws_secret_access_key = testing\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    fs = s3_filesystem(S3Config(endpoint_url=s3_bucket.server.endpoint, profile="crawler"))
    with fs.open_output_stream(f"{s3_bucket.bucket}/k") as f:
        f.write(b"x")
    assert fs.get_file_info(f"{s3_bucket.bucket}/k").size == 1
    with pytest.raises(UserError, match="storage.s3.profile: no profile 'nobody'"):
        s3_filesystem(S3Config(profile="nobody"))


def test_the_config_reaches_the_filesystem_through_configure(s3_bucket, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # only the config names the server now
    configure(StorageConfig(s3=S3Config(endpoint_url=s3_bucket.server.endpoint, max_attempts=4)))
    try:
        target = location(s3_bucket.url("x/state.json"))
        write_json_atomic(target, {"a": 1})
        assert read_json_file(target, "a state") == {"a": 1}
        assert effective_s3().max_attempts == 4
    finally:
        for name in ("AWS_ENDPOINT_URL_S3", "REFINEDWEB_S3_MAX_ATTEMPTS"):
            monkeypatch.delenv(name, raising=False)
        configure(StorageConfig())


def test_keys_folders_and_globs_resolve_like_local_ones(s3_bucket):
    fs, bucket = s3_filesystem(effective_s3()), s3_bucket.bucket
    for key in ("crawl/b.warc.gz", "crawl/a.warc.gz", "crawl/notes.txt", "crawl/.tmp/x.warc.gz", "crawl/sub/c.wet.gz"):
        with fs.open_output_stream(f"{bucket}/{key}") as f:
            f.write(b"")
    url = s3_bucket.url
    assert resolve_inputs(url("crawl")) == [url(k) for k in ("crawl/a.warc.gz", "crawl/b.warc.gz", "crawl/sub/c.wet.gz")]
    assert resolve_inputs(url("crawl/*.warc.gz")) == [url("crawl/a.warc.gz"), url("crawl/b.warc.gz")]
    assert resolve_inputs(url("crawl/**/*.gz")) == [url(k) for k in ("crawl/a.warc.gz", "crawl/b.warc.gz", "crawl/sub/c.wet.gz")]
    assert resolve_inputs(url("crawl/notes.txt")) == [url("crawl/notes.txt")]  # named: taken whatever its name
    with pytest.raises(UserError, match=re.escape(url("nothing")) + ": input not found"):
        resolve_inputs(url("nothing"), CRAWL)
    with pytest.raises(UserError, match=re.escape(url("crawl/*.arc")) + ": no WARC/ARC/WET file matches"):
        resolve_inputs(url("crawl/*.arc"))


def test_bytes_are_stored_as_given_whatever_the_name(s3_bucket):
    import gzip

    data = gzip.compress(b"crawl-data/x.warc.gz\n")
    target = location(s3_bucket.url("cc/warc.paths.gz"))
    target.write_bytes(data)  # pyarrow would gzip a .gz name again by default
    assert target.read_bytes() == data and target.size() == len(data)


def test_parquet_round_trip_and_column_check_on_s3(s3_bucket):
    write_table(pa.table({"text": ["a", "b"]}), s3_bucket.url("shards/x.parquet"))
    assert resolve_inputs(s3_bucket.url("shards"), PARQUET) == [s3_bucket.url("shards/x.parquet")]
    [shard] = resolve_parquet(s3_bucket.url("shards"), ("text",))
    assert read_table(shard).column("text").to_pylist() == ["a", "b"]
    with pytest.raises(UserError, match=re.escape(s3_bucket.url("shards/x.parquet")) + ": no column 'id'"):
        resolve_parquet(s3_bucket.url("shards"), ("id",))


def test_the_lock_refuses_a_second_run_on_s3(s3_bucket):
    root = location(s3_bucket.url("out"))
    with output_lock(root, print):
        assert (root / ".lock").is_file()
        (root / ".lock").write_text('{"pid": 1, "host": "another-host"}')
        with pytest.raises(UserError, match="another run is writing this output"):
            with output_lock(root, print):
                pass
    (root / ".lock").unlink()


def test_a_shard_without_its_state_is_not_done(s3_bucket):
    out = OutputDir(s3_bucket.url("out"))
    source = "/crawl/a.warc.gz"
    write_table(pa.table({"text": ["half"]}), out.refined_path(source))  # a crash after the shard, before the marker
    assert not out.is_done(source)
    write_json_atomic(out.state_path(source), {"path": source})
    assert out.is_done(source)
