"""Run a stack program under Pulumi mocks and collect every resource with its inputs.

`govcloud plan`, the stack unit tests and the benchmarks all use this: the same program that
`pulumi up` runs, with the engine replaced by `pulumi.runtime.set_mocks`. Each run happens in
a fresh context (the SDK keeps its settings and root stack in context variables), so the
primary and DR stacks can run one after the other in one process.

Mocked values: a resource's ID is `<name>@<Type>` (so references can be followed back to
the resource), its state is its inputs, data sources answer with names as IDs, and a
StackReference answers with the outputs given for that stack (the primary's, for DR).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import source_pb2

from desired.state import DesiredState
from govcloud.conventions import PULUMI_PROJECT
from stacks.program import build

STACK_REFERENCE = "pulumi:pulumi:StackReference"
PROVIDER_PREFIX = "pulumi:providers:"
MOCK_USER_ID = "deployer-user"
MOCK_ROLE_PREFIX = "role-"  # a mocked role's ID is the prefix and its name


@dataclass(frozen=True)
class DesiredResource:
    """One resource the program declares: type, logical name, URN, mocked ID and inputs."""

    urn: str
    type: str
    name: str
    id: str
    custom: bool
    inputs: dict[str, Any]
    parent_type: str | None
    provider_id: str | None = None  # the explicit provider's mocked ID, if any

    @property
    def is_component(self) -> bool:
        """Components group children; they have no cloud counterpart."""
        return not self.custom


@dataclass
class StackRun:
    """What one run of a stack program declared and exported."""

    stack: str
    resources: list[DesiredResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def cloud_resources(self) -> list[DesiredResource]:
        """Custom resources that exist in the cloud (no components, providers or references)."""
        return [
            r
            for r in self.resources
            if r.custom and not r.type.startswith(PROVIDER_PREFIX) and r.type != STACK_REFERENCE
        ]

    def of_type(self, type_: str) -> list[DesiredResource]:
        """Every resource of one type token."""
        return [r for r in self.resources if r.type == type_]

    def by_id(self) -> dict[str, DesiredResource]:
        """Resources by their mocked ID, to follow references."""
        return {r.id: r for r in self.resources}


def mock_role_name(role_id: object) -> str:
    """The role name behind a mocked role ID (the `getRole` data source's answer)."""
    return str(role_id).removeprefix(MOCK_ROLE_PREFIX)


def mock_id(type_: str, name: str) -> str:
    """The mocked ID of a resource: its logical name and type, so references are readable."""
    return f"{name}@{type_.rsplit(':', 1)[-1]}"


class RecordingMocks(Mocks):
    """Mocks that record what the program declares and answer data sources plausibly."""

    def __init__(self, references: Mapping[str, Mapping[str, Any]]) -> None:
        self.references = references
        self.declared: dict[tuple[str, str], tuple[bool, dict[str, Any], str | None]] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        """Record the resource; its state is its inputs."""
        if args.typ == STACK_REFERENCE:
            name = str(args.inputs.get("name", args.name))
            outputs = dict(self.references.get(name, {}))
            state = {"name": name, "outputs": outputs, "secretOutputNames": []}
            self.declared[(args.typ, args.name)] = (True, state, None)
            return name, state
        inputs = dict(args.inputs)
        # A provider reference is "<urn>::<id>"; keep the ID to find the provider's tenant.
        provider = args.provider.rsplit("::", 1)[-1] if args.provider else None
        self.declared[(args.typ, args.name)] = (bool(args.custom), inputs, provider)
        return mock_id(args.typ, args.name), inputs

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        """Data sources: roles and services by name, the deployer's own auth scope."""
        token, given = args.token, args.args
        if token.endswith("getRole"):
            return {"id": f"{MOCK_ROLE_PREFIX}{given['name']}", "name": given["name"]}
        if token.endswith("getService"):
            kind = given.get("type") or given.get("name")
            return {"id": f"service-{kind}", "type": kind, "name": kind}
        if token.endswith("getAuthScope"):
            return {"id": given.get("name", "scope"), "userId": MOCK_USER_ID}
        return {"id": token}


def _resource_type(urn: str) -> tuple[str, str | None]:
    qualified = urn.split("::")[2]
    chain = qualified.split("$")
    return chain[-1], (chain[-2] if len(chain) > 1 else None)


@contextlib.contextmanager
def _without_source_positions() -> Iterator[None]:
    """Skip the SDK's per-resource stack capture while mocked (nothing reads it then).

    The SDK walks and formats the whole Python stack for every resource so the engine can
    point at the line that declared it; under mocks there is no engine, and the walk was a
    third of the program's time (docs/benchmarks.md). Restored afterwards, and left alone if
    a future SDK renames it.
    """
    original = getattr(sdk_resource, "_get_stack_trace", None)
    if original is None:
        yield
        return
    sdk_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = original


def _run(desired: DesiredState, references: Mapping[str, Mapping[str, Any]]) -> StackRun:
    _ensure_event_loop()
    with _without_source_positions():
        return _run_mocked(desired, references)


def _ensure_event_loop() -> None:
    """Give the thread an open event loop when it has none: the SDK makes its futures on the
    current loop, and after any `asyncio.run` in this thread (an async client, a test
    harness) there is none."""
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def _run_mocked(desired: DesiredState, references: Mapping[str, Mapping[str, Any]]) -> StackRun:
    mocks = RecordingMocks(references)
    monitor = MockMonitor(mocks)
    stack = desired.settings.stack
    pulumi.runtime.set_mocks(
        mocks, project=PULUMI_PROJECT, stack=stack, preview=False, monitor=monitor
    )
    run = StackRun(stack)

    def program() -> pulumi.Output[Any]:
        exports = build(desired)
        return pulumi.Output.from_input(exports).apply(run.outputs.update)

    pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]
    for urn, registration in monitor.get_registered_resources().items():
        type_, parent_type = _resource_type(urn)
        name = urn.rsplit("::", 1)[-1]
        custom, inputs, provider = mocks.declared.get((type_, name), (True, {}, None))
        run.resources.append(
            DesiredResource(
                urn=urn,
                type=type_,
                name=name,
                id=registration.id or "",
                custom=custom,
                inputs=inputs,
                parent_type=parent_type,
                provider_id=provider,
            )
        )
    return run


def run_stack(
    desired: DesiredState, references: Mapping[str, Mapping[str, Any]] | None = None
) -> StackRun:
    """Run the desired state's stack under mocks, in a fresh context, and collect it.

    `references` maps a stack name to the outputs a StackReference to it returns.
    """
    return contextvars.Context().run(_run, desired, references or {})
