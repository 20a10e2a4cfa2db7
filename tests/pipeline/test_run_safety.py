"""A run's output folder is never mixed (issue 18 items 8 and 10): one writer at a time, one config per output."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from refinedweb.config import UserError
from refinedweb.core.output import OutputConfig, output_lock
from refinedweb.dedup.config import DedupConfig
from refinedweb.dedup.standalone import dedup_folder
from refinedweb.pipeline.config import PipelineConfig
from refinedweb.pipeline.runner import run


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
