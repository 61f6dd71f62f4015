"""The `stm-zoo` command line: thin typer commands that parse, call the library, and print."""

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


def main():
    app()


if __name__ == "__main__":
    main()
