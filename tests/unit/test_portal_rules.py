"""The portal's pure rules: quota arithmetic, the lifecycle, who may do what, the flavors."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcloud.conventions import FLAVORS, REQUESTABLE_FLAVORS, TEST_FLAVOR
from govcloud.quota import QUOTA_RESOURCES, ZERO, Amounts, total
from govcloud.registry.requests import GRANTED_STATES, PENDING_STATES, RequestKind, RequestState
from portal import lifecycle
from portal.lifecycle import STEPS, Action, Actor, DeniedError, DenyReason, Effect, Role
from portal.quota import Ledger, percent

amounts = st.builds(Amounts, *(st.integers(0, 1000) for _ in QUOTA_RESOURCES))


# -- quota arithmetic ---------------------------------------------------------------------------


def test_amounts_arithmetic_and_mapping() -> None:
    a = Amounts(vcpu=4, ram_gb=8)
    b = Amounts.of({"vcpu": 1, "storage_gb": 100})
    assert (a + b).as_dict() == {
        "vcpu": 5,
        "ram_gb": 8,
        "storage_gb": 100,
        "floating_ips": 0,
        "networks": 0,
    }
    assert a - a == ZERO and (a - a).is_zero()
    assert (-a).positive() == ZERO
    assert total([a, b, a]) == Amounts(9, 16, 100, 0, 0)
    with pytest.raises(KeyError, match="unknown resources"):
        Amounts.of({"gpus": 1})


def test_ledger_check_names_every_shortfall() -> None:
    ledger = Ledger(quota=Amounts(8, 16, 100, 1, 2), used=Amounts(4, 8, 50, 0, 0), pending=ZERO)
    assert ledger.available == Amounts(4, 8, 50, 1, 2)
    assert ledger.fits(Amounts(4, 8, 50, 1, 2))
    short = ledger.shortfalls(Amounts(vcpu=5, storage_gb=51))
    assert [(s.resource, s.requested, s.available) for s in short] == [
        ("vcpu", 5, 4),
        ("storage_gb", 51, 50),
    ]
    assert "storage_gb: requested 51, only 50 left" in short[1].message()


def test_ledger_moves_reservations_through_the_lifecycle() -> None:
    ledger = Ledger(Amounts(10, 10, 10, 10, 10), ZERO, ZERO)
    request = Amounts(vcpu=3, networks=1)
    reserved = ledger.reserve(request)
    assert reserved.pending == request and reserved.available == Amounts(7, 10, 10, 10, 9)
    assert reserved.release(request) == ledger
    granted = reserved.commit(request)
    assert (granted.used, granted.pending) == (request, ZERO)
    assert granted.free(request) == ledger


def test_quota_cuts_stop_at_what_is_committed() -> None:
    ledger = Ledger(Amounts(8, 16, 100, 1, 2), used=Amounts(vcpu=4), pending=Amounts(vcpu=2))
    assert ledger.quota_change_shortfalls(Amounts(vcpu=-2)) == []
    assert [s.resource for s in ledger.quota_change_shortfalls(Amounts(vcpu=-3))] == ["vcpu"]
    assert ledger.quota_change_shortfalls(Amounts(vcpu=+50)) == []  # increases always fit
    assert ledger.change_quota(Amounts(vcpu=-2)).available.vcpu == 0


@given(quota=amounts, used=amounts, pending=amounts, request=amounts)
def test_fits_exactly_when_every_resource_stays_within_quota(
    quota: Amounts, used: Amounts, pending: Amounts, request: Amounts
) -> None:
    ledger = Ledger(quota, used, pending)
    after = ledger.reserve(request)
    within = all(
        getattr(after.used + after.pending, r) <= getattr(quota, r) or getattr(request, r) == 0
        for r in QUOTA_RESOURCES
    )
    assert ledger.fits(request) == within
    assert after.release(request) == ledger


@given(st.lists(amounts, max_size=30), amounts)
def test_accepting_in_any_order_never_exceeds_the_quota(
    requests: list[Amounts], quota: Amounts
) -> None:
    ledger = Ledger(quota, ZERO, ZERO)
    for request in requests:
        if ledger.fits(request):
            ledger = ledger.reserve(request)
    assert (quota - ledger.pending).is_non_negative()


def test_percent_for_quota_bars() -> None:
    assert [percent(0, 10), percent(5, 10), percent(11, 10), percent(0, 0), percent(1, 0)] == [
        0,
        50,
        100,
        0,
        100,
    ]


# -- lifecycle ----------------------------------------------------------------------------------


def actor(role: Role, department: str | None = "alpha", user_id: int = 1) -> Actor:
    return Actor(user_id, f"{role.value}-{department}", role, department)


def decide(
    who: Actor, action: Action, state: RequestState, *, kind: RequestKind = RequestKind.STORAGE
) -> RequestState:
    return lifecycle.decide(
        who, action, department="alpha", state=state, kind=kind, owner_id=99
    ).target


def test_the_happy_path_takes_every_role_in_turn() -> None:
    requester = actor(Role.REQUESTER)
    head = actor(Role.DEPT_APPROVER, user_id=2)
    ops = actor(Role.OPS_APPROVER, None, user_id=3)
    path = [
        (requester, Action.SUBMIT, RequestState.DRAFT),
        (head, Action.APPROVE, RequestState.SUBMITTED),
        (ops, Action.APPROVE, RequestState.DEPT_APPROVED),
        (ops, Action.DEPLOY, RequestState.OPS_APPROVED),
        (requester, Action.ACCEPT, RequestState.DEPLOYED),
        (requester, Action.DECOMMISSION, RequestState.IN_USE),
        (ops, Action.APPROVE, RequestState.DECOMMISSION_REQUESTED),
    ]
    states = [decide(who, action, state) for who, action, state in path]
    assert states == [
        RequestState.SUBMITTED,
        RequestState.DEPT_APPROVED,
        RequestState.OPS_APPROVED,
        RequestState.DEPLOYED,
        RequestState.IN_USE,
        RequestState.DECOMMISSION_REQUESTED,
        RequestState.DECOMMISSIONED,
    ]


@pytest.mark.parametrize(
    ("who", "action", "state", "reason"),
    [
        (actor(Role.REQUESTER), Action.APPROVE, RequestState.SUBMITTED, DenyReason.FORBIDDEN),
        (
            actor(Role.OPS_APPROVER, None),
            Action.APPROVE,
            RequestState.SUBMITTED,
            DenyReason.FORBIDDEN,
        ),
        (
            actor(Role.DEPT_APPROVER),
            Action.APPROVE,
            RequestState.DEPT_APPROVED,
            DenyReason.FORBIDDEN,
        ),
        (
            actor(Role.DEPT_APPROVER, "beta"),
            Action.APPROVE,
            RequestState.SUBMITTED,
            DenyReason.FORBIDDEN,
        ),
        (actor(Role.AUDITOR, None), Action.WITHDRAW, RequestState.SUBMITTED, DenyReason.FORBIDDEN),
        (actor(Role.ADMIN, None), Action.APPROVE, RequestState.REJECTED, DenyReason.WRONG_STATE),
        (actor(Role.REQUESTER), Action.SUBMIT, RequestState.SUBMITTED, DenyReason.WRONG_STATE),
        (actor(Role.REQUESTER), Action.WITHDRAW, RequestState.OPS_APPROVED, DenyReason.WRONG_STATE),
        (actor(Role.DEPT_APPROVER, user_id=99), Action.APPROVE, RequestState.SUBMITTED, "own"),
    ],
)
def test_refusals_say_why(who: Actor, action: Action, state: RequestState, reason: str) -> None:
    with pytest.raises(DeniedError) as refused:
        decide(who, action, state)
    expected = DenyReason.OWN_REQUEST if reason == "own" else reason
    assert refused.value.reason == expected


def test_a_quota_change_is_not_decommissioned() -> None:
    with pytest.raises(DeniedError) as refused:
        decide(
            actor(Role.REQUESTER),
            Action.DECOMMISSION,
            RequestState.IN_USE,
            kind=RequestKind.QUOTA_CHANGE,
        )
    assert refused.value.reason is DenyReason.NOT_FOR_KIND


def test_administrators_take_no_step_of_a_request() -> None:
    """Issue 17: admins manage accounts, they do not request or approve (separation of duties)."""
    for role in (Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR):
        for step in STEPS:
            with pytest.raises(DeniedError) as refused:
                lifecycle.decide(
                    actor(role, None, user_id=7),
                    step.action,
                    department="alpha",
                    state=step.source,
                    kind=RequestKind.COMPUTE,
                    owner_id=1,
                )
            assert refused.value.reason is DenyReason.FORBIDDEN, (role, step)


def approve(approver: Actor, state: RequestState, duties: lifecycle.Duties) -> lifecycle.Step:
    return lifecycle.decide(
        approver,
        Action.APPROVE,
        department="alpha",
        state=state,
        kind=RequestKind.STORAGE,
        owner_id=1,
        duties=duties,
    )


def test_four_eyes_count_whoever_issued_the_token() -> None:
    """Issue 17, finding 2: an admin issued tokens, submitted as one user, approved as others."""
    head = actor(Role.DEPT_APPROVER, user_id=2)
    ops = actor(Role.OPS_APPROVER, None, user_id=3)
    by_admin = lifecycle.Duties(submitted_via="portal:root")
    assert approve(head, RequestState.SUBMITTED, by_admin).target is RequestState.DEPT_APPROVED
    for approver, state in ((head, RequestState.SUBMITTED), (ops, RequestState.DEPT_APPROVED)):
        with_admin_token = dataclasses.replace(approver, via="portal:root")
        with pytest.raises(DeniedError) as refused:
            approve(with_admin_token, state, by_admin)
        assert refused.value.reason is DenyReason.OWN_REQUEST
    # The two levels are two people, whichever way the second one signs in.
    approved_by_head = lifecycle.Duties(dept_approvers=frozenset({head.audit_name}))
    assert approve(ops, RequestState.DEPT_APPROVED, approved_by_head).target is (
        RequestState.OPS_APPROVED
    )
    same = Actor(2, head.name, Role.OPS_APPROVER, None)  # the head's name on an ops account
    with pytest.raises(DeniedError) as refused:
        approve(same, RequestState.DEPT_APPROVED, approved_by_head)
    assert refused.value.reason is DenyReason.SAME_APPROVER
    via_head = lifecycle.Duties(dept_approvers=frozenset({head.audit_name, "portal:root"}))
    with pytest.raises(DeniedError):
        approve(dataclasses.replace(ops, via="portal:root"), RequestState.DEPT_APPROVED, via_head)


def test_a_break_glass_role_approves_within_four_eyes() -> None:
    admin = Actor(7, "root", Role.ADMIN, None, break_glass=True)
    assert approve(admin, RequestState.SUBMITTED, lifecycle.Duties()).target is (
        RequestState.DEPT_APPROVED
    )
    with pytest.raises(DeniedError):
        approve(admin, RequestState.SUBMITTED, lifecycle.Duties(submitted_via="portal:root"))
    with pytest.raises(DeniedError):  # break glass approves and rejects, nothing else
        lifecycle.decide(
            admin,
            Action.DEPLOY,
            department="alpha",
            state=RequestState.OPS_APPROVED,
            kind=RequestKind.STORAGE,
            owner_id=1,
        )


def test_effects_keep_the_ledger_states_consistent() -> None:
    # Every edge's effect matches how its source and target states count in the ledger.
    def bucket(state: RequestState) -> str:
        if state in PENDING_STATES:
            return "pending"
        return "used" if state in GRANTED_STATES else "none"

    expected = {
        ("none", "pending"): Effect.RESERVE,
        ("pending", "none"): Effect.RELEASE,
        ("pending", "used"): Effect.COMMIT,
        ("used", "none"): Effect.FREE,
    }
    for step in STEPS:
        move = (bucket(step.source), bucket(step.target))
        assert step.effect == expected.get(move, Effect.NONE), step


def test_available_actions_are_what_decide_allows() -> None:
    requester = actor(Role.REQUESTER, user_id=5)
    assert lifecycle.available_actions(
        requester,
        department="alpha",
        state=RequestState.SUBMITTED,
        kind=RequestKind.STORAGE,
        owner_id=5,
    ) == [Action.WITHDRAW]
    assert (
        lifecycle.available_actions(
            actor(Role.AUDITOR, None),
            department="alpha",
            state=RequestState.SUBMITTED,
            kind=RequestKind.STORAGE,
            owner_id=5,
        )
        == []
    )


def test_visibility_by_role() -> None:
    assert lifecycle.can_see(actor(Role.REQUESTER), "alpha")
    assert not lifecycle.can_see(actor(Role.REQUESTER), "beta")
    for role in (Role.OPS_APPROVER, Role.AUDITOR, Role.ADMIN):
        assert lifecycle.can_see(actor(role, None), "beta")
    assert not lifecycle.can_create(actor(Role.OPS_APPROVER, None), "alpha")
    assert not lifecycle.can_create(actor(Role.ADMIN, None), "alpha")
    assert lifecycle.can_read_audit(actor(Role.AUDITOR, None))
    # The three administrators are separate: none does another's work.
    for role, may in (
        (Role.ADMIN, {"manage_users", "see_accounts"}),
        (Role.SECURITY_ADMIN, {"manage_security", "see_accounts"}),
        (Role.AUDITOR, {"read_audit"}),
        (Role.OPS_APPROVER, set()),
    ):
        someone = actor(role, None)
        rights = {
            "manage_users": lifecycle.can_manage_users(someone),
            "see_accounts": lifecycle.can_see_accounts(someone),
            "manage_security": lifecycle.can_manage_security(someone),
            "read_audit": lifecycle.can_read_audit(someone),
        }
        assert {name for name, yes in rights.items() if yes} == may, role


def test_requestable_flavors_are_whole_gigabytes() -> None:
    assert TEST_FLAVOR in FLAVORS and TEST_FLAVOR not in REQUESTABLE_FLAVORS
    assert REQUESTABLE_FLAVORS["m1.medium"].ram_gb == 4
    assert FLAVORS[TEST_FLAVOR].ram_gb == 1  # 512 MiB rounds up to a whole GB of quota
    assert all(f.ram_mib % 1024 == 0 for f in REQUESTABLE_FLAVORS.values())
