"""The intake wizard (/) and the rulebook (/regels) in a real browser (Debian's Chromium through Playwright)
against a real server: intakes to a decision through the pages' own controls, the language toggle, the scenario
export run by `rolwijzer test`, a keyboard-only answer, a phone-wide screen, and the rulebook's anchors and diff."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser_support import CHROMIUM, WebServer, launch_chromium, web_server
from google.rpc import error_details_pb2
from support import REPO

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent: the browser tests need Debian's chromium", allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

WAIT_MS = 15_000  # the longest any one step may take

# (a) A partner giving daily care: 20 hours a week for two years, washing, dressing and the household.
PARTNER_DAILY: dict[str, Any] = {
    "relation_to_beneficiary": "partner",
    "regularity": "structural",
    "hours_per_week": "20",
    "duration_months": "24",
    "initiative": "client_or_family",
    "tasks": ["personal_care", "household"],
}
# (b) A neighbour helping structurally; how many hours and for how long nobody knows.
NEIGHBOUR_UNKNOWN: dict[str, Any] = {
    "relation_to_beneficiary": "neighbour",
    "regularity": "structural",
    "hours_per_week": "unknown",
    "duration_months": "unknown",
}
# (c) A child helping 4 hours a week for six weeks (a decimal comma), later found to help 20 hours a week.
CHILD_FEW_HOURS: dict[str, Any] = {
    "relation_to_beneficiary": "child",
    "regularity": "structural",
    "hours_per_week": "4",
    "duration_months": "1,5",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    yield from web_server(tmp_path_factory.mktemp("web-server"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, server: WebServer) -> Iterator[BrowserContext]:
    opened = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    opened.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    opened.set_default_timeout(WAIT_MS)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    assert not problems, f"script errors on the page: {problems}"


def ready(page: Page) -> None:
    """Wait until the page has no call in flight."""
    page.wait_for_selector("body[data-state=ready]", timeout=WAIT_MS)


def open_intake(page: Page) -> None:
    page.goto("/")
    ready(page)
    expect(page.locator("#question-form")).to_be_visible()


def asked(page: Page) -> str | None:
    """The fact the wizard asks now, or None when it asks nothing."""
    form = page.locator("#question-form")
    return form.get_attribute("data-fact") if form.count() else None


def give(page: Page, answer: Any) -> None:
    """Answer the question on screen as a user would: a radio button, ticks, a typed number or 'weet niet'."""
    form = page.locator("#question-form")
    if page.locator("#number-input").count():
        if answer == "unknown":
            form.locator("#dont-know").click()
        else:
            page.fill("#number-input", str(answer))
            form.locator("#next").click()
    elif isinstance(answer, list):
        for box in form.locator("input[type=checkbox]").all():
            box.set_checked(box.get_attribute("value") in answer)
        form.locator("#next").click()
    else:
        form.locator(f"input[type=radio][value='{answer}']").check()
        form.locator("#next").click()
    ready(page)


def walk(page: Page, plan: Mapping[str, Any]) -> list[str]:
    """Answer every question the wizard asks from `plan` until it asks one the plan does not hold: a follow-up
    question is then ended with "Klaar"; a missing fact fails the test. Returns the facts asked, in order."""
    order: list[str] = []
    for _ in range(40):
        fact = asked(page)
        if fact is None:
            return order
        if fact in plan and fact not in order:
            order.append(fact)
            give(page, plan[fact])
            continue
        stop = page.locator("#stop")
        assert stop.count(), f"the wizard asks {fact!r}, which decides the role, and the plan has no answer for it"
        stop.click()
        ready(page)
        return order
    pytest.fail("the wizard kept asking")


def as_request(catalogue: Mapping[str, Any], plan: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of a plan as the API takes them (proto3 JSON FactValues), for comparing the page with the API."""
    facts: dict[str, Any] = {}
    for name, value in plan.items():
        kind = catalogue[name]["kind"]
        if value == "unknown":
            facts[name] = {"unknown": {}}
        elif kind == "FACT_KIND_SET":
            facts[name] = {"symbols": {"values": list(value)}}
        elif kind == "FACT_KIND_NUMBER":
            facts[name] = {"number": float(str(value).replace(",", "."))}
        elif kind == "FACT_KIND_BOOLEAN":
            facts[name] = {"boolean": value == "true"}
        else:
            facts[name] = {"symbol": value}
    return facts


def catalogue_of(server: WebServer, language: str = "nl") -> dict[str, Any]:
    described = server.api("DescribeRuleSet", {"language": language})
    return {fact["name"]: fact for fact in described["facts"]}


def role_shown(page: Page) -> str:
    return page.locator("#role-code").inner_text().strip()


def no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths[0]} px of content in {widths[1]} px"


def test_partner_daily_care_is_mantelzorger_with_sources_rules_and_defaults(
    page: Page, server: WebServer, tmp_path: Path
) -> None:
    """(a) Walk to a decision; the page shows what the API decides for the same facts, and its links work."""
    open_intake(page)
    order = walk(page, PARTNER_DAILY)
    assert order[0] == "relation_to_beneficiary"
    catalogue = catalogue_of(server)
    answered = {name: PARTNER_DAILY[name] for name in order}
    expected = server.api("Evaluate", {"facts": as_request(catalogue, answered), "view": "DECISION_VIEW_FULL"})
    decision = expected["decision"]
    assert decision["role"] == "MANTELZORGER"
    assert role_shown(page) == "MANTELZORGER"
    expect(page.locator("#role-text")).to_have_text(decision["roleText"])
    for kind in ("liabilities", "obligations", "flags"):
        shown = page.locator(f"section[aria-labelledby={kind}-heading] li.finding").evaluate_all(
            "items => items.map(i => i.dataset.code)"
        )
        assert shown == [finding["code"] for finding in decision.get(kind, [])]
    first = decision["obligations"][0]
    citation = page.locator(f"li.finding[data-code='{first['code']}'] ul.citations li").first
    expect(citation).to_contain_text(first["citations"][0]["title"])
    expect(citation).to_contain_text(first["citations"][0]["reference"])
    # The facts assumed by default, each with its question.
    defaulted = page.locator("#defaulted li").evaluate_all("items => items.map(i => i.dataset.fact)")
    assert defaulted == decision["defaultedFacts"] and defaulted
    expect(page.locator(f"#defaulted li[data-fact='{defaulted[0]}']")).to_contain_text(
        catalogue[defaulted[0]]["question"]
    )
    # The release and reference date.
    rule_set = decision["ruleSet"]
    expect(page.locator("#release")).to_contain_text(f"{rule_set['id']} {rule_set['version']}")
    day = rule_set["referenceDate"]
    expect(page.locator("#release time")).to_have_text(f"{day['year']:04d}-{day['month']:02d}-{day['day']:02d}")
    # Every rule applied links to its anchor in the rulebook.
    links = page.locator("#fired-rules a.rule-link")
    fired = [rule["ruleId"] for rule in decision["firedRules"]]
    assert links.evaluate_all("links => links.map(a => a.textContent)") == fired
    assert all(
        href.endswith(f"/regels#{rule}")
        for href, rule in zip(links.evaluate_all("links => links.map(a => a.href)"), fired, strict=True)
    )
    desktop = tmp_path / "wizard-decision-desktop.png"
    page.screenshot(path=str(desktop), full_page=True)
    print(f"screenshot: {desktop}")
    # A phone: 360 px wide, nothing scrolls sideways.
    page.set_viewport_size({"width": 360, "height": 780})
    no_horizontal_scroll(page)
    phone = tmp_path / "wizard-decision-phone.png"
    page.screenshot(path=str(phone), full_page=True)
    print(f"screenshot: {phone}")
    page.set_viewport_size({"width": 1280, "height": 900})
    # The link of the deciding rule opens the rulebook scrolled to that rule, highlighted.
    deciding = next(rule["ruleId"] for rule in decision["firedRules"] if rule["stage"] == "B")
    page.locator(f"#fired-rules a.rule-link:text-is('{deciding}')").click()
    page.wait_for_url(f"**/regels#{deciding}")
    ready(page)
    target = page.locator(f"[id='{deciding}']")
    expect(target).to_have_class("rule highlighted")
    expect(target).to_be_in_viewport()
    assert page.evaluate("document.activeElement.id") == deciding
    rulebook = tmp_path / "rulebook-rule.png"
    page.screenshot(path=str(rulebook))
    print(f"screenshot: {rulebook}")


# (d) A daughter who gives her father insulin injections, 10 hours a week: a reserved procedure (Wet BIG art. 36).
DAUGHTER_INJECTIONS: dict[str, Any] = {
    "relation_to_beneficiary": "child",
    "regularity": "structural",
    "hours_per_week": "10",
    "tasks": ["reserved_act"],
}
RESERVED_ACT_SUPERVISION = {"TOEZICHT_VBH_INFORMEEL", "BEKWAAMHEID_CHECK", "RISICOGESPREK"}


def test_an_intake_of_a_daughter_giving_injections_reaches_the_wet_big_supervision(
    page: Page, server: WebServer
) -> None:
    """(d) Role and liability settle first; the wizard then asks the tasks as a safety question, and the reserved
    procedure chosen there brings the supervision of reserved acts, the competence check and the risk
    conversation. Stopped at the next question, every obligation or flag that an open question can still change
    says so, as the API's follow-up facts have it, and no other does."""
    open_intake(page)
    for name in ("relation_to_beneficiary", "regularity", "hours_per_week"):
        assert asked(page) == name
        give(page, DAUGHTER_INJECTIONS[name])
    assert asked(page) == "tasks", "the first follow-up question is not the tasks"
    expect(page.locator("#follow-up-intro")).to_be_visible()
    expect(page.locator("#question-form .badge.safety")).to_be_visible()
    give(page, DAUGHTER_INJECTIONS["tasks"])
    assert asked(page) not in (None, "tasks"), "no follow-up question is left after the tasks"
    page.locator("#stop").click()
    ready(page)
    assert asked(page) is None

    catalogue = catalogue_of(server)
    decision = server.api(
        "Evaluate", {"facts": as_request(catalogue, DAUGHTER_INJECTIONS), "view": "DECISION_VIEW_FULL"}
    )["decision"]
    assert decision["role"] == "MANTELZORGER" and role_shown(page) == "MANTELZORGER"
    shown = page.locator("section[aria-labelledby=obligations-heading] li.finding").evaluate_all(
        "items => items.map(i => i.dataset.code)"
    )
    assert shown == [finding["code"] for finding in decision["obligations"]]
    assert set(shown) >= RESERVED_ACT_SUPERVISION
    # What the API says the open questions can still change, and what the page marks so.
    open_on: dict[str, list[str]] = {}
    for follow_up in decision.get("followUpFacts", []):
        for code in follow_up.get("codes", []):
            open_on.setdefault(code, []).append(follow_up["fact"])
    assert open_on, "the API lists no follow-up fact that can still change an obligation or flag"
    marked = dict(
        page.locator("li.finding:has(.open-on)").evaluate_all(
            "items => items.map(i => [i.dataset.code, i.querySelector('.open-on').dataset.openOn.split(' ')])"
        )
    )
    findings = {f["code"] for kind in ("liabilities", "obligations", "flags") for f in decision.get(kind, [])}
    assert marked == {code: facts for code, facts in open_on.items() if code in findings}
    first_code, first_facts = next(iter(marked.items()))
    expect(page.locator(f"li.finding[data-code='{first_code}'] .open-on")).to_contain_text(
        catalogue[first_facts[0]]["question"]
    )


def test_dont_know_leaves_the_role_open_and_says_what_is_unknown(page: Page, server: WebServer) -> None:
    """(b) 'weet niet' for hours and duration: ONBEPAALD with candidates, and the facts still unknown listed."""
    open_intake(page)
    order = walk(page, NEIGHBOUR_UNKNOWN)
    assert "hours_per_week" in order
    catalogue = catalogue_of(server)
    answered = {name: NEIGHBOUR_UNKNOWN[name] for name in order}
    decision = server.api("Evaluate", {"facts": as_request(catalogue, answered)})["decision"]
    assert decision["role"] == "ONBEPAALD"
    assert role_shown(page) == "ONBEPAALD"
    candidates = page.locator("#role-candidates code").evaluate_all("codes => codes.map(c => c.textContent)")
    assert candidates == decision["roleCandidates"] and len(candidates) >= 2
    unknown = page.locator("#still-unknown li").evaluate_all("items => items.map(i => i.dataset.fact)")
    assert unknown == [m["fact"] for m in decision["missingFacts"]]
    assert "hours_per_week" in unknown
    expect(page.locator("#answers-list li[data-fact=hours_per_week] .answer-value")).to_have_text("weet niet")


def test_changing_an_earlier_answer_changes_the_role(page: Page) -> None:
    """(c) 4 hours for 1,5 months is sociaal netwerk; changing the hours to 20 makes a mantelzorger."""
    open_intake(page)
    walk(page, CHILD_FEW_HOURS)
    assert role_shown(page) == "SOCIAAL_NETWERK"
    expect(page.locator("#answers-list li[data-fact=duration_months] .answer-value")).to_contain_text("1,5")
    page.locator("#answers-list li[data-fact=hours_per_week] button[data-action=change]").click()
    expect(page.locator("#question-form")).to_have_attribute("data-fact", "hours_per_week")
    expect(page.locator("#number-input")).to_have_value("4")
    page.fill("#number-input", "veel")
    page.locator("#next").click()
    expect(page.locator("#question-problem")).to_contain_text("veel")  # a word is no number: said, not sent
    page.fill("#number-input", "20")
    page.locator("#next").click()
    ready(page)
    assert role_shown(page) == "MANTELZORGER"
    expect(page.locator("#answers-list li[data-fact=hours_per_week] .answer-value")).to_contain_text("20")


def test_english_toggle_changes_the_texts_and_lang(page: Page, server: WebServer) -> None:
    open_intake(page)
    walk(page, CHILD_FEW_HOURS)
    assert page.get_attribute("html", "lang") == "nl"
    dutch_text = page.locator("#role-text").inner_text()
    page.locator("#language-toggle").click()
    ready(page)
    assert page.get_attribute("html", "lang") == "en"
    english = catalogue_of(server, "en")
    expect(page.locator("#answers-heading")).to_have_text("Answers given")
    expect(page.locator("#answers-list li[data-fact=relation_to_beneficiary] .answer-question")).to_have_text(
        english["relation_to_beneficiary"]["question"]
    )
    assert page.locator("#role-text").inner_text() != dutch_text
    assert role_shown(page) == "SOCIAAL_NETWERK"
    page.locator("#language-toggle").click()
    ready(page)
    assert page.get_attribute("html", "lang") == "nl"
    expect(page.locator("#role-text")).to_have_text(dutch_text)


def test_export_is_a_scenario_that_rolwijzer_test_passes(page: Page, server: WebServer, tmp_path: Path) -> None:
    """An intake with 'weet niet', a decimal comma and a set answer, copied and downloaded as a scenario file that
    `rolwijzer test` runs and passes against the same server."""
    plan = {**NEIGHBOUR_UNKNOWN, "duration_months": "1,5", "tasks": ["household", "personal_care"]}
    open_intake(page)
    order = walk(page, plan)
    assert "tasks" in order, f"the follow-up question about the tasks was not asked: {order}"
    page.locator("#export-copy").click()
    expect(page.locator("#export-status")).to_have_text("Gekopieerd naar het klembord.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#export-text").input_value()
    with page.expect_download(timeout=WAIT_MS) as download:
        page.locator("#export-download").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".yaml" and saved.read_text(encoding="utf-8") == copied
    scenario = yaml.safe_load(copied)["scenarios"][0]
    assert list(scenario["facts"]) == order
    assert scenario["facts"]["hours_per_week"] == "unknown"
    assert scenario["facts"]["duration_months"] == 1.5
    assert scenario["facts"]["tasks"] == ["household", "personal_care"]
    assert scenario["expected"]["role"] == role_shown(page) == "ONBEPAALD"
    assert scenario["expected"]["role_candidates"] and scenario["expected"]["missing_facts"]
    run = subprocess.run(
        [sys.executable, "-m", "rolwijzer.cli.main", "test", str(saved), "--server", server.grpc_address],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO / "service"), "NO_COLOR": "1"},
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout or "1 goed" in run.stdout, run.stdout


def test_a_question_answered_with_the_keyboard_only(page: Page) -> None:
    open_intake(page)
    # Tab from the top of the page to the first answer, Space picks it, Tab to "Volgende", Enter sends it.
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "choice":
            break
    else:
        pytest.fail("Tab never reached an answer of the question")
    first = page.evaluate("document.activeElement.value")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "next"
    page.keyboard.press("Enter")
    ready(page)
    expect(page.locator("#answers-list li").first).to_have_attribute("data-fact", "relation_to_beneficiary")
    assert page.locator("#answers-list li .answer-value").first.inner_text()
    assert asked(page) != "relation_to_beneficiary"
    # The next question: focus is on its heading; Tab reaches its first answer, Space and Enter as before.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") in ("choice", "number")
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    ready(page)
    assert page.locator("#answers-list li").count() == 2
    assert first


def test_an_api_error_is_shown_with_its_message(page: Page, server: WebServer) -> None:
    """A request the server refuses (here: a word for a number, slipped past the page) shows the server's message."""
    bad = {"facts": {"hours_per_week": {"symbol": "many"}}, "language": "nl"}
    status, refused = server.post("Evaluate", bad)
    assert status >= 400 and refused["message"]
    open_intake(page)

    def spoil(route: Route) -> None:
        route.continue_(post_data=json.dumps(bad))

    page.route("**/rolwijzer.v1.RolwijzerService/Evaluate", spoil)
    page.locator("#question-form input[type=radio]").first.check()
    page.locator("#next").click()
    ready(page)
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(refused["message"])
    for detail in refused.get("details", []):  # a google.rpc.BadRequest: each field violation is shown too
        if detail.get("type", "").endswith("google.rpc.BadRequest"):
            violations = error_details_pb2.BadRequest.FromString(base64.b64decode(detail["value"] + "=="))
            for violation in violations.field_violations:
                expect(error).to_contain_text(f"{violation.field}: {violation.description}")


def test_rulebook_has_every_rule_and_shows_a_release_diff(page: Page, server: WebServer, tmp_path: Path) -> None:
    described = server.api("DescribeRuleSet", {"language": "nl"})
    page.goto("/regels")
    ready(page)
    anchors = page.locator("article.rule").evaluate_all("rules => rules.map(r => r.id)")
    assert anchors == [rule["ruleId"] for rule in described["rules"]]
    facts = page.locator("#facts article").evaluate_all("items => items.map(i => i.id)")
    assert facts == [f"fact-{fact['name']}" for fact in described["facts"]]
    safety = [code["code"] for code in described["codes"] if code.get("safetyRelated")]
    expect(page.locator(f"[id='code-{safety[0]}'] .badge.safety")).to_be_visible()
    # 2.0.0 -> 2.1.0: 2.1.0 marks the codes about safety and rewords one liability text (as `rolwijzer rules diff`).
    page.select_option("#diff-from", "2.0.0")
    page.select_option("#diff-to", "2.1.0")
    page.locator("#diff-button").click()
    ready(page)
    changed = page.locator("#diff-codes li.diff-changed")
    assert changed.count() > 0
    expect(page.locator("#diff-codes li[data-key=AANSPR_INSTELLING_CENTRAAL]")).to_contain_text("gewijzigd: tekst")
    expect(page.locator(f"#diff-codes li[data-key='{safety[0]}']")).to_contain_text("veiligheid")
    shot = tmp_path / "rulebook-diff.png"
    page.locator("#diff").screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    # 2.2.0 -> 2.3.0 words rule A6 in Dutch: its explanation alone differs, and nothing else does.
    page.select_option("#diff-from", "2.2.0")
    page.select_option("#diff-to", "2.3.0")
    page.locator("#diff-button").click()
    ready(page)
    assert page.locator("#diff li").count() == 1
    expect(page.locator("#diff-rules li[data-key=A6]")).to_contain_text("fase H rekent")
    # 1.1.0 -> 2.0.0 (revision 2 of the specification) changes rules.
    page.select_option("#diff-from", "1.1.0")
    page.select_option("#diff-to", "2.0.0")
    page.locator("#diff-button").click()
    ready(page)
    assert page.locator("#diff-rules li").count() > 0
    page.set_viewport_size({"width": 360, "height": 780})
    no_horizontal_scroll(page)
    phone = tmp_path / "rulebook-phone.png"
    page.screenshot(path=str(phone))
    print(f"screenshot: {phone}")
