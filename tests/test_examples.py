"""The gallery examples of the source-selection issue run to completion."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script", ["plot_source_selection.py"])
def test_example_runs(script, monkeypatch, tmp_path):
    pytest.importorskip("pandas")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    import matplotlib.pyplot as plt

    try:
        namespace = runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    finally:
        plt.close("all")
    if script == "plot_source_selection.py":
        assert namespace["selector"].best_source_name_ == "source_0"
        assert namespace["in_sample"].best_params_ == {"features__kw_args": {"i": 0}}
