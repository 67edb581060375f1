"""The review page (rcu review): a steward reviews pairs in a real headless Chromium, and the decisions land in
ops.review_decisions exactly; the JSON API refuses what it must.

One server (uvicorn in a thread, 127.0.0.1, a free port) and one browser serve the whole module. Chromium
comes from Debian, driven by Playwright through ``executable_path`` as in tests/test_dashboard.py.
"""

from __future__ import annotations

import http.client
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from deltalake import DeltaTable

from jobs import review as review_job
from spark_lib import schemas, tables
from spark_lib.review.app import RemoteBindError, ReviewServer, allowed_hosts, bind_socket, create_app
from spark_lib.review.store import ReviewStore
from tests.review_pairs import CHLOE, FRANCOIS, HELENE, INJECTED, LAST, SAMPLE, XSS, write_review_lakehouse

REVIEWER = "Camille Martin"


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    return write_review_lakehouse(spark, str(tmp_path_factory.mktemp("review-page") / "lake"))


@pytest.fixture(scope="module")
def server(lake):
    sock = bind_socket("127.0.0.1", 0)
    with ReviewServer(create_app(ReviewStore(lake.root), allowed_hosts(sock)), sock) as running:
        yield running


def call(server, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, dict, dict]:
    """One request to the live server: status, JSON body, headers. ``Host`` is the server's unless given."""
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    sent = {"Host": address.netloc, **({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})}
    connection.request(method, path, body=json.dumps(body) if isinstance(body, dict) else body, headers=sent)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = {"text": data.decode("utf-8", "replace")}
    return response.status, parsed, {k.lower(): v for k, v in response.getheaders()}


def decision_url(pair: dict) -> str:
    return f"/api/pairs/{quote(pair['pair_id'], safe='')}/decision"


# the page, in the browser ------------------------------------------------------------------------

def test_a_steward_reviews_pairs_with_keys_and_buttons_and_the_decisions_are_stored(server, browser, lake):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors, dialogs, remote = [], [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: remote.append(request.url) if not request.url.startswith(server.url) else None)
    page.goto(server.url)
    pair_id = page.locator("#pair-id")

    # No reviewer yet: the name is asked, and a decision key does nothing but say so.
    expect(page.locator("#reviewer-form")).to_be_visible()
    expect(pair_id).to_have_text(HELENE["pair_id"])
    expect(page.locator("#btn-same")).to_be_disabled()
    expect(page.locator("#reviewer-input")).to_be_focused()
    page.keyboard.press("Escape")                              # leave the name box: keys are shortcuts again
    page.keyboard.press("s")
    expect(page.locator("#message")).to_contain_text("reviewer is required")
    page.fill("#reviewer-input", REVIEWER)
    page.click("#reviewer-save")
    expect(page.locator("#reviewer-name")).to_have_text(REVIEWER)
    assert page.evaluate("localStorage.getItem('rcu.review.reviewer')") == REVIEWER

    # Hélène's records side by side: the differing first name and mobile highlighted, the same email not.
    rows = page.locator("#fields tbody tr")
    assert rows.locator("th").all_inner_texts()[:3] == ["civility", "first_name", "last_name"]
    first_name = page.locator('#fields tr[data-field="first_name"]')
    expect(first_name).to_have_class("status-differs")
    expect(first_name.locator("td")).to_have_text(["Hélène", "Helene"])
    expect(page.locator('#fields tr[data-field="phone_mobile"]')).to_have_class("status-differs")
    expect(page.locator('#fields tr[data-field="email"]')).to_have_class("status-same")
    background = "el => getComputedStyle(el).backgroundColor"
    assert (page.locator('#fields tr[data-field="first_name"] td').first.evaluate(background)
            != page.locator('#fields tr[data-field="email"] td').first.evaluate(background))
    # the waterfall: the prior and five comparisons, then the total
    expect(page.locator("#waterfall .wf-row.step")).to_have_count(6)
    expect(page.locator("#waterfall .wf-row.total .wf-value")).to_have_text("+0.71")
    expect(page.locator("#waterfall .wf-row.step .wf-bar.neg")).to_have_count(2)
    expect(page.locator("#reasons li")).to_have_text(["score_band"])

    page.keyboard.press("s")                                   # same person
    expect(pair_id).to_have_text(FRANCOIS["pair_id"])
    page.fill("#reason", "même carte de fidélité, code postal voisin")
    page.click("#btn-different")                               # different persons, with a reason
    expect(pair_id).to_have_text(INJECTED["pair_id"])

    # The injected value is shown as text, in the record and in the waterfall's tooltip; nothing ran.
    expect(page.locator('#fields tr[data-field="address"] td').nth(1)).to_have_text(XSS)
    assert page.locator("#fields script, #fields img, #waterfall script, #waterfall img").count() == 0

    page.keyboard.press("n")                                   # skip it
    expect(pair_id).to_have_text(SAMPLE["pair_id"])
    expect(page.locator("#waterfall")).to_contain_text("No comparison weights")
    expect(page.locator('#fields tr[data-field="email"]')).to_have_class("status-missing")
    page.keyboard.press("u")                                   # unsure
    expect(pair_id).to_have_text(CHLOE["pair_id"])
    expect(page.locator("#progress")).to_have_text("3 decided · 3 pending · 6 queued")

    # Undo the last (unsure), then decide it again with the button.
    page.keyboard.press("z")
    expect(pair_id).to_have_text(SAMPLE["pair_id"])
    expect(page.locator("#progress")).to_have_text("2 decided · 4 pending · 6 queued")
    page.click("#btn-unsure")
    expect(pair_id).to_have_text(CHLOE["pair_id"])

    # Search: an accented name typed without accents, then a customer id only the crosswalk knows.
    page.keyboard.press("/")
    page.keyboard.type("francois n'diaye")
    page.keyboard.press("Enter")
    results = page.locator("#search-results li button")
    expect(results).to_have_text(["François N'DIAYE ↔ Francois NDIAYE"])
    expect(page.locator("#search-results li")).to_contain_text(["different"])
    page.fill("#search-input", "C00000000999")
    page.click("#search-go")
    expect(results).to_have_count(1)
    results.first.click()
    expect(pair_id).to_have_text(INJECTED["pair_id"])
    expect(page.locator("#pair-status")).to_have_text("pending")

    assert dialogs == [] and errors == [] and remote == []
    assert page.evaluate("document.querySelectorAll('script').length") == 1   # the page's own script only
    page.close()

    expected = {
        HELENE["pair_id"]: ("same", None, HELENE),
        FRANCOIS["pair_id"]: ("different", "même carte de fidélité, code postal voisin", FRANCOIS),
        SAMPLE["pair_id"]: ("unsure", None, SAMPLE),
    }
    spark_rows = [r.asDict() for r in lake.read(tables.REVIEW_DECISIONS).where(f"reviewer = '{REVIEWER}'").collect()]
    delta_rows = [r for r in DeltaTable(lake.path(tables.REVIEW_DECISIONS)).to_pyarrow_table().to_pylist()
                  if r["reviewer"] == REVIEWER]
    assert lake.read(tables.REVIEW_DECISIONS).schema == schemas.REVIEW_DECISIONS
    for rows in (spark_rows, delta_rows):
        assert {r["pair_id"]: (r["decision"], r["reason"], r["origin"], r["record_hash_l"], r["record_hash_r"],
                               r["record_key_l"], r["record_key_r"]) for r in rows} == {
            pair: (decision, reason, "page", row["record_hash_l"], row["record_hash_r"], row["record_key_l"],
                   row["record_key_r"]) for pair, (decision, reason, row) in expected.items()
        }
        assert len(rows) == 3 and len({r["decision_id"] for r in rows}) == 3
    assert HELENE["record_hash_l"] == -8_734_112_993_402_117_365   # beyond 2**53: kept exact through the page


def test_the_page_is_served_with_a_content_security_policy_and_no_outside_resource(server):
    status, body, headers = call(server, "GET", "/")

    assert status == 200
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert "http" not in body["text"].replace(server.url, "")   # no CDN, no outside link


# the JSON API ------------------------------------------------------------------------------------

def test_a_script_reviews_through_the_api(server):
    status, queue, _ = call(server, "GET", "/api/queue?limit=10")
    assert status == 200 and queue["pairs"][-1]["pair_id"] == LAST["pair_id"]

    status, made, _ = call(server, "POST", decision_url(LAST), {"decision": "same", "reviewer": "Script"})
    assert status == 201
    assert (made["decision"]["origin"], made["decision"]["record_hash_l"]) == ("api", str(LAST["record_hash_l"]))
    status, listed, _ = call(server, "GET", "/api/decisions?reviewer=Script")
    assert [d["pair_id"] for d in listed["decisions"]] == [LAST["pair_id"]]
    status, undone, _ = call(server, "POST", "/api/undo", {"reviewer": "Script"})
    assert status == 200 and undone["undone"]["decision_id"] == made["decision"]["decision_id"]
    assert call(server, "POST", "/api/undo", {"reviewer": "Script"})[0] == 404


@pytest.mark.parametrize("body, status, detail", [
    ({"decision": "same"}, 422, "reviewer"),                                  # missing reviewer
    ({"decision": "same", "reviewer": "   "}, 422, "'reviewer' is required"),
    ({"decision": "oui", "reviewer": "Script"}, 422, "'decision' must be one of"),
    ({"decision": "same", "reviewer": "Script", "reason": "x" * 501}, 422, "at most 500"),
    ({"decision": "same", "reviewer": "Script", "admin": True}, 422, "admin"),  # unknown field
    ({"decision": "same", "reviewer": "Script", "record_hash_l": "1"}, 409, "changed since it was shown"),
])
def test_a_bad_decision_is_refused(server, body, status, detail):
    got, answer, _ = call(server, "POST", decision_url(LAST), body)

    assert got == status and detail in json.dumps(answer["detail"])


def test_an_unknown_pair_is_not_found(server):
    assert call(server, "GET", "/api/pairs/crm_customers%3ANOPE%7Ccrm_customers%3ANOPE2")[0] == 404
    assert call(server, "POST", "/api/pairs/nope/decision", {"decision": "same", "reviewer": "Script"})[0] == 404


def test_a_cross_origin_or_non_json_post_is_refused(server):
    body = {"decision": "same", "reviewer": "Script"}
    assert call(server, "POST", decision_url(LAST), body, {"Origin": "http://evil.example"})[0] == 403
    assert call(server, "POST", decision_url(LAST), body, {"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert call(server, "POST", decision_url(LAST), "decision=same&reviewer=Script",
                {"Content-Type": "application/x-www-form-urlencoded"})[0] == 415
    assert call(server, "POST", decision_url(LAST), body, {"Origin": server.url.rstrip("/")})[0] == 201
    assert call(server, "POST", "/api/undo", {"reviewer": "Script"})[0] == 200


def test_a_request_for_another_host_name_is_refused(server):
    port = urlsplit(server.url).port
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1:1"):
        status, answer, _ = call(server, "GET", "/api/queue", headers={"Host": host})
        assert status == 400 and "Host header refused" in answer["detail"]
    assert call(server, "GET", "/api/queue", headers={"Host": f"localhost:{port}"})[0] == 200


def test_a_search_leaves_no_name_in_the_logs(server, caplog):
    with caplog.at_level(logging.INFO):
        status, found, _ = call(server, "GET", "/api/search?q=" + quote("Hélène Le Goff"))
        deadline = time.monotonic() + 5
        while "GET search" not in caplog.text and time.monotonic() < deadline:   # logged once the answer is sent
            time.sleep(0.02)

    assert status == 200 and [p["pair_id"] for p in found["pairs"]] == [HELENE["pair_id"]]
    assert "GET search 200" in caplog.text
    assert "Hélène" not in caplog.text and "Goff" not in caplog.text and "q=" not in caplog.text


def test_only_loopback_is_served_unless_allowed(tmp_path, capsys):
    with pytest.raises(RemoteBindError, match="--allow-remote"):
        bind_socket("0.0.0.0", 0)
    with pytest.raises(SystemExit) as stopped:
        review_job.main(["--lakehouse", str(tmp_path), "--host", "0.0.0.0", "--port", "0"])
    assert stopped.value.code == 2 and "not a loopback address" in capsys.readouterr().err
    sock = bind_socket("0.0.0.0", 0, allow_remote=True)
    try:
        assert allowed_hosts(sock) is None
    finally:
        sock.close()
    local = bind_socket("::1", 0) if _has_ipv6() else bind_socket("127.0.0.2", 0)
    local.close()


def _has_ipv6() -> bool:
    import socket

    try:
        socket.socket(socket.AF_INET6).close()
        return True
    except OSError:
        return False


def test_rcu_review_serves_the_lakehouse_on_a_free_loopback_port_and_logs_no_values(lake):
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen([sys.executable, "-m", "jobs.cli", "review", "--lakehouse", lake.root, "--port", "0"],
                               cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        url = lines[1].split("open ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and "6 queued pairs" in lines[0]
        address = urlsplit(url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        connection.request("GET", "/api/search?q=" + quote("zoé müller"))
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["pairs"][0]["pair_id"] == INJECTED["pair_id"]
        connection.close()
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert "GET search 200" in err
    assert "zoé" not in err.lower() and "müller" not in err.lower() and "q=" not in err
