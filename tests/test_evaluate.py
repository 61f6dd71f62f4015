import json

import numpy as np
import pytest
from typer.testing import CliRunner

from stm_zoo import evaluate
from stm_zoo.data import simulate
from stm_zoo.cli import app
from test_inference import identity_model


def test_synthetic_pairs_are_fixed():
    a = evaluate.synthetic_pairs(noise="thesis", n=2, size=64)
    b = evaluate.synthetic_pairs(noise="thesis", n=2, size=64)
    assert len(a) == 2 and a[0].noisy.shape == (64, 64)
    np.testing.assert_array_equal(a[1].noisy, b[1].noisy)
    assert not np.array_equal(a[0].noisy, a[0].clean)


def test_evaluate_pairs_ranks_a_perfect_method_first():
    pairs = evaluate.synthetic_pairs(noise="thesis", n=2, size=64)
    rows = {r["method"]: r for r in evaluate.evaluate_pairs(["noisy", "median3"], pairs)}
    assert rows["noisy"]["psnr"] < rows["median3"]["psnr"]
    assert set(rows["noisy"]) == {"method", "psnr", "ssim", "uqi", "seconds"}


def test_summary_of_a_report_takes_the_model_and_the_best_baseline(tmp_path):
    model = tmp_path / "identity.keras"
    identity_model().save(model)
    pairs = evaluate.synthetic_pairs(noise="thesis", n=2, size=64)
    lattices = simulate.surfaces(2, seed=1, size_px=128)
    report = {"synthetic": evaluate.evaluate_pairs(["noisy", "median3", "align_median", str(model)], pairs),
              "real_noisy": evaluate.evaluate_real(["noisy", str(model)], {"a": lattices[0], "b": lattices[1]})}
    summary = evaluate.summarize(report, str(model))
    rows = {r["method"]: r for r in report["synthetic"]}
    assert summary["synthetic"]["psnr"] == rows[str(model)]["psnr"] == rows["noisy"]["psnr"]  # the identity
    assert summary["synthetic"]["best_baseline_psnr"] == max(rows["median3"]["psnr"], rows["align_median"]["psnr"])
    real = summary["real_noisy"]
    assert real["stripe_index_before"] == real["stripe_index_after"] > 0
    assert real["lattice_peaks_kept"] == 1.0 and real["invented_peaks"] == 0
    json.dumps(summary)  # plain JSON types only
    with pytest.raises(ValueError, match="not in the 'synthetic' table"):
        evaluate.summarize(report, "dncnn")


def test_cli_eval_table_and_json(tmp_path):
    model = tmp_path / "identity.keras"
    identity_model().save(model)
    out = tmp_path / "rows.json"
    result = CliRunner().invoke(app, ["eval", "--models", str(model), "--data", "synthetic", "--noise", "thesis",
                                      "--n", "2", "--size", "64", "--baselines", "median3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert [r["method"] for r in rows] == ["noisy", "median3", str(model)]
    assert abs(rows[2]["psnr"] - rows[0]["psnr"]) < 0.5  # identity ≈ noisy, up to the [0, 1] normalization
    assert "psnr" in result.output and "median3" in result.output


def test_cli_eval_folder_of_clean_and_noisy_pairs(tmp_path):
    rng = np.random.default_rng(0)
    for sub in ("clean", "noisy"):
        (tmp_path / sub).mkdir()
    for i in range(2):
        y, x = np.mgrid[0:64, 0:64]
        clean = np.sin(x / 3.0 + i) * np.cos(y / 4.0)
        np.save(tmp_path / "clean" / f"s{i}.npy", clean)
        np.save(tmp_path / "noisy" / f"s{i}.npy", clean + rng.normal(0, 0.2, clean.shape))
    result = CliRunner().invoke(app, ["eval", "--data", str(tmp_path), "--baselines", "median3"])
    assert result.exit_code == 0, result.output
    assert "median3" in result.output


def test_cli_eval_no_reference_on_real_scan(tmp_path, shared_stm):
    scan = shared_stm / "SPMQT-Lab__nanonis-file-conversion-1.01/anonymised_testdata/createc_scan_atomic_11nm.dat"
    out = tmp_path / "rows.json"
    result = CliRunner().invoke(app, ["eval", "--no-reference", "--data", str(scan), "--baselines", "align_median_diff",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in json.loads(out.read_text())}
    assert rows["align_median_diff"]["stripe_after"] < rows["noisy"]["stripe_before"]
    assert rows["noisy"]["kept"] == 1.0 and rows["noisy"]["invented"] == 0


def test_cli_eval_unknown_baseline_is_one_line_error():
    result = CliRunner().invoke(app, ["eval", "--baselines", "nope", "--n", "1"])
    assert result.exit_code != 0 and "unknown baseline 'nope'" in result.output


def test_figures_are_written(tmp_path):
    model = tmp_path / "identity.keras"
    identity_model().save(model)
    y, x = np.mgrid[0:64, 0:96]
    np.save(tmp_path / "scan.npy", np.sin(x / 3.0) * np.cos(y / 4.0))
    fig = tmp_path / "fig.png"
    result = CliRunner().invoke(app, ["show", str(tmp_path / "scan.npy"), "--model", str(model), "-o", str(fig)])
    assert result.exit_code == 0, result.output
    assert fig.stat().st_size > 10_000
    cmp = tmp_path / "cmp.png"
    result = CliRunner().invoke(app, ["eval", "--models", str(model), "--n", "1", "--size", "64", "--noise", "thesis",
                                      "--baselines", "median3", "--plot", str(cmp)])
    assert result.exit_code == 0, result.output
    assert cmp.stat().st_size > 10_000
