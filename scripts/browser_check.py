#!/usr/bin/env python3
"""The explorer page in a real browser (headless Chromium over WebDriver).

Starts a redis-server on a free port and two minichain nodes on it (difficulty pinned
low so blocks come at once), then, in the browser, on node A's page: the latest
blocks load; a block mined through the form appears; a block mined on node B (which
reaches A over Redis) appears without a reload. Saves a screenshot and prints its
path. Exits non-zero on any failure.

Usage: browser_check.py BINARY SCREENSHOT.png
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer in {TIMEOUT} s")


def status(base):
    with urllib.request.urlopen(base + "/api/status", timeout=10) as r:
        return json.load(r)


def main():
    binary, screenshot = sys.argv[1], sys.argv[2]
    procs = []
    workdir = tempfile.mkdtemp(prefix="minichain-browser-")
    try:
        redis_port = free_port()
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        bases = []
        for name in ("a", "b"):
            port = free_port()
            log = open(os.path.join(workdir, f"node-{name}.log"), "w")
            procs.append(subprocess.Popen(
                [binary, "node", "--host", "127.0.0.1", "--port", str(port),
                 "--redis", f"redis://127.0.0.1:{redis_port}",
                 "--difficulty", "4", "--threads", "1",
                 # Node A serves at most 8 event streams (half its connections).
                 *(["--max-connections", "16"] if name == "a" else []),
                 "--data-dir", os.path.join(workdir, f"data-{name}")],
                stdout=log, stderr=subprocess.STDOUT))
            bases.append(f"http://127.0.0.1:{port}")
        for base in bases:
            wait_http(base + "/healthz")
        deadline = time.time() + TIMEOUT
        while not all(status(b)["redis"]["connected"] for b in bases):
            if time.time() > deadline:
                raise SystemExit("the nodes did not connect to Redis")
            time.sleep(0.1)
        a, b = bases

        options = webdriver.ChromeOptions()
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", "--window-size=1400,1000"):
            options.add_argument(arg)
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium:
            options.binary_location = chromium
        driver_path = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            wait = WebDriverWait(driver, TIMEOUT)
            # Every event stream node A serves is taken: the page's is refused (503),
            # which a browser does not retry on its own; the page must. The streams
            # come from another loopback address than the browser's, so that it is the
            # cap over all streams that refuses the page, not its address's share.
            host, port = a.removeprefix("http://").split(":")
            streams = []
            for _ in range(8):
                s = socket.create_connection((host, int(port)), timeout=10,
                                             source_address=("127.0.0.2", 0))
                s.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
                assert b" 200 " in s.recv(200).split(b"\r\n")[0], "a stream opens"
                streams.append(s)
            driver.get(a + "/")
            # The genesis block is listed; the live stream waits for a place.
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#blocks tr[data-height='0']"))
            wait.until(lambda d: "retrying" in d.find_element(By.ID, "live").text)
            for s in streams:
                s.close()
            wait.until(lambda d: d.find_element(By.ID, "live").text == "live")
            # A marker that a reload would wipe.
            driver.execute_script("window.__noReload = true;")

            area = driver.find_element(By.ID, "data")
            area.clear()
            area.send_keys('{"from": "the browser", "n": 1.50}')
            driver.find_element(By.ID, "mine-button").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#blocks tr[data-height='1']"))
            result = driver.find_element(By.ID, "mine-result").text
            assert result.startswith("mined block #1"), result
            row = driver.find_element(By.CSS_SELECTOR, "#blocks tr[data-height='1']").text
            assert "the browser" in row, row

            # An error is shown as the API words it.
            area.clear()
            area.send_keys("NaN")
            driver.find_element(By.ID, "mine-button").click()
            wait.until(lambda d: "error" in d.find_element(By.ID, "mine-result").get_attribute("class"))
            error = driver.find_element(By.ID, "mine-result").text
            assert "NaN" in error, error

            # A block mined on node B reaches A over Redis and appears live.
            deadline = time.time() + TIMEOUT
            while status(b)["length"] != 2:
                if time.time() > deadline:
                    raise SystemExit("node B did not get block #1 over Redis")
                time.sleep(0.1)
            req = urllib.request.Request(
                b + "/api/mineblock", data=b'{"data": "from node b"}',
                headers={"content-type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                chain = json.load(r)["chain"]
            b_height = chain[-1]["block_no"]
            assert b_height == 2, chain[-1]
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#blocks tr[data-height='2']"))
            assert driver.execute_script("return window.__noReload === true;"), "the page reloaded"
            events = driver.find_element(By.ID, "events").text
            assert "(peer" in events, events

            # A refused chain (a cheap message) is shown as an event, but the page
            # fetches no page of headers for it: only a new tip changes them.
            pages = ("return performance.getEntriesByType('resource')"
                     ".filter(e => e.name.includes('/api/headers?')).length;")
            # The table lists headers, never pages of whole blocks (the buffer of
            # timings raised past its 250 entries, so that none is missed).
            driver.execute_script("performance.setResourceTimingBufferSize(100000);")
            whole = ("return performance.getEntriesByType('resource')"
                     ".filter(e => e.name.includes('/api/blocks?')).length;")
            fetched = driver.execute_script(pages)
            req = urllib.request.Request(
                a + "/api/chain", data=b'{"chain": [{"block_no": 0}]}',
                headers={"content-type": "application/json"}, method="POST")
            try:
                urllib.request.urlopen(req, timeout=TIMEOUT).close()
            except urllib.error.HTTPError:
                pass  # refused, as meant
            wait.until(lambda d: "rejected" in d.find_element(By.ID, "events").text)
            time.sleep(1)
            assert driver.execute_script(pages) == fetched, "a refused chain refetched the blocks"

            # A few more from node B, for a fuller page.
            for data in (b'{"data": {"temp": 21.5, "unit": "C"}}', b'{"data": [1, 2, 3]}',
                         b'{"data": "hello"}'):
                req = urllib.request.Request(
                    b + "/api/mineblock", data=data,
                    headers={"content-type": "application/json"}, method="POST")
                with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                    height = json.load(r)["chain"][-1]["block_no"]
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#blocks tr[data-height='{height}']"))

            # A block whose data holds "nonce" keys of its own and is long: the table
            # shows each block's own nonce (not one read out of another's data) and only
            # the start of the data.
            tricky = {"data": [{"nonce": 111111}, {"nonce": 222222}, "x" * 5000]}
            req = urllib.request.Request(
                a + "/api/mineblock", data=json.dumps(tricky).encode(),
                headers={"content-type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                chain = json.load(r)["chain"]
            wait.until(lambda d: d.find_elements(
                By.CSS_SELECTOR, f"#blocks tr[data-height='{chain[-1]['block_no']}']"))
            for block in chain[-4:]:
                row = driver.find_element(
                    By.CSS_SELECTOR, f"#blocks tr[data-height='{block['block_no']}']")
                cells = row.find_elements(By.TAG_NAME, "td")
                assert cells[4].get_attribute("textContent") == str(block["nonce"]), (
                    block["block_no"], cells[4].get_attribute("textContent"), block["nonce"])
                shown = cells[5].get_attribute("textContent")
                assert len(shown) <= 161, f"block {block['block_no']}: {len(shown)} characters shown"
            last = cells[5].get_attribute("textContent")
            assert last.startswith('[{"nonce":111111},') and last.endswith("x…"), last
            assert driver.execute_script(whole) == 0, "the table fetched pages of whole blocks"
            height = chain[-1]["block_no"]

            # A request from a page of another site may not mine (cross-site request
            # forgery); the page's own requests may.
            req = urllib.request.Request(
                a + "/api/mineblock", data=b'{"data": "forged"}',
                headers={"content-type": "text/plain", "origin": "http://127.0.0.1:1"},
                method="POST")
            try:
                urllib.request.urlopen(req, timeout=TIMEOUT)
                raise SystemExit("a cross-site request mined a block")
            except urllib.error.HTTPError as err:
                assert err.code == 403, err.code

            # The block detail view.
            driver.find_element(By.CSS_SELECTOR, "#blocks tr[data-height='1']").click()
            wait.until(lambda d: "the browser" in d.find_element(By.ID, "d-body").text)
            detail = driver.find_element(By.ID, "d-body").text
            assert '"n":1.50' in detail, detail  # as sent, not respelled
            time.sleep(1.2)  # let the flash of the new row fade for the picture
            driver.save_screenshot(screenshot)
            print(f"screenshot: {screenshot}")
            print("explorer: page loaded, form mined #1, API error shown, "
                  f"node B's #{b_height} (and #3 to #{height}) appeared without a reload")
        finally:
            driver.quit()
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
