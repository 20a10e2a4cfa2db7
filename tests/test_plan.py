"""The plan's arithmetic: linear in the snapshot's size, inverse in the cluster's cores, bad arguments named."""

from __future__ import annotations

import dataclasses
import gzip
import json

import pytest

from refinedweb.cli import main
from refinedweb.config import ConfigError, UserError
from refinedweb.plan import COSTS_FILE, Costs, PlanConfig, assumptions, count_warc_paths, format_plan, load_costs, make_plan

COSTS = Costs(
    stage_core_seconds_per_page={"read": 0.001, "extract": 0.02, "language": 0.002},
    dedup_core_seconds_per_doc={"minhash": 0.003, "exact_substring": 0.002, "url_dedup": 0.0001},
    shuffle_bytes_per_doc={"minhash": 7200.0, "exact": 24000.0, "url": 24.0},
    refine_kept_fraction=0.25, dedup_kept_fraction=0.5, data_bytes_per_kept_doc=3000.0, refined_bytes_per_doc=3500.0,
    result_bytes_per_refined_doc=20000.0, driver_seconds_per_refined_doc=1e-6,
)


def _plan(**kw):
    return make_plan(PlanConfig(**{"nodes": 10, "cpus_per_node": 8, "warc_files": 8_000, "pages_per_file": 1_000, **kw}), COSTS)


def test_linear_in_the_number_of_files():
    one, two = _plan(), _plan(warc_files=16_000)
    for key in ("pages", "refined_docs", "kept_docs", "refine_core_hours", "core_hours", "refine_wall_hours",
                "dedup_wall_hours", "wall_hours", "data_bytes", "refined_bytes"):
        assert two[key] == pytest.approx(2 * one[key]), key


def test_linear_in_pages_per_file():
    one, two = _plan(), _plan(pages_per_file=2_000)
    for key in ("pages", "core_hours", "wall_hours", "data_bytes", "object_store_peak_bytes"):
        assert two[key] == pytest.approx(2 * one[key]), key


def test_inverse_in_nodes_times_cpus():
    base, more_nodes, more_cpus = _plan(), _plan(nodes=20), _plan(cpus_per_node=16)
    for plan in (more_nodes, more_cpus):
        assert plan["core_hours"] == pytest.approx(base["core_hours"])  # the work does not change
        assert plan["wall_hours"] == pytest.approx(base["wall_hours"] / 2)
        assert plan["data_bytes"] == base["data_bytes"]
    assert more_nodes["wall_hours"] == pytest.approx(more_cpus["wall_hours"])


def test_refine_wall_is_rounds_of_one_file_per_core_and_never_below_the_driver():
    plan = _plan(warc_files=81)  # 80 cores: two rounds, the second with one file
    file_hours = 1_000 * sum(COSTS.stage_core_seconds_per_page.values()) / 3600
    assert plan["rounds"] == 2 and plan["refine_wall_hours"] == pytest.approx(2 * file_hours)
    slow_driver = make_plan(PlanConfig(10, 8, 8_000, 1_000), dataclasses.replace(COSTS, driver_seconds_per_refined_doc=1.0))
    assert slow_driver["refine_wall_hours"] == pytest.approx(slow_driver["driver_hours"])
    assert slow_driver["driver_hours"] == pytest.approx(8_000 * 1_000 * 0.25 / 3600)


def test_object_store_peak_is_the_largest_phase():
    plan = _plan()
    assert plan["object_store_peak_bytes"] == max(plan["object_store_bytes"].values())
    assert plan["object_store_bytes"]["dedup minhash"] == pytest.approx(plan["refined_docs"] * 7200.0)
    assert plan["object_store_bytes"]["refine"] == pytest.approx(80 * 1_000 * 0.25 * 20000.0)


@pytest.mark.parametrize("field", ["nodes", "cpus_per_node", "warc_files", "pages_per_file"])
def test_bad_config_names_the_field(field):
    with pytest.raises(ConfigError, match=f"^{field}: must be an integer >= 1"):
        PlanConfig(**{"nodes": 1, "cpus_per_node": 1, field: 0})


@pytest.mark.parametrize("flag,value", [("--nodes", "0"), ("--cpus-per-node", "-4"), ("--warc-files", "0"),
                                        ("--pages-per-file", "0")])
def test_bad_flag_is_named_on_the_command_line(flag, value, capsys):
    args = {"--nodes": "2", "--cpus-per-node": "4", flag: value}
    assert main(["plan", "--snapshot", "CC-MAIN-2023-06", *[x for kv in args.items() for x in kv]]) == 2
    assert capsys.readouterr().err.startswith(f"refinedweb: error: {flag}: must be an integer >= 1")


def test_costs_file_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "costs.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="costs.json: cannot read"):
        load_costs(bad)
    data = dataclasses.asdict(COSTS)
    data["refine_kept_fraction"] = 1.5
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="refine_kept_fraction: must be in"):
        load_costs(bad)


def test_the_committed_costs_load_and_say_where_they_were_measured():
    costs = load_costs(COSTS_FILE)
    assert {"read", "extract", "language", "repetition", "quality", "lines"} <= set(costs.stage_core_seconds_per_page)
    assert set(costs.shuffle_bytes_per_doc) == {"minhash", "exact", "url"}
    assert costs.measured["machine"] and costs.measured["date"]


def test_warc_paths_are_counted(tmp_path):
    listing = tmp_path / "warc.paths.gz"
    with gzip.open(listing, "wt", encoding="utf-8") as f:
        f.write("".join(f"crawl-data/X/segments/{i}/warc/{i}.warc.gz\n" for i in range(7)))
    assert count_warc_paths(listing) == 7
    with pytest.raises(UserError, match="--warc-paths"):
        count_warc_paths(tmp_path / "absent.gz")


def test_the_printed_plan_says_what_is_assumed():
    cfg = PlanConfig(100, 32)
    text = format_plan("CC-MAIN-2023-06", cfg, COSTS, make_plan(cfg, COSTS), assumptions(cfg, warc_files_given=False))
    assert text.startswith("plan for CC-MAIN-2023-06 on 100 nodes x 32 cores (3,200 cores)")
    assert "90,000 WARC files in the snapshot" in text.splitlines()[-1]
    given = assumptions(PlanConfig(100, 32, warc_files=5), warc_files_given=True)
    assert not any("WARC files in the snapshot" in a for a in given)
