"""The pages in a real headless Chromium (Debian's, driven by Playwright through its path).

A department's staff member signs in and submits a request, the department head and cloud ops
approve it from their queues, the staff member sees the quota bar move from pending to used,
and switches the language. Screenshots of each step go to test-artifacts/portal/.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import uvicorn
from oidc_kit import Provider as OidcProvider
from playwright.sync_api import Browser, Page, expect, sync_playwright
from portal_kit import PASSWORD, Portal
from test_portal_migration import MOVING, cut_over, plan
from test_portal_oidc import relying_party

from govcloud.registry.tables import PortalUser
from portal import second_factor

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"


@pytest.fixture
def base_url(sqlite_portal: Portal) -> Iterator[str]:
    """The portal served by uvicorn on loopback, in this process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        sqlite_portal.client.app, host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the portal did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make test` (scripts/install-system-deps installs "
            "Debian's chromium)"
        )
    # Chromium refuses to run as root inside its sandbox.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def sign_in(browser: Browser, base_url: str, name: str, portal: Portal) -> Page:
    page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base_url}/")
    expect(page).to_have_url(f"{base_url}/login?next=/")
    page.get_by_label("账号").fill(name)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    if name in portal.totp:  # a privileged account: the second factor
        page.get_by_label("动态口令或恢复码").fill(portal.code(name))
        page.get_by_role("button", name="验证").click()
    expect(page.get_by_test_id("who")).to_contain_text(name)
    return page


def storage_bar(page: Page) -> tuple[str | None, str | None]:
    bar = page.get_by_test_id("quota-storage_gb")
    return bar.get_attribute("data-used"), bar.get_attribute("data-pending")


def test_submit_approve_twice_and_switch_language(
    browser: Browser, base_url: str, sqlite_portal: Portal, shots: Path
) -> None:
    staff = sign_in(browser, base_url, "req-a", sqlite_portal)
    expect(staff.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(staff.get_by_role("heading", name="配额使用情况")).to_be_visible()
    assert storage_bar(staff) == ("0", "0")
    staff.screenshot(path=shots / "1-dashboard-before.png", full_page=True)

    staff.get_by_role("link", name="新建申请").click()
    staff.get_by_test_id("kind-storage").click()
    staff.get_by_label("申请标题").fill("档案扫描存储")
    staff.get_by_label("容量（GB）").fill("30")
    staff.get_by_label("申请理由").fill("纸质档案数字化")
    # Live feedback (plain JavaScript): 100 GB quota, 30 requested, 70 left.
    expect(staff.locator('output[data-resource="storage_gb"]')).to_have_text("70")
    staff.screenshot(path=shots / "2-request-form.png", full_page=True)
    staff.get_by_test_id("submit-request").click()
    expect(staff.get_by_test_id("state")).to_have_text("已提交")
    request_url = staff.url.split("?")[0]
    request_id = request_url.rsplit("/", 1)[1]
    staff.screenshot(path=shots / "3-submitted.png", full_page=True)

    staff.get_by_role("link", name="概览").click()
    assert storage_bar(staff) == ("0", "30")
    staff.screenshot(path=shots / "4-dashboard-pending.png", full_page=True)

    head = sign_in(browser, base_url, "head-a", sqlite_portal)
    head.get_by_role("link", name="待我审批").click()
    expect(head.get_by_test_id(f"queue-{request_id}")).to_be_visible()
    head.screenshot(path=shots / "5-head-queue.png", full_page=True)
    head.get_by_test_id(f"action-approve-{request_id}").click()
    expect(head.get_by_test_id("queue-empty")).to_be_visible()

    ops = sign_in(browser, base_url, "ops", sqlite_portal)
    ops.get_by_role("link", name="待我审批").click()
    ops.screenshot(path=shots / "6-ops-queue.png", full_page=True)
    ops.get_by_test_id(f"action-approve-{request_id}").click()
    ops.goto(request_url)
    expect(ops.get_by_test_id("state")).to_have_text("运维已审批")
    ops.screenshot(path=shots / "7-ops-approved.png", full_page=True)

    staff.reload()
    assert storage_bar(staff) == ("30", "0")
    bar = staff.get_by_role("meter", name="存储（GB）")
    expect(bar).to_have_attribute("aria-valuenow", "30")
    staff.screenshot(path=shots / "8-dashboard-used.png", full_page=True)

    staff.get_by_test_id("lang-en").click()
    expect(staff.locator("html")).to_have_attribute("lang", "en")
    expect(staff.get_by_role("heading", name="Quota", exact=True)).to_be_visible()
    expect(staff.get_by_role("link", name="New request")).to_be_visible()
    assert storage_bar(staff) == ("30", "0")
    staff.screenshot(path=shots / "9-dashboard-english.png", full_page=True)
    staff.get_by_test_id("lang-zh-CN").click()
    expect(staff.locator("html")).to_have_attribute("lang", "zh-CN")


def test_over_quota_is_refused_on_the_form(
    browser: Browser, base_url: str, sqlite_portal: Portal, shots: Path
) -> None:
    staff = sign_in(browser, base_url, "req-a", sqlite_portal)
    staff.goto(f"{base_url}/requests/new?kind=storage")
    staff.get_by_label("容量（GB）").fill("500")
    expect(staff.locator('output[data-resource="storage_gb"]')).to_have_text("-400")
    staff.get_by_test_id("submit-request").click()
    expect(staff.get_by_test_id("form-message")).to_contain_text("超出配额")
    staff.screenshot(path=shots / "10-over-quota.png", full_page=True)


def test_auditor_filters_and_exports(
    browser: Browser, base_url: str, sqlite_portal: Portal, shots: Path
) -> None:
    staff = sign_in(browser, base_url, "req-a", sqlite_portal)
    staff.goto(f"{base_url}/requests/new?kind=floating_ip")
    staff.get_by_test_id("submit-request").click()
    expect(staff.get_by_test_id("state")).to_have_text("已提交")
    auditor = sign_in(browser, base_url, "auditor", sqlite_portal)
    auditor.get_by_role("link", name="审计").click()
    expect(auditor.get_by_test_id("chain")).to_contain_text("✓")
    auditor.get_by_label("类型").first.select_option("floating_ip")
    auditor.get_by_role("button", name="筛选").first.click()
    expect(auditor.locator("tr[data-testid^=request-row-]")).to_have_count(1)
    with auditor.expect_download() as download:
        auditor.get_by_test_id("export-requests").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert exported.splitlines()[0].startswith("id,department,kind,state")
    assert ",floating_ip," in exported
    auditor.screenshot(path=shots / "11-auditor.png", full_page=True)


def test_ops_overview_in_chinese_and_english(
    browser: Browser, base_url: str, sqlite_portal: Portal, shots: Path
) -> None:
    """Cloud ops land on the overview: departments, county totals, the capacity chart with the
    table beside it, and what waits for approval, in zh-CN and then in English."""
    p = sqlite_portal
    waiting = p.submit("req-b", kind="storage", storage_gb=5).json()["id"]
    used = p.submit("req-a", kind="storage", storage_gb=30).json()["id"]
    p.approve_twice(used)
    ops = sign_in(browser, base_url, "ops", sqlite_portal)
    expect(ops).to_have_url(f"{base_url}/ops")
    expect(ops.get_by_role("heading", name="运维总览", exact=True)).to_be_visible()
    expect(ops.get_by_test_id("cloud")).to_contain_text("读取云平台 simulated")
    expect(ops.get_by_test_id("total-storage_gb")).to_contain_text("150")  # 100 + 50
    # The chart's text is text: the browser draws the Chinese labels itself.
    chart = ops.get_by_test_id("capacity-chart")
    expect(chart.locator("svg")).to_be_visible()
    expect(chart.locator("svg text", has_text="可分配")).to_have_count(1)
    expect(chart.locator("svg text", has_text="RegionTwo 灾备站点").first).to_be_visible()
    # (64 - 4) * 4: the simulated host's vCPUs that Placement lets the scheduler place.
    vcpu = ops.get_by_test_id("capacity-RegionOne-VCPU")
    expect(vcpu).to_contain_text("240")
    expect(vcpu).to_contain_text("12")  # alpha's 8 and beta's 4 vCPU handed out
    expect(ops.get_by_role("table", name="容量明细")).to_be_visible()
    expect(ops.get_by_test_id(f"awaiting-{waiting}")).to_contain_text("科室负责人")
    expect(ops.get_by_test_id(f"age-{waiting}")).to_contain_text("分钟")
    expect(ops.get_by_test_id("department-alpha")).to_contain_text("30")
    ops.screenshot(path=shots / "12-ops-overview-zh.png", full_page=True)

    ops.get_by_test_id("lang-en").click()
    expect(ops.locator("html")).to_have_attribute("lang", "en")
    expect(ops.get_by_role("heading", name="Ops overview", exact=True)).to_be_visible()
    expect(chart.locator("svg text", has_text="Allocatable")).to_have_count(1)
    expect(ops.get_by_role("table", name="Capacity in figures")).to_be_visible()
    expect(ops.get_by_test_id(f"awaiting-{waiting}")).to_contain_text("department head")
    expect(ops.get_by_test_id(f"age-{waiting}")).to_contain_text("min")
    ops.screenshot(path=shots / "13-ops-overview-en.png", full_page=True)
    ops.get_by_test_id("lang-zh-CN").click()


@pytest.mark.parametrize(
    ("locale", "labels"),
    [
        ("zh-CN", {"name": "账号", "password": "密码", "login": "登录",
                   "code": "动态口令或恢复码", "verify": "验证", "done": "动态口令已启用",
                   "continue": "继续", "logout": "退出登录"}),
        ("en", {"name": "Account", "password": "Password", "login": "Sign in",
                "code": "Code or recovery code", "verify": "Verify",
                "done": "The second factor is set up", "continue": "Continue",
                "logout": "Sign out"}),
    ],
)  # fmt: skip
def test_sign_in_with_a_second_factor(
    browser: Browser,
    base_url: str,
    sqlite_portal: Portal,
    shots: Path,
    *,
    locale: str,
    labels: dict[str, str],
) -> None:
    """Issue 17: a privileged account sets up TOTP at its first sign-in, then signs in with a
    code, in zh-CN and in English."""
    p = sqlite_portal
    with p.context.sessions() as session:
        user = session.query(PortalUser).filter_by(name="auditor").one()
        second_factor.reset(session, by="test:setup", user=user)
        session.commit()
    page = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base_url}/login")
    expect(page.locator("html")).to_have_attribute("lang", locale)

    def password_step() -> None:
        page.get_by_label(labels["name"], exact=True).fill("auditor")
        page.get_by_label(labels["password"]).fill(PASSWORD)
        page.get_by_role("button", name=labels["login"]).click()
        expect(page).to_have_url(re.compile(r"/login/second-factor"))

    password_step()
    secret = page.get_by_test_id("totp-secret").inner_text()
    page.screenshot(path=shots / f"12-second-factor-setup-{locale}.png", full_page=True)
    page.get_by_label(labels["code"]).fill("000000")
    page.get_by_role("button", name=labels["verify"]).click()
    expect(page.get_by_test_id("factor-error")).to_be_visible()
    page.get_by_label(labels["code"]).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=labels["verify"]).click()
    expect(page.get_by_role("status")).to_contain_text(labels["done"])
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(
        second_factor.RECOVERY_CODES
    )
    recovery = page.get_by_test_id("recovery-codes").locator("li").first.inner_text()
    page.get_by_role("link", name=labels["continue"]).click()
    expect(page.get_by_test_id("who")).to_contain_text("auditor")
    page.get_by_role("button", name=labels["logout"]).click()
    # Signing in again asks for a code: a recovery code does (the TOTP step is used up).
    page.goto(f"{base_url}/login")
    password_step()
    expect(page.get_by_test_id("totp-secret")).to_have_count(0)
    page.get_by_label(labels["code"]).fill(recovery)
    page.get_by_role("button", name=labels["verify"]).click()
    expect(page.get_by_test_id("who")).to_contain_text("auditor")
    page.screenshot(path=shots / f"13-second-factor-signed-in-{locale}.png", full_page=True)


def test_migration_view_in_chinese_and_english(
    browser: Browser, base_url: str, sqlite_portal: Portal, shots: Path
) -> None:
    """Cloud ops follow the migration: the county's 上云率 against the year's target, the curve
    and the waves as charts with their tables, each system's state; then in English. A
    department's staff see their own systems only."""
    plan(sqlite_portal)
    cut_over(sqlite_portal)
    ops = sign_in(browser, base_url, "ops", sqlite_portal)
    ops.get_by_role("link", name="迁移上云").click()
    expect(ops).to_have_url(f"{base_url}/migration")
    expect(ops.get_by_role("heading", name="迁移上云进度", exact=True)).to_be_visible()
    expect(ops.get_by_test_id("rate-summary")).to_contain_text("100.0%")
    expect(ops.get_by_test_id("rate-summary")).to_contain_text("2025 年目标 95%")
    expect(ops.get_by_test_id("target-met")).to_be_visible()
    chart = ops.get_by_test_id("rate-chart")
    expect(chart.locator("svg")).to_be_visible()
    expect(chart.locator("svg text", has_text="上云率 on-cloud rate")).to_have_count(1)
    expect(chart.locator("svg text", has_text="2025: 95%")).to_have_count(1)
    expect(ops.get_by_test_id("history").locator("tbody tr")).to_have_count(2)
    waves = ops.get_by_test_id("waves-chart")
    expect(waves.locator("svg text", has_text="第1波 wave 1")).to_have_count(1)
    expect(ops.get_by_test_id("wave-1")).to_contain_text("1")
    expect(ops.get_by_test_id("rate-beta")).to_contain_text("100.0%")
    expect(ops.get_by_test_id(f"state-{MOVING}")).to_have_text("已切换")
    ops.screenshot(path=shots / "20-migration-zh.png", full_page=True)

    ops.get_by_test_id("lang-en").click()
    expect(ops.get_by_role("heading", name="Migration onto the cloud", exact=True)).to_be_visible()
    expect(ops.get_by_test_id("target-met")).to_have_text("target met")
    expect(ops.get_by_test_id(f"state-{MOVING}")).to_have_text("cut over")
    ops.screenshot(path=shots / "21-migration-en.png", full_page=True)
    ops.get_by_test_id("lang-zh-CN").click()

    staff = sign_in(browser, base_url, "req-a", sqlite_portal)
    staff.get_by_role("link", name="迁移上云").click()
    expect(staff.get_by_test_id("department-rates").locator("tbody tr")).to_have_count(1)
    expect(staff.get_by_test_id("systems-none")).to_be_visible()
    expect(staff.get_by_test_id("waves-chart")).to_have_count(0)


def test_sign_in_with_the_identity_provider_in_zh_cn(
    browser: Browser,
    base_url: str,
    sqlite_portal: Portal,
    oidc_provider: OidcProvider,
    shots: Path,
) -> None:
    sqlite_portal.context.oidc = relying_party(oidc_provider)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base_url}/requests")
    expect(page).to_have_url(f"{base_url}/login?next=/requests")
    page.screenshot(path=shots / "oidc-1-login.png", full_page=True)
    oidc_provider.user = "zhang"  # the provider signs zhang in without asking
    page.get_by_role("link", name="使用统一身份认证登录").click()
    expect(page.get_by_test_id("who")).to_contain_text("zhang")
    expect(page).to_have_url(f"{base_url}/requests")
    page.screenshot(path=shots / "oidc-2-signed-in.png", full_page=True)
    # Cloud ops is privileged: the portal's second factor follows the provider's sign-in.
    ops = browser.new_context(locale="zh-CN").new_page()
    ops.goto(f"{base_url}/login")
    oidc_provider.user = "wang"
    ops.get_by_role("link", name="使用统一身份认证登录").click()
    expect(ops).to_have_url(re.compile(r"/login/second-factor"))
    expect(ops.get_by_label("动态口令或恢复码")).to_be_visible()
    # Taken out of the mapped group at the provider: refused in Chinese, nothing echoed.
    oidc_provider.user, oidc_provider.people["zhang"].groups = "zhang", ["canteen"]
    again = browser.new_context(locale="zh-CN").new_page()
    again.goto(f"{base_url}/login")
    again.get_by_role("link", name="使用统一身份认证登录").click()
    expect(again.get_by_test_id("login-error")).to_contain_text("没有角色")
    again.screenshot(path=shots / "oidc-3-no-role.png", full_page=True)
