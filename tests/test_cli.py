"""The ``sktransfer`` command line (sktransfer._cli)."""

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sktransfer import _cli  # noqa: E402
from sktransfer._cli import main  # noqa: E402
from sktransfer.utils.discovery import all_estimators  # noqa: E402

FACTORIES = """
import torch
from torch import nn


def make():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)
    )


def make_other():
    torch.manual_seed(1)
    return make()[:0].append(nn.Flatten()).append(nn.Linear(16, 3))


def broken():
    raise RuntimeError("no weights for you")


def not_a_module():
    return 3
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder with a factory module, weights, model files and data."""
    (tmp_path / "tinynets.py").write_text(textwrap.dedent(FACTORIES))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("tinynets", None)
    import tinynets

    model = tinynets.make()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript
        torch.jit.save(torch.jit.script(model), str(tmp_path / "scripted.pt"))
    torch.save(model, tmp_path / "pickled.pt")
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(60, 1, 4, 4)).astype(np.float32) + y[:, None, None, None]
    y_test = np.repeat([0, 1, 2], 10)
    X_test = rng.normal(size=(30, 1, 4, 4)).astype(np.float32)
    X_test += y_test[:, None, None, None]
    np.savez(tmp_path / "data.npz", X=X, y=y, X_test=X_test, y_test=y_test)
    np.savez(tmp_path / "train_only.npz", X=X, y=y)
    np.savez(tmp_path / "unlabelled.npz", X=X)
    yield tmp_path
    sys.modules.pop("tinynets", None)


def run(capsys, *argv):
    """``main(argv)``: (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def rank_json(capsys, *argv):
    status, out, err = run(capsys, "rank", "-q", "--format", "json", *argv)
    assert status == 0, err
    return json.loads(out)


# ------------------------------------------------------------------ metrics


def test_metrics_lists_every_metric_with_kind_and_reference(capsys):
    status, out, _ = run(capsys, "metrics", "--format", "json")
    assert status == 0
    rows = {row["metric"]: row for row in json.loads(out)}
    names = {name for name, _ in all_estimators("transferability")}
    assert names <= set(rows)
    assert rows["LogME"]["input"] == "features"
    assert rows["LEEP"]["input"] == "probabilities"
    assert rows["PGE"]["input"] == "gradients"
    assert rows["LogME"]["reference"] == "You et al., ICML 2021"
    assert rows["TransRate"]["reference"] == "Huang et al., ICML 2022"
    for row in rows.values():
        assert any(str(year) in row["reference"] for year in range(2015, 2030))
    assert rows["NLEEP"]["rank"].startswith("default when n_samples x")
    assert rows["TaskTransferBound"]["rank"].startswith("not used by rank")
    status, out, _ = run(capsys, "metrics")
    assert status == 0 and out.splitlines()[0].split()[:3] == [
        "metric",
        "cli",
        "input",
    ]
    assert "You et al., ICML 2021" in out


# ------------------------------------------------------------- user models


def test_torchscript_and_factory_load_the_same_weights(workdir, capsys):
    result = rank_json(
        capsys,
        "--models",
        "scripted.pt",
        "tinynets:make=weights.pt",
        "tinynets:make_other",
        "--data",
        "data.npz",
        "--metric",
        "LogME",
        "--metric",
        "leep",
        "--device",
        "cpu",
        "--batch-size",
        "7",
    )
    rows = {row["candidate"]: row for row in result["candidates"]}
    assert list(rows) == ["scripted", "weights", "make_other"]
    assert result["metrics"] == ["LogME", "LEEP"]  # in the order asked
    # The TorchScript file and the factory with its state dict are one model:
    # the same penultimate features (8-d), hence the same scores.
    assert rows["scripted"]["n_features"] == rows["weights"]["n_features"] == 8
    for metric in ("LogME", "LEEP"):
        assert rows["scripted"]["scores"][metric] == pytest.approx(
            rows["weights"]["scores"][metric], rel=1e-5
        )
    assert rows["make_other"]["n_features"] == 16  # input of its only Linear
    assert rows["scripted"]["scores"]["LogME"] != rows["make_other"]["scores"]["LogME"]
    assert "finetune_accuracy" not in rows["scripted"]  # opt-in for user models
    assert 0 <= rows["scripted"]["probe_accuracy"] <= 1  # X_test is given
    assert set(result["weighted_tau"]) == {"probe_accuracy"}


class _CustomForward(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Linear(16, 5)

    def forward(self, x):
        return torch.relu(self.body(x.flatten(1)))


def test_torchscript_with_its_own_forward_gives_its_output(workdir, capsys):
    # TorchScript modules take no forward hooks: a scripted model with its own
    # forward is read at its output (5 features), without LEEP/NCE.
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(_CustomForward()), str(workdir / "custom.pt"))
    result = rank_json(capsys, "--models", "custom.pt", "--data", "data.npz")
    assert result["candidates"][0]["n_features"] == 5
    assert "LEEP" not in result["metrics"] and "LogME" in result["metrics"]
    assert "LEEP" in result["skipped_metrics"]


def test_layer_option_reads_another_layer(workdir, capsys):
    result = rank_json(
        capsys,
        "--models",
        "tinynets:make",
        "scripted.pt",
        "--data",
        "data.npz",
        "--metric",
        "hscore",
        "--layer",
        "1",
    )
    assert [row["n_features"] for row in result["candidates"]] == [8, 8]
    assert result["layer"] == "1"


def test_finetune_opt_in_holds_out_a_test_set(workdir, capsys):
    result = rank_json(
        capsys,
        "--models",
        "tinynets:make",
        "tinynets:make_other",
        "--data",
        "train_only.npz",
        "--metric",
        "transrate",
        "--finetune",
        "--epochs",
        "2",
        "--seeds",
        "1",
    )
    assert result["n_train"] == 45 and result["n_test"] == 15
    assert "25% held out" in result["target"]
    for row in result["candidates"]:
        assert 0 <= row["finetune_accuracy"] <= 1
    assert set(result["weighted_tau"]) == {"finetune_accuracy", "probe_accuracy"}
    assert -1 <= result["weighted_tau"]["finetune_accuracy"]["TransRate"] <= 1


def test_default_metrics_skip_slow_and_headless(workdir, capsys):
    # nn.Flatten() alone: no nn.Linear head, hence no LEEP/NCE. NLEEP runs by
    # default on small features only: 60 x 16 here, 200 x 600 below.
    (workdir / "headless.py").write_text(
        "from torch import nn\n\ndef make():\n    return nn.Flatten()\n"
    )
    status, out, err = run(
        capsys, "rank", "-q", "--models", "headless:make", "--data", "data.npz"
    )
    assert status == 0, err
    assert "skipped LEEP: needs source-class probabilities" in out
    header = next(line for line in out.splitlines() if line.startswith("candidate"))
    header = header.split()
    assert "LogME" in header and "NLEEP" in header and "LEEP" not in header
    rng = np.random.default_rng(0)
    np.savez(workdir / "wide.npz", X=rng.normal(size=(200, 600)), y=np.arange(200) % 2)
    result = rank_json(capsys, "--models", "headless:make", "--data", "wide.npz")
    assert "NLEEP" not in result["metrics"] and "LogME" in result["metrics"]
    assert result["skipped_metrics"]["NLEEP"].startswith(
        "slow for 200 samples x 600 features"
    )


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_formats(workdir, capsys, fmt):
    status, out, err = run(
        capsys,
        "rank",
        "-q",
        "--models",
        "tinynets:make",
        "tinynets:make_other",
        "--data",
        "data.npz",
        "--metric",
        "logme",
        "--metric",
        "transrate",
        "--format",
        fmt,
    )
    assert status == 0, err
    if fmt == "json":
        assert json.loads(out)["metrics"] == ["LogME", "TransRate"]
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert rows[0] == ["candidate", "LogME", "TransRate", "probe_accuracy"]
        assert [r[0] for r in rows[1:]] == [
            "make",
            "make_other",
            "weighted_tau[probe_accuracy]",
        ]
        float(rows[1][1])
    elif fmt == "markdown":
        table = [line for line in out.splitlines() if line.startswith("|")]
        assert table[0] == "| candidate | LogME | TransRate | probe acc. |"
        assert table[1] == "|:---|---:|---:|---:|"
        assert table[-1].startswith("| **w. tau vs probe acc.** |")
    else:
        lines = out.splitlines()
        top = next(i for i, line in enumerate(lines) if line.startswith("candidate"))
        assert lines[top].split() == [
            "candidate",
            "LogME",
            "TransRate",
            "probe",
            "acc.",
        ]
        assert lines[top + 1].startswith("----")
        assert lines[top + 2].startswith("make ")
        assert lines[top + 3].startswith("make_other ")
        assert "w. tau vs probe acc." in out


def test_progress_on_stderr(workdir, capsys):
    status, out, err = run(
        capsys,
        "rank",
        "--models",
        "tinynets:make",
        "--data",
        "data.npz",
        "--metric",
        "logme",
    )
    assert status == 0
    assert "1/1" in err and "make: done" in err and "1/1" not in out


# -------------------------------------------------------------- --out files


def test_out_writes_csv_json_png_atomically(workdir, capsys):
    argv = [
        "rank",
        "-q",
        "--models",
        "tinynets:make",
        "tinynets:make_other",
        "--data",
        "data.npz",
        "--metric",
        "logme",
        "--out",
        "results",
    ]
    status, _, err = run(capsys, *argv)
    assert status == 0, err
    out = workdir / "results"
    assert sorted(p.name for p in out.iterdir()) == [
        "ranking.png",
        "results.csv",
        "results.json",
    ]
    assert json.loads((out / "results.json").read_text())["metrics"] == ["LogME"]
    assert (out / "ranking.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in err
    # A failure while replacing leaves the previous file whole and no
    # temporary file behind.
    before = (out / "results.csv").read_text()

    def fail(src, dst):
        raise OSError("disk full")

    original = os.replace
    os.replace = fail
    try:
        with pytest.raises(OSError, match="disk full"):
            _cli._atomic_write(out / "results.csv", "partial")
    finally:
        os.replace = original
    assert (out / "results.csv").read_text() == before
    assert sorted(p.name for p in out.iterdir()) == [
        "ranking.png",
        "results.csv",
        "results.json",
    ]


def test_out_without_matplotlib(workdir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, _, err = run(
        capsys,
        "rank",
        "-q",
        "--models",
        "tinynets:make",
        "--data",
        "data.npz",
        "--metric",
        "logme",
        "--out",
        "res",
    )
    assert status == 0
    assert "the plot needs matplotlib (pip install matplotlib)" in err
    assert sorted(p.name for p in (workdir / "res").iterdir()) == [
        "results.csv",
        "results.json",
    ]


# --------------------------------------------------------------- image folder


def test_image_folder(workdir, capsys):
    PIL = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for label, level in (("dark", 40), ("light", 200)):
        folder = workdir / "images" / label
        folder.mkdir(parents=True)
        for i in range(6):
            pixels = np.clip(level + rng.normal(0, 20, (4, 4)), 0, 255)
            PIL.fromarray(pixels.astype(np.uint8), mode="L").save(folder / f"{i}.png")
    result = rank_json(
        capsys,
        "--models",
        "tinynets:make",
        "--data",
        "images",
        "--metric",
        "logme",
    )
    assert result["n_train"] == 12
    assert "2 classes, shape (1, 4, 4)" in result["target"]


def test_image_folder_without_pillow(workdir, capsys, monkeypatch):
    (workdir / "images" / "a").mkdir(parents=True)
    monkeypatch.setitem(sys.modules, "PIL", None)
    status, _, err = run(
        capsys, "rank", "--models", "tinynets:make", "--data", "images"
    )
    assert status == 2
    assert (
        err == "sktransfer: error: reading a folder of images needs Pillow: "
        "pip install pillow\n"
    )


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--models", "missing.pt"], "model file not found: missing.pt"),
        (["--models", "tinynets:make", "--data", "nope.npz"], "data not found"),
        (["--models", "tinynets:make", "--data", "unlabelled.npz"], "has no array 'y'"),
        (["--models", "tinynets:make"], "--models needs --data"),
        (["--models", "tinynets:make", "--metric", "bogus"], "unknown metric 'bogus'"),
        (
            ["--models", "tinynets:make", "--metric", "tasktransferbound"],
            "cannot rank models here",
        ),
        (["--models", "nosuchmodule:make"], "cannot import 'nosuchmodule'"),
        (["--models", "tinynets:nothing"], "has no attribute 'nothing'"),
        (["--models", "tinynets:broken"], "calling tinynets:broken() failed"),
        (["--models", "tinynets:not_a_module"], "returned a int, not a torch.nn"),
        (["--models", "tinynets:make=absent.pt"], "weights file not found"),
        (["--models", "tinynets:make_other=weights.pt"], "cannot load the weights"),
        (["--models", "pickled.pt"], "only with --trust-pickle"),
        (["--models", "weights.pt", "--trust-pickle"], "not a torch.nn.Module"),
        (["--models", "tinynets:make", "--layer", "9"], "failed on the data"),
        (["--models", "tinynets:make", "--data", "images"], "has no sub-folders"),
    ],
)
def test_errors_are_one_line_with_status_2(workdir, capsys, argv, message):
    (workdir / "images").mkdir()
    if "--data" not in argv and "needs --data" not in message:
        argv = [*argv, "--data", "data.npz"]
    status, out, err = run(capsys, "rank", "-q", *argv)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("sktransfer: error: ")
    assert message in err
    assert "Traceback" not in err and out == ""


def test_data_without_labels_message(workdir, capsys):
    status, _, err = run(
        capsys, "rank", "--models", "tinynets:make", "--data", "unlabelled.npz"
    )
    assert status == 2
    assert "the target data needs labels" in err


def test_debug_shows_the_traceback(workdir):
    with pytest.raises(_cli.CommandError, match="model file not found"):
        main(["rank", "--debug", "--models", "missing.pt", "--data", "data.npz"])


def test_trust_pickle_loads_a_whole_module(workdir, capsys):
    result = rank_json(
        capsys,
        "--models",
        "pickled.pt",
        "tinynets:make=weights.pt",
        "--trust-pickle",
        "--data",
        "data.npz",
        "--metric",
        "logme",
    )
    scores = [row["scores"]["LogME"] for row in result["candidates"]]
    assert scores[0] == pytest.approx(scores[1], rel=1e-6)


def test_help_warns_about_pickle(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["rank", "--help"])
    assert exc.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "UNPICKLING RUNS ARBITRARY CODE" in help_text
    assert "weights_only=True" in help_text


def test_usage_errors(capsys):
    assert main([]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["rank", "--format", "xml"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["rank", "--batch-size", "0"])
    assert exc.value.code == 2


# ------------------------------------------------------- the built-in example


def test_default_rank_on_the_builtin_zoo(capsys):
    # The README's main job, reduced by --quick (1 seed, 2 epochs, a smaller
    # test set); the full run is `sktransfer rank`.
    result = rank_json(capsys, "--quick", "--metric", "logme", "--metric", "leep")
    names = [row["candidate"] for row in result["candidates"]]
    assert len(names) == 9 and names[0] == "mnist10_8ep"
    assert result["layer"] == "features" and result["n_train"] == 200
    assert result["finetune"]["epochs"] == 2 and result["finetune"]["seeds"] == [0]
    for row in result["candidates"]:
        assert row["n_features"] == 48
        assert 0 <= row["finetune_accuracy"] <= 1
    assert set(result["weighted_tau"]) == {"finetune_accuracy", "probe_accuracy"}
    scores = {row["candidate"]: row["scores"]["LogME"] for row in result["candidates"]}
    assert max(scores, key=scores.get) == "mnist10_8ep"


def test_python_dash_m_sktransfer():
    # An error found before torch is imported: the subprocess stays fast.
    done = subprocess.run(
        [sys.executable, "-m", "sktransfer", "rank", "--models", "missing.pt"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "sktransfer: error: --models needs --data (an .npz with X and y, or a "
        "folder of images per class)"
    ]
