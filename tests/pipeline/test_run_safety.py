"""A run's output folder is never mixed (issue 18 items 8 and 10): one writer at a time, one config per output."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb.config import UserError
from refinedweb.core.output import OutputConfig, output_lock
from refinedweb.dedup.config import DedupConfig
from refinedweb.dedup.standalone import dedup_folder
from refinedweb.pipeline.config import PipelineConfig, load_config
from refinedweb.pipeline.runner import run

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "refinedweb.yaml"


def test_run_into_an_output_another_run_is_writing_is_refused(tmp_path):
    out = tmp_path / "out"
    with output_lock(out, print):
        with pytest.raises(UserError, match=f"another run is writing this output \\(pid {os.getpid()}"):
            run(PipelineConfig(), [str(tmp_path / "x.warc.gz")], out, workers=1)
    assert not (out / "state").exists()  # refused before touching anything


def test_dedup_into_an_output_another_run_is_writing_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "in" / "a.parquet")
    out = tmp_path / "out"
    with output_lock(out, print):
        with pytest.raises(UserError, match="another run is writing this output"):
            dedup_folder(DedupConfig(), OutputConfig(), tmp_path / "in", out, workers=1)
    assert not (out / "data").exists()


@pytest.fixture(scope="module")
def tiny_warc(pages_a, tmp_path_factory) -> Path:
    """The first 8 records of pages-A: a real input that refines in seconds on one local worker."""
    from tests.pipeline.test_runner import split_warc

    return split_warc(pages_a, tmp_path_factory.mktemp("tiny"), parts=1, records=8)[0]


def test_resume_with_a_changed_config_is_refused_naming_the_change(tiny_warc, tmp_path):
    config, out = load_config(str(CONFIG)), tmp_path / "out"
    run(config, [str(tiny_warc)], out, workers=1)
    before = (out / "config.json").read_text()
    changed = replace(config, quality=replace(config.quality, min_words=config.quality.min_words - 10))
    with pytest.raises(UserError, match=f"quality.min_words: {config.quality.min_words} -> {config.quality.min_words - 10}"):
        run(changed, [str(tiny_warc)], out, workers=1)
    assert (out / "config.json").read_text() == before  # still the config the shards were made with


def test_resume_may_change_settings_that_do_not_change_the_output(tiny_warc, tmp_path):
    config, out = load_config(str(CONFIG)), tmp_path / "out"
    first = run(config, [str(tiny_warc)], out, workers=1)
    spread = replace(config, runner=replace(config.runner, workers=3, batch_size=7), output=replace(config.output, report=False),
                     sources=replace(config.sources, http_retries=1))
    again = run(spread, [str(tiny_warc)], out, workers=1)
    assert again["docs_written"] == first["docs_written"] and again["files"] == first["files"]
