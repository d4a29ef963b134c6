"""What every govcloud command group shares: consoles, options, loading, JSON, sessions."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console

from govcloud.files import write_files
from govcloud.loader import load_county
from govcloud.model import County
from govcloud.registry.db import registry_session
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


__all__ = [
    "CountyOption",
    "JsonOption",
    "actor",
    "county_dir",
    "err",
    "load",
    "out",
    "print_json",
    "registry_session",
    "write_files",
]
