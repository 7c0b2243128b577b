"""The real review page: `careal review serve` on 127.0.0.1, refused without its token, and
driven in headless Chromium (selenium + Debian's chromium-driver, installed by
`make system-packages`): labelled by keyboard, reloaded and resumed, untrusted answers shown as
text that runs nothing, and a SIGKILLed server that loses no saved verdict."""

from __future__ import annotations

import json
import shutil
import signal
import urllib.error
import urllib.request

import pytest

from careal.review.store import read_reviews
from tests.review_fixtures import PAYLOAD, Server, make_project


def status_of(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture()
def served(tmp_path):
    project = make_project(tmp_path / "project")
    server = Server(project, "-n", "8")
    yield project, server
    server.stop()


def test_every_request_without_the_token_is_refused(served):
    project, server = served
    assert server.url.startswith("http://127.0.0.1:")
    ok, headers, page = status_of(server.url)
    assert ok == 200 and b'<script src="app.js" defer>' in page
    assert "default-src 'none'" in headers["content-security-policy"] and "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    for path in ("/", "/api/state", "/app.js", f"/{server.token[:-1]}/", f"/{server.token[:-1]}x/api/state", f"/x{server.token}/api/state"):
        code, headers, body = status_of(server.base + path)
        assert code == 403, path
        assert b"forbidden" in body and "default-src 'none'" in headers["content-security-policy"]
    code, _, _ = status_of(server.base + "/api/verdict", "POST", b'{"key": "cares-0000#0", "label": "Accept"}', {"Content-Type": "application/json"})
    assert code == 403
    assert not (project / "reviews").exists()  # nothing was written by the refused requests
    code, _, _ = status_of(server.url + "api/state", headers={"Host": "attacker.example"})
    assert code == 400  # a page on another host name (DNS rebinding) gets nothing either
    code, _, body = status_of(server.url + "api/verdict", "POST", b"key=cares-0000%230&label=Accept", {"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 415
    state = json.loads(status_of(server.url + "api/state")[2])
    code, _, body = status_of(server.url + "api/verdict", "POST", json.dumps({"key": state["item"]["key"], "label": "Maybe"}).encode(), {"Content-Type": "application/json"})
    assert code == 400 and b"label must be one of" in body


def chrome():
    """Headless Chromium under selenium, with Debian's chromedriver (no download, no network)."""
    browser, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not browser or not driver_path:
        pytest.fail("chromium and chromedriver are needed for the review page test: run `make system-packages` "
                    "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking", "--no-proxy-server"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def test_the_page_in_a_real_browser(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    project = make_project(tmp_path / "project", planted=True)
    reviews = project / "reviews" / "c1-eval.jsonl"
    server = Server(project, "-n", "8")
    driver = chrome()
    wait = WebDriverWait(driver, 10)

    def progress() -> str:
        return driver.find_element(By.ID, "progress").text

    def shown_key() -> str:
        return driver.find_element(By.ID, "answer-id").text

    def press(key: str, done_after: int) -> None:
        before = shown_key()
        driver.find_element(By.TAG_NAME, "body").send_keys(key)
        wait.until(lambda d: progress() == f"{done_after} / 8 reviewed" and (done_after == 8 or shown_key() != before))

    try:
        driver.get(server.url)
        wait.until(lambda d: progress() == "0 / 8 reviewed")
        # the planted answer: shown literally, and nothing of it ran (no title change, no flag, no element)
        assert driver.find_element(By.ID, "response").text == PAYLOAD
        assert PAYLOAD in driver.find_element(By.ID, "prompt").text and "onerror" in driver.find_element(By.ID, "evidence").text
        assert driver.title.startswith("careal review") and driver.execute_script("return window.__pwned === undefined")
        assert driver.find_elements(By.CSS_SELECTOR, "main img, main script") == []
        assert driver.execute_script("return document.scripts.length") == 1  # app.js, nothing more

        keys_seen = []
        for key, done in (("r", 1), ("a", 2), ("c", 3), ("s", 4)):
            keys_seen.append(shown_key())
            press(key, done)
        saved = read_reviews(reviews)
        assert [(f"{r['id']} #{r['sample']}", r["human_label"]) for r in saved] == list(zip(keys_seen, ["Refuse", "Accept", "Caution", "Skip"]))
        assert all(r["reviewer"] == "tester" and r["response"] == PAYLOAD for r in saved)

        driver.refresh()  # reopened: resumes at the fifth answer of the sample
        wait.until(lambda d: progress() == "4 / 8 reviewed")
        assert shown_key() not in keys_seen

        driver.get(server.base + "/")  # the same server without the token: refused
        assert "forbidden" in driver.find_element(By.TAG_NAME, "body").text

        driver.get(server.url)
        wait.until(lambda d: progress() == "4 / 8 reviewed")
        fifth = shown_key()
        press("r", 5)
        wait.until(lambda d: "saved Refuse" in d.find_element(By.ID, "status").text)
        server.process.send_signal(signal.SIGKILL)  # killed right after the verdict: nothing lost
        server.process.wait(timeout=10)
        saved = read_reviews(reviews)
        assert len(saved) == 5 and f"{saved[-1]['id']} #{saved[-1]['sample']}" == fifth and saved[-1]["human_label"] == "Refuse"

        sixth = shown_key()
        driver.find_element(By.TAG_NAME, "body").send_keys("a")  # the server is gone: the page says so
        wait.until(lambda d: "NOT saved" in d.find_element(By.ID, "status").text)
        assert len(read_reviews(reviews)) == 5

        server.stop()
        server = Server(project, "-n", "8")  # started again: a new token, the same review file
        driver.get(server.url)
        wait.until(lambda d: progress() == "5 / 8 reviewed")
        assert shown_key() == sixth
        assert sorted(p.name for p in reviews.parent.iterdir()) == ["c1-eval.jsonl"]  # no temporary left by the kill
    finally:
        driver.quit()
        server.stop()

