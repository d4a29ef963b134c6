"""A system's way onto the cloud as data: the steps, what each needs and leaves (pure).

    planned ──replicate──► ready_for_test ──test──► ready_for_cutover ──cutover──► validated
       ▲        (replicating)           (test_launched)              (cut_over)        │
       └──────────────── rollback, from any state before finalized ◄──────────────────┤
                                                                          finalize ──► finalized

A step's `during` state is recorded before its playbook runs: a run killed in the middle leaves
the system there, with the step `started` in the journal, and the next run repeats that step
(every phase of the playbooks is idempotent). A step that fails leaves the system in its
`during` state too (the next run repeats it); a failed cutover is rolled back at once. A cold
move skips replication and the test: its cutover dumps and restores (`COLD_CUTOVER`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from govcloud.registry.migration_state import MigrationMode, MigrationState

S = MigrationState


class Action(StrEnum):
    """What an operator asks for."""

    RUN = "run"  # forward, up to a state (validated by default)
    ROLLBACK = "rollback"
    FINALIZE = "finalize"


@dataclass(frozen=True)
class Step:
    """One playbook run: from which states, through which, to which."""

    name: str
    playbook: str
    starts: frozenset[MigrationState]
    during: MigrationState | None  # None: the state stays as it was until the step ends
    ends: MigrationState


REPLICATE: Final = Step(
    "replicate", "migrate-replicate.yml", frozenset({S.PLANNED}), S.REPLICATING, S.READY_FOR_TEST
)
TEST: Final = Step(
    "test", "migrate-test.yml", frozenset({S.READY_FOR_TEST}), S.TEST_LAUNCHED, S.READY_FOR_CUTOVER
)
CUTOVER: Final = Step(
    "cutover", "migrate-cutover.yml", frozenset({S.READY_FOR_CUTOVER}), S.CUT_OVER, S.VALIDATED
)
COLD_CUTOVER: Final = Step(
    "cold-cutover", "migrate-cutover.yml", frozenset({S.PLANNED}), S.CUT_OVER, S.VALIDATED
)
FINALIZE: Final = Step(
    "finalize", "migrate-finalize.yml", frozenset({S.VALIDATED}), S.FINALIZED, S.FINALIZED
)
ROLLBACK: Final = Step(
    "rollback",
    "migrate-rollback.yml",
    frozenset(set(S) - {S.FINALIZED}),
    None,
    S.PLANNED,
)
WARM_PATH: Final = (REPLICATE, TEST, CUTOVER)
COLD_PATH: Final = (COLD_CUTOVER,)
ALL_STEPS: Final = (REPLICATE, TEST, CUTOVER, COLD_CUTOVER, FINALIZE, ROLLBACK)
# Where a run may stop early: after the copy is in step, or after the test launch.
STOPS: Final = {"replicated": S.READY_FOR_TEST, "tested": S.READY_FOR_CUTOVER}


class LifecycleError(ValueError):
    """The action cannot start from the system's state; the message says what to do."""


def step_named(name: str) -> Step:
    """The step of this name (as the journal records it)."""
    for step in ALL_STEPS:
        if step.name == name:
            return step
    raise KeyError(name)


def plan_run(
    state: MigrationState,
    mode: MigrationMode,
    *,
    until: MigrationState = S.VALIDATED,
    interrupted: Step | None = None,
) -> tuple[Step, ...]:
    """The steps a forward run takes from `state` (after repeating an interrupted step)."""
    if interrupted is not None and interrupted in (FINALIZE, ROLLBACK):
        raise LifecycleError(
            f"the last {interrupted.name} was interrupted: run `govcloud migrate "
            f"{interrupted.name}` again to finish it"
        )
    path = WARM_PATH if mode is MigrationMode.WARM else COLD_PATH
    if interrupted is not None and interrupted not in path:
        raise LifecycleError(
            f"an interrupted {interrupted.name} step belongs to a "
            f"{'cold' if mode is MigrationMode.WARM else 'warm'} move: resume it the same way, "
            "or roll back first"
        )
    if state in (S.VALIDATED, S.FINALIZED) and interrupted is None:
        return ()
    steps: list[Step] = []
    current = state
    for step in path:
        if (interrupted is not None and step == interrupted) or current in step.starts:
            steps.append(step)
            current = step.ends
        if _reached(current, until):
            break
    if not steps and not _reached(state, until):
        raise LifecycleError(_cannot(state, mode))
    return tuple(steps)


ORDER: Final = (
    S.PLANNED,
    S.REPLICATING,
    S.READY_FOR_TEST,
    S.TEST_LAUNCHED,
    S.READY_FOR_CUTOVER,
    S.CUT_OVER,
    S.VALIDATED,
    S.FINALIZED,
)


def _reached(state: MigrationState, until: MigrationState) -> bool:
    return ORDER.index(state) >= ORDER.index(until)


def _cannot(state: MigrationState, mode: MigrationMode) -> str:
    if mode is MigrationMode.COLD:
        return (
            f"a cold move starts from planned; this system is {state.value}: roll it back "
            "first (`govcloud migrate rollback`), or go on warm"
        )
    return f"no forward step starts from {state.value}"


def check_finalize(state: MigrationState) -> None:
    """Only a validated system's source may be retired."""
    if state is not S.VALIDATED:
        raise LifecycleError(
            f"finalize retires the source of a validated system; this one is {state.value}"
            + ("" if state is S.FINALIZED else ": run `govcloud migrate run` first")
        )


def check_rollback(state: MigrationState) -> None:
    """Rollback works from every state before the source is retired."""
    if state is S.FINALIZED:
        raise LifecycleError(
            "the source is retired (finalized): there is nothing to roll back to; move the "
            "system again as a new migration if it must leave the cloud"
        )
