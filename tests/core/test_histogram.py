"""Signal histograms: fixed bins, clipped ends, missing values counted, exact merges, real config fields."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from refinedweb import schema
from refinedweb.config import to_dict
from refinedweb.core.histogram import count_edges, histogram, merge_histograms, signal_histograms
from refinedweb.filters.language import LanguageFilter
from refinedweb.filters.quality import QualityFilter
from refinedweb.filters.rules import SIGNALS
from refinedweb.pipeline.config import PipelineConfig


def test_values_land_in_their_bins_and_ends_clip():
    h = histogram(pa.array([0.0, 0.25, 0.5, 0.99, 1.0, 7.0, -3.0, None, math.nan]), (0.0, 0.5, 1.0))
    assert h["edges"] == [0.0, 0.5, 1.0]
    assert h["counts"] == [3, 4]  # 0, .25, -3 | .5, .99, 1.0 (last edge inclusive), 7
    assert h["missing"] == 2


def test_count_edges_are_unit_bins_then_log_spaced():
    edges = count_edges(1e4)
    assert edges[:11] == tuple(float(i) for i in range(11))
    assert edges[-1] == pytest.approx(1e4)
    ratios = [b / a for a, b in zip(edges[11:], edges[12:])]
    assert all(r == pytest.approx(10 ** 0.1, rel=1e-3) for r in ratios)


def test_merging_parts_equals_binning_the_whole():
    values = [0.01 * i for i in range(100)]
    edges = SIGNALS[schema.LANGUAGE_SCORE].edges
    merged: dict = {}
    merge_histograms(merged, {"s": histogram(pa.array(values[:37]), edges)})
    merge_histograms(merged, {"s": histogram(pa.array(values[37:] + [None]), edges)})
    whole = histogram(pa.array(values + [None]), edges)
    assert merged["s"] == whole
    with pytest.raises(ValueError, match="bins differ"):
        merge_histograms(merged, {"s": histogram(pa.array(values), (0.0, 1.0))})


def test_a_stage_bins_only_the_signals_it_thresholds():
    table = pa.table({schema.TEXT: ["a", "b"], schema.WORD_COUNT: [1, 2]})
    table = table.append_column(schema.LANGUAGE_SCORE, pa.array([0.2, 0.9], pa.float32())).append_column("other", pa.array([1, 2]))
    hists = signal_histograms(LanguageFilter.histogram_specs, table)
    assert list(hists) == [schema.LANGUAGE_SCORE]  # word_count is the quality stage's, even if present
    assert sum(hists[schema.LANGUAGE_SCORE]["counts"]) == 2
    assert list(signal_histograms({}, table)) == []  # extraction thresholds no signal: the screen's scores are not its
    assert list(signal_histograms(QualityFilter.histogram_specs, table)) == [schema.WORD_COUNT]


def test_every_threshold_names_a_numeric_config_field():
    config = to_dict(PipelineConfig())
    for name, spec in SIGNALS.items():
        assert spec.thresholds, name
        for dotted in spec.thresholds:
            section, field = dotted.split(".")
            value = config[section][field]
            assert isinstance(value, (int, float)) and not isinstance(value, bool), dotted
            assert spec.edges[0] <= value <= spec.edges[-1], f"{dotted}={value} outside the bins of {name}"
