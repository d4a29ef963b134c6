"""The pages without a browser: sign-in, sessions, CSRF, rate limits, and each page's content."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

from fastapi.testclient import TestClient
from portal_kit import PASSWORD, Portal
from sqlalchemy import update

from dr import store as dr_store
from govcloud.registry import audit_log
from govcloud.registry.dr_state import DrillKind, DrillOutcome
from govcloud.registry.tables import PortalSession
from portal import i18n
from portal.context import LiveCloud


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(portal: Portal, name: str, password: str = PASSWORD) -> TestClient:
    client = TestClient(portal.client.app)
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    if answer.headers["location"].startswith("/login/second-factor"):
        form = client.get(answer.headers["location"])
        factor = client.post(
            "/login/second-factor",
            data={"code": portal.code(name), "csrf_token": csrf_of(form.text), "next": "/"},
            follow_redirects=False,
        )
        assert factor.status_code == 303, factor.text
    return client


def test_pages_need_a_session(sqlite_portal: Portal) -> None:
    client = TestClient(sqlite_portal.client.app)
    for path in ("/", "/requests", "/requests/new", "/queue", "/audit", "/account", "/requests/1"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    # A bearer token is for scripts; pages want a session.
    assert (
        client.get("/", headers=sqlite_portal.auth("admin"), follow_redirects=False).status_code
        == 303
    )


def test_sign_in_and_out(sqlite_portal: Portal) -> None:
    client = TestClient(sqlite_portal.client.app)
    form = client.get("/login?next=/queue")
    assert form.status_code == 200 and 'lang="zh-CN"' in form.text and "登录" in form.text
    token = csrf_of(form.text)
    wrong = client.post("/login", data={"name": "head-a", "password": "nope", "csrf_token": token})
    assert wrong.status_code == 401 and "账号或密码错误" in wrong.text
    forged = client.post("/login", data={"name": "head-a", "password": PASSWORD, "csrf_token": "x"})
    assert forged.status_code == 403
    signed = client.post(
        "/login",
        data={"name": "head-a", "password": PASSWORD, "csrf_token": token, "next": "/queue"},
        follow_redirects=False,
    )
    assert (signed.status_code, signed.headers["location"]) == (303, "/queue")
    cookie = signed.headers["set-cookie"]
    assert "govcloud_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = client.get("/")
    assert home.status_code == 200 and "head-a" in home.text
    # Signing out needs the form's CSRF token, then the session is gone.
    assert (
        client.post("/logout", data={"csrf_token": "wrong"}, follow_redirects=False).status_code
        == 303
    )
    assert client.get("/", follow_redirects=False).status_code == 200
    client.post("/logout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_open_redirects_are_refused(sqlite_portal: Portal) -> None:
    client = TestClient(sqlite_portal.client.app)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        token = csrf_of(client.get("/login").text)
        answer = client.post(
            "/login",
            data={"name": "req-a", "password": PASSWORD, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/"
    assert (
        client.get("/lang/en?next=//evil.example", follow_redirects=False).headers["location"]
        == "/"
    )


def test_sign_in_is_rate_limited(sqlite_portal: Portal) -> None:
    client = TestClient(sqlite_portal.client.app)
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        bad = client.post("/login", data={"name": "ops", "password": "guess", "csrf_token": token})
        assert bad.status_code == 401
    limited = client.post("/login", data={"name": "ops", "password": PASSWORD, "csrf_token": token})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    # Other accounts from the same address still get in (the per-address limit is higher).
    assert sign_in(sqlite_portal, "auditor").get("/").status_code == 200
    audit = sqlite_portal.get("auditor", "/audit", action="portal.login.failed")
    assert len(audit.json()) == 5


def test_sessions_expire_when_idle(sqlite_portal: Portal) -> None:
    client = sign_in(sqlite_portal, "req-a")
    assert client.get("/", follow_redirects=False).status_code == 200
    with sqlite_portal.context.sessions() as session:
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        session.execute(update(PortalSession).values(last_seen_at=long_ago))
        session.commit()
    assert client.get("/", follow_redirects=False).status_code == 303


def test_language_switch(sqlite_portal: Portal) -> None:
    client = sign_in(sqlite_portal, "req-a")
    chinese = client.get("/")
    assert 'lang="zh-CN"' in chinese.text and "配额使用情况" in chinese.text
    switched = client.get("/lang/en?next=/requests", follow_redirects=False)
    assert switched.headers["location"] == "/requests"
    english = client.get("/")
    assert (
        'lang="en"' in english.text
        and "Quota" in english.text
        and "配额使用情况" not in english.text
    )
    client.get("/lang/zh-CN")
    assert "配额使用情况" in client.get("/").text
    browser = TestClient(sqlite_portal.client.app)
    assert 'lang="en"' in browser.get("/login", headers={"Accept-Language": "en-GB,en"}).text


def test_every_message_exists_in_every_language() -> None:
    keys = {language: set(i18n.messages(language)) for language in i18n.LANGUAGES}
    assert keys["zh-CN"] == keys["en"]


def test_dashboard_shows_quota_bars_and_counts(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    p.submit("req-a", kind="storage", storage_gb=30)
    html = sign_in(p, "req-a").get("/").text
    bar = re.search(
        r'data-testid="quota-storage_gb"[^>]*'
        r'data-quota="(\d+)" data-used="(\d+)" data-pending="(\d+)"',
        html,
    )
    assert bar and bar.groups() == ("100", "0", "30")
    assert 'role="meter"' in html and 'aria-valuenow="30"' in html
    assert re.search(r'data-testid="count-submitted">.*?<td>1</td>', html, re.S)
    # Department roles see their own department only; county roles choose.
    assert '<select id="department"' not in html
    assert '<select id="department"' in sign_in(p, "ops").get("/?department=beta").text


def test_request_form_checks_saves_and_submits(sqlite_portal: Portal) -> None:
    client = sign_in(sqlite_portal, "req-a")
    form = client.get("/requests/new?kind=storage")
    assert form.status_code == 200 and 'name="storage_gb"' in form.text and "<label" in form.text
    token = csrf_of(form.text)
    base = {"csrf_token": token, "kind": "storage", "department": "alpha"}
    check = client.post("/requests/new", data={**base, "storage_gb": "120", "intent": "check"})
    assert check.status_code == 200 and 'data-testid="feedback"' in check.text
    over = client.post("/requests/new", data={**base, "storage_gb": "120", "intent": "submit"})
    assert over.status_code == 409 and "超出配额" in over.text
    bad = client.post("/requests/new", data={**base, "storage_gb": "many", "intent": "submit"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    forged = client.post("/requests/new", data={**base, "csrf_token": "x", "storage_gb": "1"})
    assert forged.status_code == 403
    made = client.post(
        "/requests/new",
        data={**base, "storage_gb": "20", "intent": "submit"},
        follow_redirects=False,
    )
    assert made.status_code == 303 and made.headers["location"].endswith("?done=created")
    detail = client.get(made.headers["location"])
    assert 'data-testid="state">已提交' in detail.text
    draft = client.post(
        "/requests/new", data={**base, "storage_gb": "5", "intent": "draft"}, follow_redirects=False
    )
    assert "草稿" in client.get(draft.headers["location"]).text
    # Someone from another department cannot request for this one (403, as in the API), and
    # nothing is filed under their own department instead.
    other = sign_in(sqlite_portal, "req-b")
    token_b = csrf_of(other.get("/requests/new").text)
    answer = other.post(
        "/requests/new",
        data={**base, "csrf_token": token_b, "storage_gb": "1"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert sqlite_portal.get("auditor", "/requests", department="beta").json() == []
    # Auditors and ops do not request resources.
    assert sign_in(sqlite_portal, "auditor").get("/requests/new").status_code == 403


def test_actions_on_the_detail_page_and_the_queue(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    rid = p.submit("req-a", kind="storage", storage_gb=10).json()["id"]
    head = sign_in(p, "head-a")
    queue = head.get("/queue")
    assert f'data-testid="queue-{rid}"' in queue.text
    token = csrf_of(queue.text)
    assert head.post(f"/requests/{rid}/approve", data={"csrf_token": "x"}).status_code == 403
    approved = head.post(
        f"/requests/{rid}/approve",
        data={"csrf_token": token, "next": "/queue"},
        follow_redirects=False,
    )
    assert approved.headers["location"] == "/queue"
    assert f'data-testid="queue-{rid}"' not in head.get("/queue").text
    again = head.post(f"/requests/{rid}/approve", data={"csrf_token": token})
    assert again.status_code == 403 and 'data-testid="action-error"' in again.text
    ops = sign_in(p, "ops")
    detail = ops.get(f"/requests/{rid}")
    assert f'data-testid="action-approve-{rid}"' in detail.text
    no_reason = ops.post(f"/requests/{rid}/reject", data={"csrf_token": csrf_of(detail.text)})
    assert no_reason.status_code == 422
    done = ops.post(f"/requests/{rid}/approve", data={"csrf_token": csrf_of(detail.text)})
    assert done.status_code == 200 and "运维已审批" in done.text
    assert sign_in(p, "req-b").get(f"/requests/{rid}").status_code == 403
    assert ops.get("/requests/99999").status_code == 404


def test_audit_page_is_for_auditors(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    p.submit("req-a", kind="storage", storage_gb=10)
    auditor = sign_in(p, "auditor")
    page = auditor.get("/audit?state=submitted&action=request.")
    assert page.status_code == 200 and 'data-testid="chain">' in page.text and "✓" in page.text
    assert "/api/v1/export/requests.csv?state=submitted" in page.text
    assert "/api/v1/export/audit.csv?action=request." in page.text
    exported = auditor.get("/api/v1/export/requests.csv?state=submitted")
    assert exported.status_code == 200 and "storage" in exported.text
    assert sign_in(p, "ops").get("/audit").status_code == 403
    assert sign_in(p, "req-a").get("/audit").status_code == 403


def test_audit_runs_list_and_open_their_reports(sqlite_portal: Portal, tmp_path: Path) -> None:
    p = sqlite_portal
    html = "<!DOCTYPE html><html><body>等保2.0 第三级审计报告</body></html>"
    written = tmp_path / "report"
    written.mkdir()
    (written / "report.html").write_text(html, encoding="utf-8")
    digest = hashlib.new("sm3", html.encode("utf-8")).hexdigest()
    with p.context.sessions() as session:
        check = audit_log.record(
            session,
            actor="cli:auditor",
            action="audit.check",
            object="county/519901",
            after={
                "totals": {"不符合": 1},
                "failed": ["no-drift"],
                "exit": 1,
                "report_sm3": "a" * 64,
            },
        )
        report = audit_log.record(
            session,
            actor="cli:auditor",
            action="audit.report",
            object="county/519901",
            after={"directory": str(written), "files_sm3": {"report.html": digest}},
        )
        session.commit()
        check_seq, report_seq = check.seq, report.seq
    auditor = sign_in(p, "auditor")
    page = auditor.get("/audit")
    assert 'data-testid="audit-runs"' in page.text and "等保检查" in page.text
    assert f'href="/audit/reports/{report_seq}"' in page.text
    opened = auditor.get(f"/audit/reports/{report_seq}")
    assert opened.status_code == 200 and "第三级审计报告" in opened.text
    assert auditor.get(f"/audit/reports/{check_seq}").status_code == 404  # a run, not a report
    assert auditor.get("/audit/reports/99999").status_code == 404
    for who in ("ops", "req-a", "admin"):
        assert sign_in(p, who).get(f"/audit/reports/{report_seq}").status_code == 403, who
    # A report changed after it was written is refused, never shown.
    (written / "report.html").write_text(html + "<!-- 改过 -->", encoding="utf-8")
    assert auditor.get(f"/audit/reports/{report_seq}").status_code == 409


def test_dr_drills_list_with_their_verdicts_and_open_their_reports(
    sqlite_portal: Portal, tmp_path: Path
) -> None:
    p = sqlite_portal
    html = "<!DOCTYPE html><html><body>灾备演练报告 / DR drill report</body></html>"
    written = tmp_path / "drill"
    written.mkdir()
    (written / "report.html").write_text(html, encoding="utf-8")
    digest = hashlib.new("sm3", html.encode("utf-8")).hexdigest()
    drill = dr_store.begin(
        p.context.sessions,
        kind=DrillKind.FAILOVER,
        scope="tier core",
        actor="cli:ops",
        gate={"ok": True},
        systems=["gaj/jingwu"],
    )
    met = dr_store.SystemResult(
        system="gaj/jingwu",
        tier="core",
        replication="streaming-sync",
        standby="hot",
        target_rpo_s=0,
        target_rto_s=30,
        rpo_s=0,
        rto_s=18.8,
        lost_writes=0,
        level_claimed=6,
        level_met=6,
        met=True,
        state="dr_site",
        detail={},
    )
    dr_store.finish(
        p.context.sessions, drill, results=[met], outcome=DrillOutcome.MET, actor="cli:ops"
    )
    dr_store.set_report(
        p.context.sessions,
        drill,
        path=written,
        digests={"report.html": digest},
        actor="cli:ops",
    )
    auditor = sign_in(p, "auditor")
    page = auditor.get("/audit")
    assert 'data-testid="audit-drills"' in page.text
    row = re.search(rf'<tr data-testid="drill-{drill}">(.*?)</tr>', page.text, re.S)
    assert row, page.text
    assert "故障切换" in row[1] and "全部达标" in row[1] and "tier core" in row[1]
    assert "gaj/jingwu ✓ (RTO 18.8 s, RPO 0.0 s)" in row[1]
    link = re.search(rf'href="/audit/reports/(\d+)" data-testid="drill-report-{drill}"', row[1])
    assert link
    opened = auditor.get(f"/audit/reports/{link[1]}")
    assert opened.status_code == 200 and "灾备演练报告" in opened.text
    assert sign_in(p, "ops").get(f"/audit/reports/{link[1]}").status_code == 403
    # A drill report changed after it was written is refused, as the audit's own are.
    (written / "report.html").write_text(html + "<!-- 改过 -->", encoding="utf-8")
    assert auditor.get(f"/audit/reports/{link[1]}").status_code == 409
    # Every kind and outcome a drill can have reads in both languages.
    for locale in ("zh-CN", "en"):
        keys = i18n.messages(locale)
        for value in [*DrillKind, *DrillOutcome, "running"]:
            group = "kind" if value in DrillKind.__members__.values() else "outcome"
            assert f"audit.drill_{group}.{value}" in keys, (locale, value)


def test_account_page_issues_a_token(sqlite_portal: Portal) -> None:
    client = sign_in(sqlite_portal, "head-b")
    page = client.get("/account")
    issued = client.post("/account/token", data={"csrf_token": csrf_of(page.text)})
    token = re.search(r'data-testid="token">([^<]+)<', issued.text)
    assert token
    headers = {"Authorization": f"Bearer {token.group(1)}"}
    assert client.get("/api/v1/me", headers=headers).json()["name"] == "head-b"
    assert client.post("/account/token", data={"csrf_token": "x"}).status_code == 403


def test_requests_page_filters(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    a = p.submit("req-a", kind="storage", storage_gb=1).json()["id"]
    b = p.submit("req-b", kind="floating_ip", floating_ips=1)
    assert b.status_code == 409  # beta has no floating IPs
    c = p.submit("req-b", kind="storage", storage_gb=1).json()["id"]
    ops = sign_in(p, "ops")
    both = ops.get("/requests").text
    assert f"request-row-{a}" in both and f"request-row-{c}" in both
    only_beta = ops.get("/requests?department=beta&state=submitted&kind=storage").text
    assert f"request-row-{a}" not in only_beta and f"request-row-{c}" in only_beta
    assert f"request-row-{c}" not in sign_in(p, "req-a").get("/requests").text
    assert sign_in(p, "req-a").get("/requests?department=beta").status_code == 403


def test_ops_start_on_the_overview(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    waiting = p.submit("req-b", kind="storage", storage_gb=5).json()["id"]
    ops = sign_in(p, "ops")
    home = ops.get("/", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/ops")
    page = ops.get("/ops")
    assert page.status_code == 200 and "<h1>运维总览</h1>" in page.text
    assert "读取云平台 simulated" in page.text and 'href="/ops">运维总览</a>' in page.text
    assert f'data-testid="awaiting-{waiting}"' in page.text and "科室负责人" in page.text
    assert (
        'data-testid="department-alpha"' in page.text
        and 'data-testid="department-beta"' in page.text
    )
    # The chart is SVG with its text as text (the browser draws the Chinese), a table beside it.
    chart = re.search(r'data-testid="capacity-chart".*?(<svg.*?</svg>)', page.text, re.S)
    assert chart and "<text" in chart.group(1) and "可分配容量" in chart.group(1)
    assert 'data-testid="capacity-table"' in page.text
    # A department chosen from the overview still shows its dashboard.
    assert "配额使用情况" in ops.get("/?department=beta").text
    ops.cookies.set(i18n.LANGUAGE_COOKIE, "en")
    english = ops.get("/ops")
    assert "<h1>Ops overview</h1>" in english.text and "Allocatable" in english.text
    ops.cookies.set(i18n.LANGUAGE_COOKIE, "zh-CN")
    for who in ("auditor", "admin"):
        client = sign_in(p, who)
        assert client.get("/ops").status_code == 200
        assert client.get("/", follow_redirects=False).status_code == 200  # their own start page
    assert sign_in(p, "req-a").get("/ops").status_code == 403
    p.context.cloud = None
    assert "未连接云平台" in ops.get("/ops").text


def test_the_detail_page_says_why_deploy_is_refused(sqlite_portal: Portal) -> None:
    p = sqlite_portal
    rid = p.submit("req-a", kind="compute", flavor="m1.small", count=1).json()["id"]
    p.post("head-a", f"/requests/{rid}/approve")
    granted = p.context.cloud
    p.context.cloud = None
    p.post("ops", f"/requests/{rid}/approve")
    ops = sign_in(p, "ops")
    token = csrf_of(ops.get(f"/requests/{rid}").text)
    none = ops.post(f"/requests/{rid}/deploy", data={"csrf_token": token})
    assert none.status_code == 409 and "门户未连接云平台" in none.text

    # A cloud that holds nothing of the request: the page names the missing server.
    assert granted is not None
    empty = granted.snapshot().model_copy(update={"servers": ()})
    p.context.cloud = LiveCloud("empty", snapshot=lambda: empty, capacity=granted.capacity, ttl=0)
    refused = ops.post(f"/requests/{rid}/deploy", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "云平台 empty 上还没有本申请批准的以下资源" in refused.text
    assert f"缺少云服务器 alpha-req{rid}-1（应为 m1.small）" in refused.text
    assert "确认部署被拒绝" in refused.text  # the refused attempt, in the request's history
    ops.cookies.set(i18n.LANGUAGE_COOKIE, "en")
    english = ops.post(f"/requests/{rid}/deploy", data={"csrf_token": token})
    ops.cookies.set(i18n.LANGUAGE_COOKIE, "zh-CN")
    assert f"missing server alpha-req{rid}-1 (m1.small)" in english.text

    p.context.cloud = granted
    done = ops.post(f"/requests/{rid}/deploy", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert 'data-testid="state">已部署' in ops.get(f"/requests/{rid}").text


def test_an_unknown_department_is_refused_not_filed_elsewhere(sqlite_portal: Portal) -> None:
    """Issue 17, finding 8: department=zzz was filed under the first department."""
    for who in ("req-a", "admin"):
        client = sign_in(sqlite_portal, who)
        token = csrf_of(client.get("/requests/new").text)
        answer = client.post(
            "/requests/new",
            data={"csrf_token": token, "kind": "storage", "department": "zzz", "storage_gb": "1"},
            follow_redirects=False,
        )
        assert answer.status_code == 422 and 'data-testid="department-error"' in answer.text
        assert "本县没有这个部门" in answer.text
    assert sqlite_portal.get("auditor", "/requests").json() == []


def test_the_accounts_page(sqlite_portal: Portal) -> None:
    """Issue 17: the account lifecycle on the administrators' pages, zh-CN first."""
    p = sqlite_portal
    victim = sign_in(p, "req-b")
    admin = sign_in(p, "admin")
    page = admin.get("/admin/accounts")
    assert page.status_code == 200 and "账号管理" in page.text and "系统管理员" in page.text
    assert 'data-testid="account-req-b"' in page.text
    token = csrf_of(page.text)
    no_reason = admin.post("/admin/accounts/req-b/deactivate", data={"csrf_token": token})
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    forged = admin.post(
        "/admin/accounts/req-b/deactivate", data={"csrf_token": "x", "reason": "left"}
    )
    assert forged.status_code == 403
    done = admin.post(
        "/admin/accounts/req-b/deactivate",
        data={"csrf_token": token, "reason": "left"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "账号已停用" in admin.get(done.headers["location"]).text
    assert victim.get("/", follow_redirects=False).status_code == 303  # signed out
    assert p.get("req-b", "/me").status_code == 401  # and its token revoked
    back = admin.post(
        "/admin/accounts/req-b/reactivate",
        data={"csrf_token": token, "reason": "back"},
        follow_redirects=False,
    )
    assert back.status_code == 303
    # The security administrator starts here, ends sessions, and may not deactivate.
    security = sign_in(p, "security")
    assert security.get("/", follow_redirects=False).headers["location"] == "/admin/accounts"
    other = sign_in(p, "head-a")
    sec_token = csrf_of(security.get("/admin/accounts").text)
    refused = security.post(
        "/admin/accounts/head-a/deactivate", data={"csrf_token": sec_token, "reason": "x"}
    )
    assert refused.status_code == 403
    ended = security.post(
        "/admin/accounts/head-a/end-sessions",
        data={"csrf_token": sec_token},
        follow_redirects=False,
    )
    assert ended.status_code == 303
    assert other.get("/", follow_redirects=False).status_code == 303
    assert security.get("/requests").status_code == 403
    english = security.get("/admin/accounts", headers={"Accept-Language": "en"})
    assert "security administrator" in english.text or "安全管理员" in english.text
    for who in ("req-a", "ops", "auditor"):
        assert sign_in(p, who).get("/admin/accounts").status_code == 403


def test_change_ones_password_on_the_account_page(sqlite_portal: Portal) -> None:
    client = sign_in(sqlite_portal, "req-a")
    page = client.get("/account")
    assert page.status_code == 200 and "修改密码" in page.text
    token = csrf_of(page.text)
    wrong = client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": "nope", "new_password": "New-pass-2026!"},
    )
    assert wrong.status_code == 403 and "当前密码不正确" in wrong.text
    weak = client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": PASSWORD, "new_password": "aaaaaaaaaaaa"},
    )
    assert weak.status_code == 422 and 'data-testid="password-error"' in weak.text
    done = client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": PASSWORD, "new_password": "New-pass-2026!"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/login")
    assert client.get("/account", follow_redirects=False).status_code == 303  # signed out
    assert sign_in(sqlite_portal, "req-a", "New-pass-2026!").get("/").status_code == 200
