"""Files govcloud writes for people: all of a set or none."""

from __future__ import annotations

from pathlib import Path

from govcloud.errors import BadInputError


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
