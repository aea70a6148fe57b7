#!/usr/bin/env python3
"""Dashboard page weight and first paint, in headless Chromium, against a
running decnet (`decnet demo --geoip …` with some located attackers, so
the overview's world map loads its shapes):

    python3 scripts/bench_dashboard_weight.py http://127.0.0.1:8000 admin PASSWORD

Prints, for a cold load of the overview and of the attackers list: bytes
over the wire (transferSize, what the server sent, compressed or not),
decoded bytes, requests, first contentful paint, and the time until the
page's main content is drawn. Median of 5 cold loads (fresh profile each).
"""
import json
import statistics
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

BASE, USER, PASSWORD = sys.argv[1], sys.argv[2], sys.argv[3]
PAGES = [("/", "#world-map"), ("/attackers", "#attackers table")]

MEASURE = """
const nav = performance.getEntriesByType('navigation')[0];
const res = performance.getEntriesByType('resource').filter((r) => r.name.startsWith(location.origin) && !r.name.includes('/api/'));
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
return {
  transfer: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),
  decoded: nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0),
  requests: 1 + res.length,
  fcp: fcp ? fcp.startTime : null,
  files: res.map((r) => [r.name.replace(location.origin, ''), r.transferSize]),
};
"""


def driver():
    opts = webdriver.ChromeOptions()
    for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,800", f"--user-data-dir={tempfile.mkdtemp(prefix='decnet-weight-')}"]:
        opts.add_argument(a)
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))


def main():
    out = {}
    for path, ready in PAGES:
        runs = []
        for _ in range(5):
            d = driver()
            try:
                d.get(BASE + "/login")
                WebDriverWait(d, 20).until(lambda x: x.find_elements(By.ID, "password"))
                d.find_element(By.ID, "username").clear()
                d.find_element(By.ID, "username").send_keys(USER)
                d.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
                WebDriverWait(d, 20).until(lambda x: x.find_elements(By.CSS_SELECTOR, "main h1"))
                # Cold for the page itself: a new document, files from the server (cache bypassed).
                d.execute_cdp_cmd("Network.enable", {})
                d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
                t0 = time.time()
                d.get(BASE + path)
                WebDriverWait(d, 20).until(lambda x: x.find_elements(By.CSS_SELECTOR, ready))
                content_ms = (time.time() - t0) * 1000
                m = d.execute_script(MEASURE)
                m["content_ms"] = content_ms
                runs.append(m)
            finally:
                d.quit()
        med = lambda k: statistics.median(r[k] for r in runs if r[k] is not None)
        out[path] = {"transfer_bytes": med("transfer"), "decoded_bytes": med("decoded"), "requests": med("requests"),
                     "first_contentful_paint_ms": round(med("fcp"), 1), "content_ms": round(med("content_ms"), 1),
                     "files": runs[-1]["files"]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
