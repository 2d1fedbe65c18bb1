"""``benchmarks/profile_metrics.py`` runs and reports each metric's time split."""

# SPDX-License-Identifier: BSD-3-Clause

import pathlib
import subprocess
import sys

_BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
_SCRIPT = _BENCH / "profile_metrics.py"


def test_profile_script_writes_a_table_per_metric_and_size(tmp_path):
    out = tmp_path / "profile.md"
    result = subprocess.run(
        [
            sys.executable,
            str(_SCRIPT),
            "--sizes",
            "300x16x3",
            "--metrics",
            "LogME,NCE",
            "--top",
            "3",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "## LogME at N=300, D=16, C=3 (features)" in text
    assert "## NCE at N=300, D=16, C=3 (probabilities)" in text
    assert "floor X.T@X" in text and "floor P.sum" in text
    # Three function rows under each table header.
    tables = text.split("|---:|---:|---:|---:|---|\n")[1:]
    assert len(tables) == 2
    for table in tables:
        rows = table.split("\n\n")[0].splitlines()
        assert all(row.startswith("| ") for row in rows)
        assert len(rows) == 3
