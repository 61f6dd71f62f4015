"""The `stm-zoo` command line: thin typer commands that parse, call the library, and print."""

import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    help="stm-zoo: remove scan-line stripes and other noise from STM images with Keras models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 2):
    """Print a one-line error and exit non-zero."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


@app.command()
def fit(
    recipe: Path = typer.Argument(..., help="Recipe file, e.g. recipes/autoencoder.py"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Override a recipe field: key=value (repeatable)"),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default: the recipe's `out`)"),
):
    """Train a model from a recipe. Re-running on the same --out resumes an interrupted run."""
    from stm_zoo import train

    overrides = list(set_ or []) + ([f"out={str(out)!r}"] if out else [])
    try:
        config = train.load_recipe(recipe, overrides)
    except train.RecipeError as e:
        fail(str(e))
    typer.echo(f"training {config['model']} → {config['out']}")
    train.fit(config)
    typer.echo(f"saved {Path(config['out']) / 'model.keras'}")


@app.command("models")
def list_models():
    """List the zoo: name, parameters, description and source."""
    from stm_zoo import models

    for name in models.names():
        info = models.info(name)
        params = models.build(name).count_params()
        typer.echo(f"{name:22s} {params:>12,d}  {info.description}\n{'':37s}source: {info.source}")


@app.command()
def denoise(
    inputs: List[Path] = typer.Argument(..., help="Scan files or folders (searched recursively)"),
    model: str = typer.Option(..., "--model", "-m", help="Pretrained zoo name or path to a .keras file"),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the results"),
    fmt: str = typer.Option("npy", "--format", "-f", help="npy | tif | gwy | png"),
    channel: str = typer.Option("Z", help="Channel to read from multi-channel files"),
    tile: int = typer.Option(256, help="Tile side in pixels (multiple of 64)"),
    overlap: int = typer.Option(32, help="Tile overlap in pixels"),
):
    """Denoise STM files of any size; results keep the input's shape and physical units."""
    from stm_zoo import inference, io

    if fmt not in ("npy", "tif", "gwy", "png"):
        fail(f"unknown format {fmt!r}; choose npy, tif, gwy or png")
    files = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in io.formats())
        elif item.exists():
            files.append(item)
        else:
            fail(f"{item}: no such file or folder")
    if not files:
        fail("no readable scans found")
    try:
        net = inference.load_model(model)
    except (ValueError, OSError) as e:
        fail(str(e).splitlines()[0])
    output.mkdir(parents=True, exist_ok=True)
    failed = []
    with typer.progressbar(files, label="denoising", file=sys.stderr) as bar:
        for path in bar:
            target = output / f"{path.stem}.{fmt}"
            try:
                if target.resolve() == path.resolve():
                    raise ValueError("output would overwrite the input")
                scan = io.read(path, channel=channel)
                io.write(inference.denoise(scan, net, tile=tile, overlap=overlap), target)
            except (ValueError, OSError) as e:
                failed.append(path)
                typer.secho(f"\nfailed: {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                            err=True, fg=typer.colors.RED)
    typer.echo(f"{len(files) - len(failed)} denoised, {len(failed)} failed → {output}")
    if failed:
        raise typer.Exit(1)


@app.command("eval")
def eval_(
    models: str = typer.Option("", "--models", help="Comma-separated zoo names or .keras paths"),
    data: str = typer.Option("synthetic", "--data", help="synthetic | folder of clean scans | folder with clean/ and noisy/"),
    noise: str = typer.Option("stm", "--noise", help="Noise preset for synthesized pairs"),
    baselines: str = typer.Option("default", help="Comma-separated classical baselines, 'default', 'all' or 'none'"),
    n: int = typer.Option(16, "--n", help="Number of synthesized test images"),
    size: int = typer.Option(256, "--size", help="Side of synthesized test images"),
    no_reference: bool = typer.Option(False, "--no-reference", help="DATA holds real noisy scans: stripe index and lattice fidelity"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the rows as JSON"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write a figure of every method on the first image"),
):
    """Compare models and classical baselines: PSNR / SSIM / UQI on pairs, or no-reference measures on real scans."""
    from stm_zoo import evaluate, io, level
    from stm_zoo._atomic import write_json

    try:
        methods = ["noisy", *evaluate.baseline_set(baselines), *[m for m in models.split(",") if m]]
        if no_reference:
            folder = Path(data)
            files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in io.formats()) if folder.is_dir() else [folder]
            images = {}
            for f in files:
                try:
                    images[f.name] = level.normalize(level.plane_fit(io.read(f).data))[0]
                except ValueError as e:
                    typer.secho(f"skipped: {e}", err=True)
            rows = evaluate.evaluate_real(methods, images)
            first = next(iter(images.values()), None)
        else:
            pairs = (evaluate.synthetic_pairs(noise=noise, n=n, size=size) if data == "synthetic"
                     else evaluate.folder_pairs(data, noise=noise, n=n, size=size))
            rows = evaluate.evaluate_pairs(methods, pairs)
            first = pairs[0].noisy
    except (ValueError, ImportError, OSError) as e:
        fail(str(e).splitlines()[0])
    typer.echo(evaluate.format_table(rows))
    if plot and first is not None:
        from stm_zoo import figures

        outputs = evaluate.outputs_on(methods, first)
        if not no_reference:
            outputs = {"clean": pairs[0].clean, **outputs}
        figures.comparison(outputs, plot, title=f"{Path(data).name}: {'real scan' if no_reference else noise + ' noise'}")
        typer.echo(f"figure → {plot}")
    if json_out:
        write_json(json_out, rows)


weights_app = typer.Typer(help="Pretrained weights: list, download, verify and publish.", no_args_is_help=True)


def _metrics_line(metrics: dict) -> str:
    """'synthetic 32.84 dB/0.887  held_out_real 31.45 dB/0.878  stripes 1.10→0.61' from a manifest's metrics."""
    parts = []
    for label, numbers in metrics.items():
        if not isinstance(numbers, dict):
            continue
        if {"psnr", "ssim"} <= numbers.keys():
            parts.append(f"{label} {numbers['psnr']:.2f} dB/{numbers['ssim']:.3f}")
        elif {"stripe_index_before", "stripe_index_after"} <= numbers.keys():
            parts.append(f"stripes {numbers['stripe_index_before']:.2f}→{numbers['stripe_index_after']:.2f}")
    return "  ".join(parts)


@weights_app.command("list")
def weights_list():
    """Pretrained models: name, architecture, parameters, where the file is (shipped/cached/remote), PSNR / SSIM
    per test set and the stripe index on real noisy scans (all numbers: weights/manifest.json)."""
    from stm_zoo import weights

    try:
        entries = weights.read_manifest()["models"]
    except weights.WeightsError as e:
        fail(str(e))
    if not entries:
        typer.echo(f"no pretrained models yet ({weights.manifest_path()})")
    for item in entries:
        typer.echo(f"{item['name']:20s} {item['architecture']:20s} {item['params']:>11,d}  "
                   f"{weights.status(item['name']):8s} {_metrics_line(item['metrics'])}")


@weights_app.command("pull")
def weights_pull(names: List[str] = typer.Argument(..., help="Pretrained model names (see `stm-zoo weights list`)")):
    """Download pretrained models into the user cache (verifying sha256); shipped ones are only checked."""
    from stm_zoo import weights

    for name in names:
        try:
            typer.echo(f"{name}: {weights.fetch(name)}")
        except weights.WeightsError as e:
            fail(str(e))


@weights_app.command("verify")
def weights_verify():
    """Check the sha256 of every shipped and cached weights file against the manifest."""
    from stm_zoo import weights

    try:
        rows = weights.verify()
    except weights.WeightsError as e:
        fail(str(e))
    for name, path, state in rows:
        typer.echo(f"{state:9s} {name or '-':20s} {path}")
    bad = [row for row in rows if row[2] in ("mismatch", "unlisted")]
    typer.echo(f"{len(rows) - len(bad)} fine, {len(bad)} bad")
    if bad:
        raise typer.Exit(1)


@weights_app.command("publish")
def weights_publish(
    source: Path = typer.Argument(..., help="Run folder (with model.keras and recipe.json) or a model.keras"),
    name: str = typer.Argument(..., help="Pretrained model name, e.g. dncnn or maed_cnn-b0"),
    metrics: Optional[Path] = typer.Option(None, help="JSON file of evaluation numbers to record"),
    training_data: Optional[str] = typer.Option(None, help="What it was trained on (default: from the recipe)"),
    license_: str = typer.Option("MIT", "--license", help="License of the weights"),
    url: Optional[str] = typer.Option(None, help="Download URL of the file (default: the manifest's base_url)"),
    ship: bool = typer.Option(True, help="--no-ship: too big for weights/; keep it in the user cache, list a URL"),
):
    """Add a trained model to weights/ and the manifest (sha256, size, params, recipe, metrics)."""
    import json

    from stm_zoo import weights

    numbers = None
    if metrics is not None:
        try:
            numbers = json.loads(metrics.read_text())
        except (OSError, json.JSONDecodeError) as e:
            fail(f"{metrics}: cannot read metrics JSON ({e})")
        if not isinstance(numbers, dict):
            fail(f"{metrics}: metrics must be a JSON object")
    try:
        item = weights.publish(source, name, training_data=training_data, metrics=numbers, license=license_,
                               url=url, ship=ship)
    except weights.WeightsError as e:
        fail(str(e))
    typer.echo(f"published {item['name']}: {item['file']} {item['size']:,} bytes, {item['params']:,} params, "
               f"sha256 {item['sha256'][:12]}… → {weights.manifest_path()}")


app.add_typer(weights_app, name="weights")


@app.command("noise-preview")
def noise_preview(
    recipe: Path = typer.Argument(..., help="Recipe file, e.g. recipes/autoencoder.py"),
    output: Path = typer.Option(..., "-o", "--output", help="PNG file to write"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Override a recipe field: key=value (repeatable)"),
    n: int = typer.Option(8, "--n", min=1, max=64, help="Number of samples"),
):
    """Write a PNG grid of clean training patches over their noisy versions: what a recipe trains on."""
    from stm_zoo import train
    from stm_zoo.data import preview

    try:
        config = train.load_recipe(recipe, list(set_ or []))
        path = preview.write_noise_preview(config, output, n)
    except ValueError as e:  # RecipeError, a bad data source or output name
        fail(str(e))
    typer.echo(f"wrote {path}")


@app.command()
def show(
    scan: Path = typer.Argument(..., help="A scan file"),
    model: str = typer.Option(..., "--model", "-m", help="Pretrained zoo name or path to a .keras file"),
    out: Path = typer.Option(..., "-o", "--output", help="Figure file (.png, .pdf, .svg)"),
    channel: str = typer.Option("Z", help="Channel to read"),
):
    """Figure: noisy | denoised | removed | FFT before | FFT after, in physical units with a scale bar."""
    from stm_zoo import figures, inference, io

    try:
        before = io.read(scan, channel=channel)
        after = inference.denoise(before, inference.load_model(model))
    except (ValueError, OSError) as e:
        fail(str(e).splitlines()[0])
    figures.before_after(before, after, out, title=f"{scan.name} — {model}")
    typer.echo(f"figure → {out}")


def main():
    app()


if __name__ == "__main__":
    main()
