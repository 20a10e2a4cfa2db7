"""The pipeline as configured: the YAML carries the paper's defaults, the stages come in its order."""

from __future__ import annotations

from pathlib import Path

import pytest

from refinedweb.config import ConfigError, from_dict
from refinedweb.pipeline.config import PipelineConfig, load_config
from refinedweb.pipeline.pipeline import build_stages

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "refinedweb.yaml"


def test_shipped_yaml_is_the_papers_defaults():
    assert load_config(str(CONFIG)) == PipelineConfig()


def test_stages_in_refinedwebs_order_and_switchable():
    assert [s.name for s in build_stages(PipelineConfig())] == ["url_filter", "extract", "language", "repetition", "quality", "lines"]
    cfg = from_dict(PipelineConfig, {"url_filter": {"enabled": False}, "lines": {"enabled": False}})
    assert [s.name for s in build_stages(cfg)] == ["extract", "language", "repetition", "quality"]


@pytest.mark.parametrize(
    "data, field",
    [({"qualty": {}}, "qualty"), ({"repetition": {"dup_line_frac": "high"}}, "repetition.dup_line_frac"),
     ({"runner": {"workers": 0}}, "runner.workers"), ({"language": {"languages": "en"}}, "language.languages")],
)
def test_bad_config_names_the_field(data, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        from_dict(PipelineConfig, data)
