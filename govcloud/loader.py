"""Load the county from YAML, keeping every value's file, line and column.

Errors are collected, never raised one at a time: a malformed file, a wrong type, an unknown
field, a missing file and a broken cross-reference all come back as `Problem`s in the form
`FILE:LINE:COL: message`, so `govcloud validate` can show every one of them at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from govcloud.checks import Check, Finding, Severity, check_county
from govcloud.checks import Path as DocPath
from govcloud.model import County, CountyFile, Department

COUNTY_FILE = "county.yaml"
DEPARTMENTS_DIR = "departments"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the county data, where it is and what to do."""

    file: str
    line: int
    column: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        kind = "warning: " if self.warning else ""
        return f"{self.file}:{self.line}:{self.column}: {kind}{self.message}"


class InputProblemsError(Exception):
    """An input file has problems; `problems` lists every one, in file and line order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CountyError(InputProblemsError):
    """The county data has problems; `problems` lists every one."""


@dataclass
class SourceMap:
    """Line and column (1-based) of every key and value in one YAML file."""

    file: str
    keys: dict[DocPath, tuple[int, int]] = field(default_factory=dict)
    values: dict[DocPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: DocPath, *, key: bool = False) -> tuple[int, int]:
        """Return the position for a path; a path that does not exist falls back to its parent."""
        table = self.keys if key else self.values
        probe = path
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def problem(self, path: DocPath, message: str, *, key: bool = False) -> Problem:
        """A problem at a path in this file."""
        line, column = self.locate(path, key=key)
        return Problem(self.file, line, column, message)


def _plain(node: Any, path: DocPath, source: SourceMap) -> Any:
    """Convert ruamel's round-trip objects to plain Python, recording positions on the way."""
    if isinstance(node, CommentedMap):
        result: dict[str, Any] = {}
        for key, value in node.items():
            line, col = node.lc.key(key)
            child = (*path, str(key))
            source.keys[child] = (line + 1, col + 1)
            vline, vcol = node.lc.value(key)
            source.values[child] = (vline + 1, vcol + 1)
            result[str(key)] = _plain(value, child, source)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            source.values[(*path, index)] = (line + 1, col + 1)
            source.keys[(*path, index)] = (line + 1, col + 1)
            items.append(_plain(value, (*path, index), source))
        return items
    return _scalar(node)


def _scalar(node: Any) -> Any:
    # ruamel's ScalarBoolean is an int subclass: test it before int.
    for kind, convert in ((ScalarBoolean, bool), (bool, bool), (int, int), (float, float)):
        if isinstance(node, kind):
            return convert(node)
    if node is None or isinstance(node, dt.date):
        return node
    return str(node)


def read_yaml(path: Path, display: str) -> tuple[Any, SourceMap]:
    """Parse one YAML file into plain data and its source map; raise CountyError if unreadable."""
    source = SourceMap(display)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CountyError([Problem(display, 1, 1, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CountyError([Problem(display, 1, 1, f"cannot read file: {error}")]) from None
    yaml = YAML(typ="rt")
    try:
        document = yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = error.problem or error.context or "malformed YAML"
        raise CountyError([Problem(display, line, column, f"malformed YAML: {what}")]) from None
    except YAMLError as error:
        raise CountyError([Problem(display, 1, 1, f"malformed YAML: {error}")]) from None
    source.values[()] = (1, 1)
    return _plain(document, (), source), source


def _describe(error: ErrorDetails) -> str:
    """Turn one pydantic error into a sentence for the operator."""
    kind = error["type"]
    where = ".".join(str(part) for part in error["loc"]) or "document"
    field_name = str(error["loc"][-1]) if error["loc"] else "document"
    if kind == "missing":
        return f"missing required field {field_name!r}"
    if kind == "extra_forbidden":
        return f"unknown field {field_name!r}; check its spelling or remove it"
    if kind in ("model_type", "dict_type"):
        return f"{where}: expected a mapping of fields, got {type(error['input']).__name__}"
    if kind == "value_error":
        return f"{where}: {error['ctx']['error']}"
    message = error["msg"]
    return f"{where}: {message[0].lower()}{message[1:]} (got {error['input']!r})"


def validate_document(
    model: type[BaseModel], data: Any, source: SourceMap, base: DocPath = ()
) -> tuple[Any, list[Problem]]:
    """Validate plain data against a model; return the object or the problems with positions."""
    try:
        return model.model_validate(data), []
    except ValidationError as error:
        problems = []
        for detail in error.errors(include_url=False):
            path = (*base, *detail["loc"])
            problems.append(
                source.problem(path, _describe(detail), key=detail["type"] == "extra_forbidden")
            )
        return None, problems


def _display(path: Path) -> str:
    """Show paths relative to the working directory when they are inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_county(directory: Path, *, checks: Sequence[Check] = ()) -> County:
    """Load and check the whole county; raise CountyError listing every problem."""
    return load_county_reporting(directory, checks=checks)[0]


def load_county_reporting(
    directory: Path, *, checks: Sequence[Check] = ()
) -> tuple[County, tuple[Problem, ...]]:
    """Load and check the whole county, with `checks` beyond its own rules; return the county
    and the warnings in file and line order, or raise CountyError listing every error."""
    if not directory.is_dir():
        raise CountyError(
            [
                Problem(
                    _display(directory),
                    1,
                    1,
                    "county directory not found; pass --county DIR or set GOVCLOUD_COUNTY",
                )
            ]
        )
    problems: list[Problem] = []

    county_file: CountyFile | None = None
    county_source = SourceMap(_display(directory / COUNTY_FILE))
    try:
        data, county_source = read_yaml(directory / COUNTY_FILE, county_source.file)
        county_file, found = validate_document(CountyFile, data, county_source)
        problems += found
    except CountyError as error:
        problems += error.problems

    department_dir = directory / DEPARTMENTS_DIR
    files = sorted(department_dir.glob("*.yaml")) if department_dir.is_dir() else []
    if not files:
        problems.append(
            Problem(
                _display(department_dir),
                1,
                1,
                "no department files (*.yaml) found; add one file per department",
            )
        )
    departments: list[Department] = []
    sources: list[SourceMap] = []
    unloaded: set[str] = set()
    for file in files:
        try:
            data, source = read_yaml(file, _display(file))
        except CountyError as error:
            problems += error.problems
            unloaded.add(file.stem)
            continue
        department, found = validate_document(Department, data, source)
        problems += found
        if department is None:
            unloaded.add(file.stem)
            continue
        if department.code != file.stem:
            problems.append(
                source.problem(
                    ("code",),
                    f"department code {department.code!r} does not match the file name "
                    f"{file.name!r}; rename the file to {department.code}.yaml",
                )
            )
        departments.append(department)
        sources.append(source)

    if county_file is not None:
        county = County(**dict(county_file), departments=departments)
        findings = check_county(county, unresolved_departments=frozenset(unloaded))
        for check in checks:  # over the files that loaded, as the county's own checks
            findings += check(county)
        located = [_locate(f, county_source, sources) for f in findings]
        problems += [p for p in located if not p.warning]
        if not problems:
            return county, tuple(sorted(p for p in located if p.warning))
    raise CountyError(problems)


def _locate(finding: Finding, county: SourceMap, departments: list[SourceMap]) -> Problem:
    path = finding.path
    source, inside = (
        (departments[int(path[1])], path[2:])
        if path and path[0] == "departments"
        else (county, path)
    )
    problem = source.problem(inside, finding.message)
    if finding.severity is Severity.WARNING:
        return Problem(problem.file, problem.line, problem.column, problem.message, warning=True)
    return problem
