import json

import numpy as np
import pytest
from typer.testing import CliRunner

from stm_zoo import evaluate, metrics
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
    assert set(rows["noisy"]) == {"method", "psnr", "ssim", "uqi", "line_error", "worse_than_input", "seconds",
                                  "psnr_per_image"}
    assert rows["noisy"]["psnr"] == pytest.approx(np.mean(rows["noisy"]["psnr_per_image"]))
    assert "psnr_per_image" not in evaluate.format_table(list(rows.values()))


def test_sweep_strengths_get_harder_from_light_to_severe():
    images = simulate.surfaces(2, seed=3, size_px=64)
    input_psnr = [np.mean([metrics.psnr(p.clean, p.noisy) for p in evaluate.whole_image_pairs(images, noise=s)])
                  for s in evaluate.SWEEP]
    assert list(evaluate.SWEEP) == ["light", "medium", "heavy", "severe"]
    assert all(a > b for a, b in zip(input_psnr, input_psnr[1:])), input_psnr
    assert evaluate.noise_spec("heavy") == evaluate.SWEEP["heavy"] and evaluate.noise_spec("stm") == "stm"
    with pytest.raises(ValueError, match="unknown noise 'sweep'.*sweep strengths: light"):
        evaluate.noise_spec("sweep")


def test_fine_lattice_surfaces_have_an_fft_peak_of_2_5_to_5_px():
    pairs = evaluate.fine_lattice_pairs(noise="thesis", n=2, size=64)
    for i, p in enumerate(pairs):
        image, info = simulate.surface_with_info(np.random.default_rng([evaluate.TEST_SEED, i]), 64,
                                                 evaluate.fine_lattice_params(64))
        np.testing.assert_array_equal(p.clean, image)
        a = info["lattice_nm"] / info["scan_nm"] * 64  # lattice constant in px
        row_spacing = a * np.sqrt(3) / 2 if info["lattice"] in ("hexagonal", "honeycomb") else a
        assert 2.9 <= a <= 5.0 and info["lattice"] != "chains" and not info["molecular_lattice"]
        periods = evaluate.lattice_periods(p.clean)  # the FFT sees the lattice rows
        near = [q for q in periods if 2.5 <= q <= 5.0 and abs(q - row_spacing) < 0.1 * row_spacing]
        assert near, (row_spacing, periods)


def _pair(clean, noise_sigma, rng):
    return evaluate.Pair("p", np.clip(clean + rng.normal(0, noise_sigma, clean.shape), 0, 1).astype(np.float32),
                         clean.astype(np.float32))


def test_worse_than_input_counts_the_images_a_method_harms(monkeypatch):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64]
    smooth = 0.5 + 0.3 * np.sin(x / 9.0) * np.cos(y / 7.0)
    fine = 0.5 + 0.4 * np.sin(2 * np.pi * x / 3.0) * np.sin(2 * np.pi * y / 3.0)  # a 3 px lattice
    # the median filter helps on two smooth images under strong noise, harms the fine lattice under faint noise
    pairs = [_pair(smooth, 0.1, rng), _pair(fine, 0.002, rng), _pair(smooth, 0.1, rng)]
    real_method = evaluate._method
    monkeypatch.setattr(evaluate, "_method", lambda name: (lambda im: im + rng.normal(0, 0.05, im.shape))
                        if name == "adds_noise" else real_method(name))
    rows = {r["method"]: r for r in evaluate.evaluate_pairs(["noisy", "median3", "adds_noise"], pairs)}
    assert rows["noisy"]["worse_than_input"] == 0
    assert rows["median3"]["worse_than_input"] == 1
    assert rows["adds_noise"]["worse_than_input"] == 3
    summary = evaluate.summarize({"sweep/heavy": list(rows.values())}, "adds_noise")
    assert summary["sweep"]["heavy"]["worse_than_input"] == 3 and summary["sweep"]["heavy"]["images"] == 3
    assert summary["sweep"]["heavy"]["input_psnr"] == rows["noisy"]["psnr"]


def test_harmed_images_set_the_references_own_noise_beside_the_added_noise():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:128, 0:128]
    surface = 0.5 + 0.3 * np.sin(x / 11.0) * np.cos(y / 13.0)
    noisy_reference = np.clip(surface + rng.normal(0, 0.03, surface.shape), 0, 1).astype(np.float32)
    faint = np.clip(noisy_reference + rng.normal(0, 0.005, surface.shape), 0, 1).astype(np.float32)
    pairs = [evaluate.Pair("own_noise", faint, noisy_reference), _pair(surface, 0.1, rng)]
    rows = evaluate.evaluate_pairs(["noisy", "median3"], pairs)
    harmed = evaluate.harmed_images(rows, pairs)
    assert [(h["method"], h["image"]) for h in harmed] == [("median3", "own_noise")]
    assert harmed[0]["reference_noise"] == pytest.approx(0.03, rel=0.15)
    assert harmed[0]["added_noise"] == pytest.approx(0.005, rel=0.1)
    assert harmed[0]["psnr"] < harmed[0]["input_psnr"]


def test_full_resolution_pairs_keep_every_scan_whole(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "a.npy", rng.random((40, 72)))
    np.save(tmp_path / "b.npy", rng.random((96, 64)))
    pairs = evaluate.folder_pairs(tmp_path, noise="stm", full_resolution=True)
    assert [p.clean.shape for p in pairs] == [p.noisy.shape for p in pairs] == [(40, 72), (96, 64)]
    assert all(not np.array_equal(p.noisy, p.clean) for p in pairs)
    again = evaluate.folder_pairs(tmp_path, noise="stm", full_resolution=True)
    np.testing.assert_array_equal(pairs[1].noisy, again[1].noisy)
    cropped = evaluate.folder_pairs(tmp_path, noise="stm", n=3, size=32)
    assert len(cropped) == 3 and cropped[0].clean.shape == (32, 32)


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
    assert summary["synthetic"]["line_error"] == rows["noisy"]["line_error"] > 0
    assert summary["synthetic"]["best_baseline_line_error"] == min(rows["median3"]["line_error"],
                                                                 rows["align_median"]["line_error"])
    assert summary["synthetic"]["worse_than_input"] == rows[str(model)]["worse_than_input"]
    assert summary["synthetic"]["images"] == 2 and summary["synthetic"]["input_psnr"] == rows["noisy"]["psnr"]
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
    assert "psnr" in result.output and "median3" in result.output and "worse_than_input" in result.output


def test_cli_eval_noise_sweep_on_the_fine_lattice_split(tmp_path):
    out = tmp_path / "rows.json"
    result = CliRunner().invoke(app, ["eval", "--data", "fine_lattice", "--noise", "sweep", "--n", "1", "--size", "64",
                                      "--baselines", "median3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    tables = json.loads(out.read_text())
    assert list(tables) == list(evaluate.SWEEP)
    inputs = [next(r["psnr"] for r in tables[s] if r["method"] == "noisy") for s in tables]
    assert all(a > b for a, b in zip(inputs, inputs[1:])), inputs
    assert all(f"{s} (mean input PSNR" in result.output for s in evaluate.SWEEP)
    one = CliRunner().invoke(app, ["eval", "--data", "fine_lattice", "--noise", "heavy", "--n", "1", "--size", "64",
                                   "--baselines", "none"])
    assert one.exit_code == 0 and "worse_than_input" in one.output, one.output
    bad = CliRunner().invoke(app, ["eval", "--noise", "nope", "--n", "1", "--size", "64", "--baselines", "none"])
    assert bad.exit_code != 0 and "unknown noise 'nope'" in bad.output


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
    scan = shared_stm / "ethz-micro__matlab_nanonis/Examples/Files/Si_7x7_028.sxm"  # streaky, with a lattice
    out = tmp_path / "rows.json"
    result = CliRunner().invoke(app, ["eval", "--no-reference", "--data", str(scan), "--baselines", "align_median_diff",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in json.loads(out.read_text())}
    assert rows["align_median_diff"]["stripe_after"] < rows["noisy"]["stripe_before"]
    assert rows["noisy"]["peaks"] == 8 and rows["noisy"]["kept"] == 1.0 and rows["noisy"]["invented"] == 0


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


def test_real_scans_prepares_every_readable_scan_and_says_why_one_is_skipped(tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "good.npy", rng.random((24, 32)) * 1e-9)
    np.save(tmp_path / "flat.npy", np.ones((24, 32)))  # a plane: cannot be normalized
    images, skipped = evaluate.real_scans(tmp_path)
    assert list(images) == ["good.npy"] and images["good.npy"].shape == (24, 32)
    assert 0.0 <= images["good.npy"].min() and images["good.npy"].max() <= 1.0
    assert len(skipped) == 1 and "\\n" not in skipped[0]
    assert evaluate.real_scans([tmp_path / "sub" / "good.npy"])[0].keys() == {"good.npy"}
