"""Config values that passed validation and crashed later (issue 18 item 13) are refused up front, naming the field."""

from __future__ import annotations

import pytest

from refinedweb.cli import main
from refinedweb.config import ConfigError
from refinedweb.pipeline.config import load_config


@pytest.mark.parametrize(
    "yaml_text, field",
    [
        ("extract:\n  timeout_s: .inf\n", "extract.timeout_s"),  # poll(inf) raised OverflowError per page
        ("extract:\n  timeout_s: 1.0e+9\n", "extract.timeout_s"),
        ("output:\n  compression_level: 99\n", "output.compression_level"),  # Arrow refused it at the first shard
        ("output:\n  compression_level: 0\n", "output.compression_level"),
        ("dedup:\n  minhash:\n    bands: 450\n    rows_per_band: 1000\n", "dedup.minhash.rows_per_band"),  # 450k hashes
        ("dedup:\n  exact:\n    memory_budget_mb: 100000000\n", "dedup.exact.memory_budget_mb"),
        ("sources:\n  http_timeout_s: .inf\n", "sources.http_timeout_s"),  # socket settimeout(inf) raised OverflowError
        ("sources:\n  retry_backoff_s: .inf\n", "sources.retry_backoff_s"),
        ("sources:\n  http_deadline_s: .inf\n", "sources.http_deadline_s"),
        ("reader:\n  max_payload_bytes: 100000000000\n", "reader.max_payload_bytes"),  # 100 GB per record in memory
    ],
)
def test_out_of_range_config_value_is_refused_naming_the_field(yaml_text, field, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError, match=f"^{field}: must"):
        load_config(str(cfg))


def test_paper_defaults_stay_within_the_bounds(tmp_path):
    cfg = tmp_path / "ok.yaml"
    cfg.write_text("extract:\n  timeout_s: 3600\ndedup:\n  minhash:\n    bands: 450\n    rows_per_band: 20\n")
    config = load_config(str(cfg))
    assert config.extract.timeout_s == 3600 and config.dedup.minhash.num_perm == 9000


@pytest.mark.parametrize("value", ["-1", "0"])
def test_max_files_below_one_is_refused_not_a_dropped_file(value, tmp_path, capsys):
    """``--max-files -1`` sliced ``inputs[:-1]`` and silently dropped the last file; 0 meant all files."""
    code = main(["run", "configs/refinedweb.yaml", "--input", str(tmp_path / "x.warc.gz"), "--max-files", value,
                 "--output", str(tmp_path / "out")])
    assert code == 2
    assert f"--max-files: must be >= 1, got {value}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
