"""What every govcloud command group shares: consoles, options, loading, JSON, sessions."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console
from sqlalchemy.orm import Session

from govcloud.errors import BadInputError
from govcloud.loader import load_county
from govcloud.model import County
from govcloud.registry import db
from govcloud.settings import get_settings

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

CountyOption = Annotated[
    Path | None,
    typer.Option(
        "--county",
        help="county directory [default: $GOVCLOUD_COUNTY, else ./county]",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for machines")]


def county_dir(option: Path | None) -> Path:
    """The county directory: --county, else $GOVCLOUD_COUNTY, else ./county."""
    return option if option is not None else get_settings().county_dir()


def load(option: Path | None) -> County:
    """Load and check the county; problems raise CountyError for main() to print."""
    return load_county(county_dir(option))


def actor() -> str:
    """Who the audit log names for changes made from the command line."""
    return get_settings().actor or f"cli:{getpass.getuser()}"


def print_json(value: Any) -> None:
    """Print any value as readable JSON (pydantic models, enums and dates included)."""
    typer.echo(json.dumps(to_jsonable_python(value), ensure_ascii=False, indent=2))


@contextmanager
def registry_session() -> Iterator[Session]:
    """A session on the migrated registry; the caller commits."""
    engine = db.make_engine(get_settings().registry_url())
    try:
        db.require_current(engine)
        with db.session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def write_files(directory: Path, files: dict[str, str]) -> None:
    """Write all files or none: write each beside its place, then move them into place."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staged = []
        for name, content in files.items():
            temporary = directory / f".{name}.tmp"
            temporary.write_text(content, encoding="utf-8")
            staged.append((temporary, directory / name))
        for temporary, final in staged:
            temporary.replace(final)
    except OSError as error:
        raise BadInputError(f"cannot write to {directory}: {error.strerror}") from None
