"""The timeline chart is inline SVG drawn on the server: one line per series, a legend, axes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from controlplane.rollouts.charts import Panel, Series, nice_ceiling, rate, render_timeline, time_step

START = 1_764_000_000.0
SVG = "{http://www.w3.org/2000/svg}"


def small_chart() -> str:
    share = Series("served %", [(START, 1.0), (START + 600, 5.0), (START + 1200, 5.0)], "#2e7d32", step=True)
    treatment = Series("treatment (on)", [(START + 30, 0.012), (START + 90, None), (START + 150, 0.02)], "#c62828")
    control = Series("control (off)", [(START + 30, 0.01), (START + 90, 0.011), (START + 150, 0.009)], "#1565c0",
                     dashed=True)  # fmt: skip
    panels = [
        Panel("Treatment share", [share], lambda v: f"{v:g}%"),
        Panel("Error rate", [treatment, control], rate, guides=[(0.03, "limit of errors: 3%")]),
    ]
    return str(render_timeline(panels, START, START + 1200, width=900, title="new-checkout <prod>"))


def test_each_series_is_a_path_and_the_legend_names_it():
    svg = small_chart()
    root = ET.fromstring(svg)  # well-formed XML, labels escaped
    assert root.tag == f"{SVG}svg" and root.get("width") == "900"
    paths = root.findall(f".//{SVG}path")
    assert [path.find(f"{SVG}title").text for path in paths] == ["served %", "treatment (on)", "control (off)"]
    legend = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "fp-legend"]
    assert sorted(legend) == ["control (off)", "served %", "treatment (on)"]
    assert "new-checkout &lt;prod&gt;" in svg


def test_a_missing_value_breaks_the_line_and_a_step_line_holds_its_value():
    root = ET.fromstring(small_chart())
    share, treatment, _ = (path.get("d") for path in root.findall(f".//{SVG}path"))
    assert treatment.count("M") == 2  # two runs around the gap
    assert len(root.findall(f".//{SVG}circle")) == 2  # each run is a single point: drawn as a dot
    coordinates = [tuple(map(float, pair.split(","))) for pair in re.findall(r"[\d.]+,[\d.]+", share)]
    assert coordinates[1][1] == coordinates[0][1] and coordinates[1][0] == coordinates[2][0]  # across, then up


def test_axes_have_round_ticks_and_labels():
    svg = small_chart()
    assert ">0%<" in svg and ">3%<" in svg and "limit of errors: 3%" in svg
    assert ">UTC<" in svg and re.search(r">\d\d:\d\d<", svg)
    assert nice_ceiling(0.023) == pytest.approx((0.03, 0.01))
    assert nice_ceiling(5) == (6, 2)
    assert nice_ceiling(100) == (100, 25)
    assert time_step(1200) == 300


def test_an_empty_panel_says_so():
    svg = str(render_timeline([Panel("Error rate", [Series("treatment", [], "#c62828")])], START, START + 60))
    assert "no data yet" in svg and "<path" in svg


def test_a_guide_at_the_top_of_its_panel_is_labelled_under_its_line_clear_of_the_legend():
    treatment = Series("treatment (on)", [(START + 30, 120.0)], "#c62828")
    panel = Panel("p95 latency", [treatment], guides=[(400.0, "limit of p95: 400 ms"), (200.0, "limit of p50: 200 ms")])
    root = ET.fromstring(str(render_timeline([panel], START, START + 600)))
    labels = {text.text: text.get("dy") for text in root.iter(f"{SVG}text") if text.get("class") == "fp-guide-label"}
    assert labels == {"limit of p95: 400 ms": "1.1em", "limit of p50: 200 ms": "-0.4em"}
