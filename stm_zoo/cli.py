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


@app.callback()
def _fast_cpu():
    import stm_zoo

    stm_zoo.fast_cpu()  # compile cache, memory reuse, XLA:CPU flags for this process


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
    from stm_zoo import training
    from stm_zoo.training import devices

    overrides = list(set_ or []) + ([f"out={str(out)!r}"] if out else [])
    try:
        config = training.load_recipe(recipe, overrides)
    except training.RecipeError as e:
        fail(str(e))
    typer.echo(f"training {config['model']} → {config['out']} on {devices.describe(config)}")
    try:
        training.fit(config)
    except training.CheckpointError as e:
        fail(str(e))
    typer.echo(f"saved {Path(config['out']) / 'model.keras'}")


@app.command("models")
def list_models():
    """List the zoo: name, the pretrained weights of each architecture, description and source (nothing is built)."""
    from stm_zoo import models, weights

    for name in models.names():
        info = models.info(name)
        try:
            pretrained = ", ".join(models.pretrained(name)) or "no weights"
        except weights.WeightsError:
            pretrained = "no weights"
        typer.echo(f"{name:20s} {pretrained:18s} {info.description}\n{'':40s}source: {info.source}")


@app.command()
def denoise(
    inputs: List[Path] = typer.Argument(..., help="Scan files or folders (searched recursively)"),
    model: str = typer.Option(..., "--model", "-m", help="Pretrained zoo name or path to a .keras file"),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the results; subfolders of an input folder "
                                "are mirrored, and inputs that would share a name get their extension added "
                                "(x.gwy, x.dat → x_gwy.gwy, x_dat.gwy); nothing written in a run is overwritten"),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="sxm | gwy | nc | npy | tif | png (default: each "
                                      "input's own format where stm-zoo writes it: .sxm, .gwy, .npy, .tif; else gwy). "
                                      ".gwy keeps the original data beside the denoised channel, .npy gets a "
                                      "NAME.json of size, units, bias and set-point, .nc is xarray/spym NetCDF"),
    channel: str = typer.Option("Z", help="Channel to read from multi-channel files"),
    level: str = typer.Option("plane", "--level", help="Leveling of the result: plane (default: plane-leveled, zero "
                              "mean, as Gwyddion's Plane level) | rows (also align rows by the median of differences, "
                              "then plane) | none (the input's plane added back: absolute heights and tilt)"),
    tile: Optional[int] = typer.Option(None, help="Tile side in pixels (multiple of 64); default 1024 for linespec "
                                       "(whole lines and lattices), 256 for the others"),
    overlap: int = typer.Option(32, help="Tile overlap in pixels"),
):
    """Denoise STM files of any size; results keep the input's shape (unscanned rows NaN) and physical units."""
    from stm_zoo import inference, io, models

    known = io.formats()
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        writable = [ext.lstrip(".") for ext, info in known.items() if info["write"]]
        if fmt not in writable:
            fail(f"cannot write {fmt!r}; --format takes one of {', '.join(writable)}")
    try:
        inference.check_options(tile, overlap, level)
        jobs, skipped = inference.batch_targets(inputs, output, io.output_format if fmt is None else f".{fmt}")
    except ValueError as e:
        fail(str(e))
    for suffix in sorted({target.suffix.lower() for _, target in jobs} | ({f".{fmt}"} if fmt else set())):
        writer = known[suffix]
        if not writer["available"]:
            fail(f"writing {suffix} needs the Python package {writer['needs']}, which is not installed "
                 f"(pip install {writer['needs']})")
    if not jobs and not skipped:
        fail("no readable scans found")
    if output.exists() and not output.is_dir():
        fail(f"{output}: is a file, not a folder (--output takes a folder)")
    if not output.exists() and output.suffix.lower() in known:
        fail(f"{output}: --output takes a folder, not a file name (choose the format with --format)")
    created = [p for p in (output, *output.parents) if not p.exists()]  # removed again if nothing is written

    def remove_created():
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break

    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"{output}: cannot create the output folder ({e.strerror or e})")
    try:
        net = models.load(model)
    except (ValueError, OSError) as e:
        remove_created()
        fail(str(e).splitlines()[0])
    for path, why in skipped:
        typer.secho(f"skipped: {path}: {why}", err=True, fg=typer.colors.YELLOW)
    failed = []
    with typer.progressbar(jobs, label="denoising", file=sys.stderr,
                           item_show_func=lambda job: job[0].name if job else None) as bar:
        for path, target in bar:

            def tiles(done: int, total: int) -> None:  # within one large scan
                bar.label = f"denoising (tile {done}/{total})" if total > 1 and done < total else "denoising"
                bar.render_progress()

            try:
                if target.resolve() == path.resolve():
                    raise ValueError("output would overwrite the input")
                scan = io.read(path, channel=channel, unscanned="keep")
                result = inference.denoise(scan, net, tile=tile, overlap=overlap, level=level, progress=tiles)
                result.metadata["model"] = model  # as given: a zoo name or a .keras file
                io.write(result, target, original=scan)
                notes = [inference.describe_missing(scan.data)]
                if scan.cropped_rows:  # formats that store only the scanned lines
                    notes.append(f"{scan.cropped_rows} never-scanned rows are not stored in the file")
                for note in filter(None, notes):
                    typer.echo(f"\n{path}: {note}", err=True)
            except (ValueError, OSError) as e:
                failed.append(path)
                message = str(e).splitlines()[0] if str(e) else type(e).__name__
                message = message if message.startswith(str(path)) else f"{path}: {message}"
                typer.secho(f"\nfailed: {message}", err=True, fg=typer.colors.RED)
    if len(failed) == len(jobs):
        remove_created()
    typer.echo(f"{len(jobs) - len(failed)} denoised, {len(skipped)} skipped, {len(failed)} failed → {output}")
    if failed or skipped:
        raise typer.Exit(1)


@app.command("eval")
def eval_(
    models: str = typer.Option("", "--models", help="Comma-separated zoo names or .keras paths"),
    data: str = typer.Option("synthetic", "--data", help="synthetic | fine_lattice (lattice periods 2.5-5 px) | folder of clean scans | folder with clean/ and noisy/"),
    noise: str = typer.Option("stm", "--noise", help="Noise preset, a sweep strength (light, medium, heavy, severe) or 'sweep' (one table per strength)"),
    full_res: bool = typer.Option(False, "--full-res", help="Folder of clean scans: every scan once and whole instead of --n crops of --size"),
    baselines: str = typer.Option("default", help="Comma-separated classical baselines, 'default', 'all' or 'none'"),
    n: int = typer.Option(16, "--n", help="Number of synthesized test images"),
    size: int = typer.Option(256, "--size", help="Side of synthesized test images"),
    no_reference: bool = typer.Option(False, "--no-reference", help="DATA holds real noisy scans: stripe index and lattice fidelity"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the rows as JSON"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write a figure of every method on the first image"),
):
    """Compare models and classical baselines: PSNR / SSIM / UQI / line error on pairs, or no-reference measures on
    real scans."""
    from stm_zoo import evaluate
    from stm_zoo._atomic import write_json

    try:
        methods = ["noisy", *evaluate.baseline_set(baselines), *[m for m in models.split(",") if m]]
        if no_reference:
            images, skipped = evaluate.real_scans(data)
            for reason in skipped:
                typer.secho(f"skipped: {reason}", err=True)
            rows = evaluate.evaluate_real(methods, images)
            first = next(iter(images.values()), None)
        else:
            strengths = list(evaluate.SWEEP) if noise == "sweep" else [noise]
            tables = {}  # noise → rows
            for strength in strengths:
                pairs = evaluate.paired_set(data, noise=strength, n=n, size=size, full_resolution=full_res)
                tables[strength] = evaluate.evaluate_pairs(methods, pairs)
                if strength == strengths[0]:
                    first, first_clean = pairs[0].noisy, pairs[0].clean
            rows = tables[noise] if noise != "sweep" else tables
    except (ValueError, ImportError, OSError) as e:
        fail(str(e).splitlines()[0])
    if no_reference or noise != "sweep":
        typer.echo(evaluate.format_table(rows))
    else:
        for strength, table in tables.items():
            noisy_psnr = next(r["psnr"] for r in table if r["method"] == "noisy")
            typer.echo(f"\n{strength} (mean input PSNR {noisy_psnr:.1f} dB)\n{evaluate.format_table(table)}")
    if plot and first is not None:
        from stm_zoo import figures

        outputs = evaluate.outputs_on(methods, first)
        if not no_reference:
            outputs = {"clean": first_clean, **outputs}
        label = "real scan" if no_reference else f"{strengths[0]} noise"
        figures.comparison(outputs, plot, title=f"{Path(data).name}: {label}")
        typer.echo(f"figure → {plot}")
    if json_out:
        write_json(json_out, rows)  # a list of rows; with --noise sweep, strength → rows


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
        if item.get("withdrawn"):
            typer.echo(f"{'':20s} withdrawn: {item['withdrawn']}")


@weights_app.command("withdraw")
def weights_withdraw(
    name: str = typer.Argument(..., help="Pretrained model name"),
    reason: str = typer.Option(..., "--reason", help="Why (shown by `weights list` and warned on load); '' reinstates"),
):
    """Mark a published model as withdrawn: still listed and loadable, with the reason shown and warned about."""
    from stm_zoo import weights

    try:
        weights.withdraw(name, reason)
    except weights.WeightsError as e:
        fail(str(e))
    typer.echo(f"{name}: {'withdrawn: ' + reason if reason else 'reinstated'}")


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

    from stm_zoo import models, weights

    numbers = None
    if metrics is not None:
        try:
            numbers = json.loads(metrics.read_text())
        except (OSError, json.JSONDecodeError) as e:
            fail(f"{metrics}: cannot read metrics JSON ({e})")
        if not isinstance(numbers, dict):
            fail(f"{metrics}: metrics must be a JSON object")
    try:
        item = models.publish(source, name, training_data=training_data, metrics=numbers, license=license_,
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
    from stm_zoo import training
    from stm_zoo.data import preview

    try:
        config = training.load_recipe(recipe, list(set_ or []))
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
    level: str = typer.Option("plane", "--level", help="Leveling of the denoised scan, as for `denoise`: plane "
                              "(default) | rows | none"),
):
    """Figure: noisy | denoised | removed | FFT before | FFT after, in physical units with a scale bar."""
    from matplotlib.backend_bases import FigureCanvasBase

    from stm_zoo import figures, inference, io, models

    if out.is_dir():
        fail(f"{out}: is a folder; -o takes a figure file (.png, .pdf, .svg)")
    if out.suffix.lower().lstrip(".") not in FigureCanvasBase.get_supported_filetypes():
        fail(f"{out}: cannot save a figure as {out.suffix or 'a file without extension'!r}; use .png, .pdf or .svg")
    if out.exists() and out.resolve() == scan.resolve():
        fail(f"{out}: is the scan itself; choose another figure file")
    try:
        inference.check_options(level=level)
    except ValueError as e:
        fail(str(e))
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # removed again on failure
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"{out.parent}: cannot create the folder for the figure ({e.strerror or e})")
    try:
        before = io.read(scan, channel=channel)
        after = inference.denoise(before, models.load(model), level=level)
    except (ValueError, OSError) as e:
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
        fail(str(e).splitlines()[0])
    if before.cropped_rows:
        typer.echo(f"{scan}: {before.cropped_rows} never-scanned rows left out of the figure", err=True)
    figures.before_after(before, after, out, title=f"{scan.name} — {model}")
    typer.echo(f"figure → {out}")


def main():
    app()


if __name__ == "__main__":
    main()
