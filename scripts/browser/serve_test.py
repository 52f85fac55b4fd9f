#!/usr/bin/env python3
"""End-to-end test of `checkuser serve` in a real browser (headless Chromium over WebDriver).

    python3 scripts/browser/serve_test.py --bin target/debug/checkuser --artifacts target/browser-artifacts

Needs Debian's chromium, chromium-driver (/usr/bin/chromedriver) and python3-selenium. Starts its own
servers (sandbox, fresh state, temporary HOME and XDG_STATE_HOME), drives the page as a person would,
writes a PNG screenshot of every step to --artifacts, and exits non-zero with a message on the first
failure. Steps: login page without the token; the printed URL; upload, mapping, plan, start, live
progress, download compared with `checkuser run`; a workbook; cancel and delete a slow job; keyboard
only; a 400-px-wide window; Simplified Chinese; named users; no Content Security Policy violation.
"""

import argparse
import csv
import http.cookiejar
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

try:
    from selenium import webdriver
    from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException,
                                            TimeoutException, WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError as e:  # pragma: no cover
    print(f"serve_test: selenium is not installed ({e}); apt-get install python3-selenium", file=sys.stderr)
    sys.exit(2)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "samples")
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
OPEN_LINE = re.compile(r"checkuser serve: open (http://[^/\s]+)/(?:\?token=(\S+))?")

# Columns of a check compared between the page's download and `checkuser run` (not timestamps,
# request ids or attempts).
COMPARED_SUFFIXES = ("_checked_key", "_result", "_status", "_uplimit", "_error_code", "_error_msg")


class Failure(Exception):
    pass


def log(msg):
    print(f"[serve_test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def clean_env(home, xdg):
    env = {}
    for k, v in os.environ.items():
        if (k.startswith("HUAWEICLOUD_") or k.startswith("XDG_") or k.startswith("CHECKUSER_")
                or k in ("RUST_LOG", "NO_COLOR", "LANG", "LANGUAGE") or k.startswith("LC_")):
            continue
        env[k] = v
    env["HOME"] = home
    env["XDG_STATE_HOME"] = xdg
    return env


class Server:
    """One `checkuser serve` process with its own state, HOME and XDG_STATE_HOME."""

    def __init__(self, binary, workdir, name, extra):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.dir, "home"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "xdg"), exist_ok=True)
        self.env = clean_env(os.path.join(self.dir, "home"), os.path.join(self.dir, "xdg"))
        self.cmd = [binary, "serve", "--sandbox", "--listen", "127.0.0.1:0", "--progress", "never",
                    "--state", os.path.join(self.dir, "state.sqlite")] + list(extra)
        self.lines = []
        self.base = None
        self.token = None
        self._seen = threading.Event()
        log(f"starting server {name}: {' '.join(self.cmd[1:])}")
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.time() + 60
        while time.time() < deadline and not self._seen.is_set():
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise Failure(f"server {name} exited with {self.proc.returncode} before printing its address:\n"
                              + self.stderr_text())
            self._seen.wait(0.1)
        if not self._seen.is_set():
            raise Failure(f"server {name} printed no 'checkuser serve: open http://...' line in 60 s:\n"
                          + self.stderr_text())
        log(f"server {name} at {self.base} (token {'yes' if self.token else 'no'})")

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            m = OPEN_LINE.search(line)
            if m and not self._seen.is_set():
                self.base = m.group(1)
                self.token = m.group(2)
                self._seen.set()

    def stderr_text(self):
        return "\n".join(self.lines[-60:])

    @property
    def url(self):
        return f"{self.base}/?token={self.token}" if self.token else f"{self.base}/"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                log(f"server {self.name} did not stop within 20 s of SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait(5)
                raise Failure(f"server {self.name} did not stop within 20 s of SIGTERM")
        return self.proc.returncode


class Test:
    def __init__(self, args):
        self.bin = os.path.abspath(args.bin)
        self.artifacts = os.path.abspath(args.artifacts)
        self.keep = args.keep
        os.makedirs(self.artifacts, exist_ok=True)
        for f in os.listdir(self.artifacts):
            if f.endswith(".png"):
                os.remove(os.path.join(self.artifacts, f))
        self.work = tempfile.mkdtemp(prefix="checkuser-serve-test-")
        self.servers = []
        self.drivers = []
        self.shot_n = 0
        self.console = []  # (browser label, entry)
        self.chromium = next((c for c in CHROMIUM_CANDIDATES if os.path.exists(c)), None)
        self.passed = []

    # ---- infrastructure --------------------------------------------------------------------
    def server(self, name, extra=()):
        s = Server(self.bin, self.work, name, extra)
        self.servers.append(s)
        return s

    def browser(self, label, lang=None, size=(1280, 1000)):
        if not self.chromium:
            raise Failure("no chromium binary found (apt-get install chromium chromium-driver)")
        downloads = os.path.join(self.work, f"downloads-{label}")
        os.makedirs(downloads, exist_ok=True)
        opts = webdriver.ChromeOptions()
        opts.binary_location = self.chromium
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                  "--password-store=basic", f"--window-size={size[0]},{size[1]}"):
            opts.add_argument(a)
        prefs = {
            "download.default_directory": downloads,
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
            "safebrowsing.enabled": False,
            "credentials_enable_service": False,
            "profile.password_manager_enabled": False,
        }
        if lang:
            opts.add_argument(f"--lang={lang}")
            prefs["intl.accept_languages"] = lang
        else:
            opts.add_argument("--lang=en-US")
            prefs["intl.accept_languages"] = "en-US,en"
        opts.add_experimental_option("prefs", prefs)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        except WebDriverException as e:
            raise Failure(f"could not start chromium through {CHROMEDRIVER}: {e.msg}")
        d.set_window_size(*size)
        d.set_page_load_timeout(30)
        try:
            d.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
        except WebDriverException:
            pass
        d.label = label
        d.downloads = downloads
        self.drivers.append(d)
        return d

    def shot(self, d, name):
        self.shot_n += 1
        path = os.path.join(self.artifacts, f"{self.shot_n:02d}-{name}.png")
        try:
            d.save_screenshot(path)
        except WebDriverException as e:
            log(f"screenshot {name} failed: {e.msg}")
        self.drain_console(d)
        return path

    def drain_console(self, d):
        try:
            for entry in d.get_log("browser"):
                self.console.append((d.label, entry))
        except WebDriverException:
            pass

    def wait(self, d, cond, what, timeout=20):
        try:
            return WebDriverWait(d, timeout, poll_frequency=0.1, ignored_exceptions=(
                StaleElementReferenceException, NoSuchElementException)).until(lambda drv: cond(drv))
        except TimeoutException:
            path = self.shot(d, "FAILED-" + re.sub(r"[^a-z0-9]+", "-", what.lower())[:40])
            raise Failure(f"timed out after {timeout} s waiting for: {what}\n"
                          f"  page: {d.current_url}\n  alert area: {self.alert_text(d)!r}\n  screenshot: {path}")

    @staticmethod
    def alert_text(d):
        try:
            return d.execute_script(
                "var m=document.getElementById('message');"
                "return m&&!m.hidden?document.getElementById('message-text').textContent.trim():'';")
        except WebDriverException:
            return ""

    def js(self, d, script, *args):
        return d.execute_script(script, *args)

    def check(self, cond, msg):
        if not cond:
            raise Failure(msg)

    def run_cli(self, args, stdin=None, name="cli"):
        home = os.path.join(self.work, name + "-home")
        os.makedirs(home, exist_ok=True)
        env = clean_env(home, os.path.join(home, "xdg"))
        p = subprocess.run([self.bin] + args, env=env, cwd=self.work, input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        if p.returncode != 0:
            raise Failure(f"checkuser {' '.join(args)} exited with {p.returncode}:\n"
                          + p.stderr.decode("utf-8", "replace"))
        return p

    def http(self, url, cookies=None, method="GET"):
        req = urllib.request.Request(url, method=method)
        if cookies:
            req.add_header("Cookie", "; ".join(f"{c['name']}={c['value']}" for c in cookies))
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    # ---- page helpers ----------------------------------------------------------------------
    def upload(self, d, path):
        before = self.js(d, "return document.getElementById('mapping-section').getAttribute('data-job-id');")
        d.find_element(By.ID, "file").send_keys(path)
        self.wait(d, lambda drv: self.js(drv, """
            var s=document.getElementById('mapping-section');
            return !s.hidden && s.getAttribute('data-job-id') !== arguments[0];""", before),
            f"the mapping of {os.path.basename(path)} after the upload")
        return self.js(d, "return document.getElementById('mapping-section').getAttribute('data-job-id');")

    def drop(self, d, path):
        """Uploads by dropping a file on the drop zone (a DataTransfer made in the page: WebDriver
        cannot drag from the desktop)."""
        import base64
        with open(path, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        before = self.js(d, "return document.getElementById('mapping-section').getAttribute('data-job-id');")
        self.js(d, """
            var bin = atob(arguments[0]), bytes = new Uint8Array(bin.length);
            for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
            var dt = new DataTransfer();
            dt.items.add(new File([bytes], arguments[1], {type: 'text/csv'}));
            var zone = document.getElementById('dropzone');
            zone.dispatchEvent(new DragEvent('dragenter', {dataTransfer: dt, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        """, data, os.path.basename(path))
        self.wait(d, lambda drv: self.js(drv, """
            var s=document.getElementById('mapping-section');
            return !s.hidden && s.getAttribute('data-job-id') !== arguments[0];""", before),
            f"the mapping of {os.path.basename(path)} after dropping it")
        return self.js(d, "return document.getElementById('mapping-section').getAttribute('data-job-id');")

    def mapping(self, d):
        return self.js(d, """
            return Array.prototype.map.call(document.querySelectorAll('#checks .check-row'), function (r) {
              return r.querySelector('select.check-type').value + '=' + r.querySelector('select.check-column').value;
            });""")

    def plan(self, d):
        return self.js(d, """
            var o={};document.querySelectorAll('#plan dd[data-plan]').forEach(function(e){
              o[e.getAttribute('data-plan')]=e.textContent.trim();});return o;""")

    def job_state(self, d, job_id):
        return self.js(d, """
            var li=document.getElementById('job-'+arguments[0]);
            if(!li)return null;
            return {status:li.getAttribute('data-status'),done:+li.getAttribute('data-done'),
                    total:+li.getAttribute('data-total')};""", job_id)

    def job_button(self, d, job_id, cls):
        return d.find_element(By.CSS_SELECTOR, f"#job-{job_id} button.{cls}")

    def wait_status(self, d, job_id, statuses, what, timeout=120):
        return self.wait(d, lambda drv: (self.job_state(drv, job_id) or {}).get("status") in statuses,
                         what, timeout)

    def click_start(self, d, job_id):
        d.find_element(By.ID, "start").click()
        self.wait_status(d, job_id, ("queued", "running", "done"), "the job to be queued after Start")

    def download(self, d, job_id, cls="download-result"):
        """Clicks the download link; returns the file's path (downloaded by the browser, or
        fetched with the browser's cookie when headless Chromium saves nothing)."""
        a = d.find_element(By.CSS_SELECTOR, f"#job-{job_id} a.{cls}")
        href = a.get_attribute("href")
        before = set(os.listdir(d.downloads))
        a.click()
        deadline = time.time() + 20
        while time.time() < deadline:
            new = [f for f in set(os.listdir(d.downloads)) - before
                   if not f.endswith(".crdownload") and not f.startswith(".")]
            if new:
                p = os.path.join(d.downloads, new[0])
                time.sleep(0.3)
                return p
            time.sleep(0.2)
        status, headers, body = self.http(href, d.get_cookies())
        self.check(status == 200, f"GET {href} answered {status}: {body[:300]!r}")
        log(f"the browser saved no file from {href} in 20 s; fetched it with its cookie instead")
        p = os.path.join(d.downloads, f"fetched-{job_id}-{cls}")
        with open(p, "wb") as f:
            f.write(body)
        return p

    def focus_outline(self, d):
        return self.js(d, """
            var e=document.activeElement, s=getComputedStyle(e);
            return {id:e.id, tag:e.tagName, style:s.outlineStyle, width:parseFloat(s.outlineWidth)||0,
                    shadow:s.boxShadow};""")

    def assert_outlined(self, d, what):
        o = self.focus_outline(d)
        self.check((o["style"] not in ("none", "") and o["width"] >= 2) or (o["shadow"] not in ("none", "")),
                   f"{what}: the focused element {o['tag']}#{o['id']} has no visible outline ({o})")

    def tab_until(self, d, pred, what, limit=80):
        for _ in range(limit):
            ActionChains(d).send_keys(Keys.TAB).perform()
            if self.js(d, "return (" + pred + ")(document.activeElement);"):
                return
        raise Failure(f"keyboard: {limit} presses of TAB never reached {what}")

    # ---- the steps -------------------------------------------------------------------------
    def step(self, name, fn):
        log(f"step {name} ...")
        t0 = time.time()
        fn()
        self.passed.append(name)
        log(f"step {name}: ok ({time.time() - t0:.1f}s)")

    def run(self):
        main = self.server("main", ["--rate", "2"])
        d = self.browser("en")

        def a_login_without_token():
            status, _, body = self.http(main.base + "/api/jobs")
            self.check(status == 401, f"GET /api/jobs without a session answered {status}, not 401")
            self.check(b'"jobs"' not in body, "GET /api/jobs without a session leaked the job list")
            d.get(main.base + "/")
            self.wait(d, lambda drv: drv.find_elements(By.ID, "token-form")
                      and drv.find_element(By.ID, "token-form").is_displayed(), "the login page's token form")
            self.check(not d.find_elements(By.ID, "upload-section"), "the page was shown without the token")
            self.check(d.find_element(By.TAG_NAME, "h1").text == "Log in", "the login page's heading")
            self.shot(d, "login-token-mode")
            d.find_element(By.ID, "token").send_keys("not-the-token")
            d.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
            self.wait(d, lambda drv: drv.find_element(By.ID, "login-error").is_displayed(),
                      "the error after a wrong token")
            msg = d.find_element(By.ID, "login-error").text
            self.check("token" in msg.lower(), f"the wrong token's message: {msg!r}")
            self.shot(d, "login-bad-token")

        def b_printed_url():
            d.get(main.url)
            self.wait(d, lambda drv: drv.find_elements(By.ID, "upload-section"), "the page after the printed URL")
            self.check("token=" not in d.current_url, f"the token stayed in the address bar: {d.current_url}")
            self.check(d.find_element(By.TAG_NAME, "h1").text == "Check a lead list",
                       f"the page's heading: {d.find_element(By.TAG_NAME, 'h1').text!r}")
            self.check(self.js(d, "return document.documentElement.lang") == "en", "html lang is not en")
            csrf = self.js(d, "return document.querySelector('meta[name=csrf-token]').content")
            self.check(csrf and "{{" not in csrf, f"the CSRF meta is {csrf!r}")
            self.js(d, "window.__noReload = 'still here';")
            self.shot(d, "page-empty")
            # An API error is shown as the server words it, in the alert area.
            empty = os.path.join(self.work, "empty.csv")
            open(empty, "w").close()
            d.find_element(By.ID, "file").send_keys(empty)
            self.wait(d, lambda drv: self.alert_text(drv), "the error of an empty upload in the alert area")
            self.check(d.find_element(By.ID, "message").get_attribute("role") == "alert", "the message area's role")
            self.check("empty" in self.alert_text(d), f"the empty upload's message: {self.alert_text(d)!r}")
            self.shot(d, "error-empty-file")
            d.find_element(By.ID, "message-close").click()
            # A file that is not a list: a failed job, the reader's message, no plan, no Start.
            junk = os.path.join(self.work, "junk.xlsx")
            with open(junk, "wb") as f:
                f.write(b"this is not a workbook\x00\x01" * 20)
            self.upload(d, junk)
            self.wait(d, lambda drv: self.alert_text(drv), "the reader's message for a file that is not a list")
            log(f"not a list: {self.alert_text(d)!r}")
            self.check(not d.find_element(By.ID, "start").is_enabled(), "Start is enabled for a failed upload")
            self.shot(d, "error-not-a-list")
            d.find_element(By.ID, "discard").click()
            self.wait(d, lambda drv: drv.find_element(By.ID, "mapping-section").get_attribute("hidden") is not None
                      and not drv.find_elements(By.CSS_SELECTOR, "#jobs li.job"), "the failed job discarded")
            d.find_element(By.ID, "message-close").click()

        crm = os.path.join(SAMPLES, "crm-export.csv")
        state = {}

        def c_upload_map_start_download():
            job = self.upload(d, crm)
            state["crm"] = job
            guessed = self.mapping(d)
            log(f"guessed mapping: {guessed}; notes: {d.find_element(By.ID, 'mapping-notes').text!r}")
            self.check(guessed, "no guessed check for crm-export.csv")
            self.check(any(g.startswith("email=") for g in guessed), f"no email check guessed: {guessed}")
            self.shot(d, "mapping-guessed")
            # A mapping the server refuses (the header on row 3 has no E-Mail column): its message
            # in the alert area, no plan; back to the first row: a plan again.
            hr = d.find_element(By.ID, "header-row")
            hr.send_keys("3", Keys.TAB)
            self.wait(d, lambda drv: self.alert_text(drv), "the refused mapping's message in the alert area")
            log(f"refused mapping: {self.alert_text(d)!r}")
            self.check(not d.find_element(By.ID, "start").is_enabled(), "Start is enabled without a plan")
            self.shot(d, "mapping-refused")
            hr.send_keys(Keys.BACK_SPACE, Keys.TAB)
            self.wait(d, lambda drv: not self.alert_text(drv) and self.plan(drv).get("rows") == "10",
                      "the plan again after the header row is emptied")
            self.check(sorted(self.mapping(d)) == sorted(guessed), f"mapping after the round trip: {self.mapping(d)}")
            target = ["email=E-Mail", "mobile=Phone"]
            if sorted(guessed) == sorted(target):
                target = ["email=E-Mail"]
            # Remove the checks not wanted (from the last), then add the missing ones.
            for i in reversed(range(len(guessed))):
                if guessed[i] not in target:
                    d.find_element(By.ID, f"check-remove-{i + 1}").click()
            have = self.mapping(d)
            for want in target:
                if want in have:
                    continue
                d.find_element(By.ID, "add-check").click()
                n = len(self.mapping(d))
                ty, col = want.split("=", 1)
                Select(d.find_element(By.ID, f"check-type-{n}")).select_by_value(ty)
                Select(d.find_element(By.ID, f"check-column-{n}")).select_by_value(col)
                have = self.mapping(d)
            self.check(sorted(self.mapping(d)) == sorted(target), f"mapping is {self.mapping(d)}, wanted {target}")
            want_checks = str(10 * len(target))
            self.wait(d, lambda drv: self.plan(drv).get("checks") == want_checks,
                      f"the plan to show {want_checks} checks after the mapping change")
            p = self.plan(d)
            log(f"plan: {p}")
            self.check(p.get("rows") == "10", f"plan rows {p.get('rows')!r}, wanted 10")
            self.check(p.get("to_ask") not in (None, "", "0"), f"plan values to ask: {p.get('to_ask')!r}")
            self.check("from_store" in p and "seconds" in p and "would_leave_pending" in p, f"plan fields: {p}")
            self.shot(d, "mapping-changed-plan")
            self.click_start(d, job)
            seen = set()
            mid_shot = False
            deadline = time.time() + 180
            while True:
                st = self.job_state(d, job)
                self.check(st is not None, "the started job vanished from the list")
                seen.add(st["done"])
                if not mid_shot and st["total"] and 0.3 <= st["done"] / st["total"] < 1:
                    self.shot(d, "progress-mid-run")
                    mid_shot = True
                if st["status"] in ("done", "failed", "cancelled"):
                    break
                if time.time() > deadline:
                    raise Failure(f"the job did not finish in 180 s: {st}")
                time.sleep(0.05)
            self.check(st["status"] == "done", f"the job ended {st['status']}: "
                       + d.find_element(By.ID, f"job-{job}").text)
            self.check(len(seen) >= 2, f"the progress never moved on the page (done values seen: {sorted(seen)})")
            self.check(any(0 < v < st["total"] for v in seen),
                       f"no intermediate progress seen (done values: {sorted(seen)}, total {st['total']})")
            self.check(st["done"] == st["total"] > 0, f"final progress {st}")
            self.check(self.js(d, "return window.__noReload") == "still here", "the page reloaded during the run")
            self.shot(d, "job-done")
            got = self.download(d, job)
            cli_out = os.path.join(self.work, "cli-crm.csv")
            args = ["run", crm, "--sandbox", "--progress", "never", "--state",
                    os.path.join(self.work, "cli-crm.sqlite"), "-o", cli_out]
            for t in target:
                args += ["--check", t]
            self.run_cli(args, name="cli-crm")
            compare_results(got, cli_out)
            self.check(d.find_elements(By.CSS_SELECTOR, f"#job-{job} a.download-changes"), "no changes link")
            ch = d.find_element(By.CSS_SELECTOR, f"#job-{job} a.download-changes").get_attribute("href")
            status, _, _ = self.http(ch, d.get_cookies())
            self.check(status == 200, f"GET {ch} answered {status}")
            alt = d.find_element(By.CSS_SELECTOR, f"#job-{job} a.download-result-alt").get_attribute("href")
            status, _, body = self.http(alt, d.get_cookies())
            self.check(status == 200 and body[:2] == b"PK", f"GET {alt} answered {status}, not a workbook")

        def d_workbook():
            xlsx = os.path.join(self.work, "leads.xlsx")
            self.run_cli(["run", os.path.join(SAMPLES, "leads.csv"), "--sandbox", "--progress", "never",
                          "--state", os.path.join(self.work, "cli-leads.sqlite"), "-o", xlsx], name="cli-leads")
            job = self.upload(d, xlsx)
            self.check(d.find_element(By.ID, "sheet-field").is_displayed(), "no sheet field for a workbook")
            self.wait(d, lambda drv: self.plan(drv).get("rows") == "30", "the workbook's plan (30 rows)")
            self.shot(d, "workbook-mapping")
            d.set_window_size(1024, 1000)  # the mid-run screenshot is the README's docs/serve.png
            self.click_start(d, job)
            deadline = time.time() + 180
            shot = False
            while (self.job_state(d, job) or {}).get("status") not in ("done", "failed", "cancelled"):
                st = self.job_state(d, job)
                if not shot and st and st["total"] and 0.4 <= st["done"] / st["total"] < 1:
                    self.js(d, "window.scrollTo(0, 0)")
                    self.shot(d, "workbook-progress-mid-run")
                    shot = True
                self.check(time.time() < deadline, f"the workbook job did not end in 180 s: {st}")
                time.sleep(0.05)
            d.set_window_size(1280, 1000)
            st = self.job_state(d, job)
            self.check(st["status"] == "done", f"the workbook job ended {st}")
            got = self.download(d, job)
            with open(got, "rb") as f:
                self.check(f.read(2) == b"PK", "the workbook's result is not an xlsx (zip) file")
            alt = d.find_element(By.CSS_SELECTOR, f"#job-{job} a.download-result-alt").get_attribute("href")
            status, _, body = self.http(alt, d.get_cookies())
            self.check(status == 200 and b"searchKey" in body[:400], f"GET {alt} answered {status}: {body[:200]!r}")
            self.shot(d, "workbook-done")

        def e_cancel_delete():
            slow = self.server("slow", ["--rate", "1"])
            emails = os.path.join(self.work, "emails40.csv")
            with open(emails, "w") as f:
                f.write("Name,Email\n")
                for i in range(40):
                    f.write(f"Person {i},person{i}.slow@example.com\n")
            ds = self.browser("slow")
            ds.get(slow.url)
            self.wait(ds, lambda drv: drv.find_elements(By.ID, "upload-section"), "the slow server's page")
            job = self.upload(ds, emails)
            self.check(self.mapping(ds) == ["email=Email"], f"guessed mapping for emails40.csv: {self.mapping(ds)}")
            self.wait(ds, lambda drv: self.plan(drv).get("checks") == "40", "the slow job's plan (40 checks)")
            self.click_start(ds, job)
            self.wait(ds, lambda drv: (self.job_state(drv, job) or {}).get("done", 0) >= 1,
                      "the slow job to check its first value", 60)
            self.shot(ds, "slow-running")
            self.job_button(ds, job, "job-cancel").click()
            self.wait_status(ds, job, ("cancelled",), "the status cancelled after Cancel", 30)
            counts = ds.find_element(By.CSS_SELECTOR, f"#job-{job} .job-counts").text
            self.check("pending" in counts, f"the cancelled job's counts show nothing pending: {counts!r}")
            self.shot(ds, "slow-cancelled")
            self.job_button(ds, job, "job-delete").click()
            WebDriverWait(ds, 5).until(lambda drv: drv.switch_to.alert)
            ds.switch_to.alert.accept()
            self.wait(ds, lambda drv: not drv.find_elements(By.ID, f"job-{job}"), "the deleted job to leave the list")
            ds.refresh()
            self.wait(ds, lambda drv: drv.find_elements(By.ID, "jobs-section"), "the page after a reload")
            time.sleep(1)
            self.check(not ds.find_elements(By.ID, f"job-{job}"), "the deleted job is back after a reload")
            self.shot(ds, "slow-deleted")

        def f_keyboard():
            d.get(main.base + "/")
            self.wait(d, lambda drv: drv.find_elements(By.ID, "dropzone"), "the page")
            self.tab_until(d, "function(e){return e.id==='dropzone'}", "the drop zone")
            self.assert_outlined(d, "keyboard on the drop zone")
            self.shot(d, "keyboard-dropzone-focused")
            # Enter on the drop zone opens the file chooser (intercepted: no native dialog here).
            self.js(d, """window.__chooser=0;document.getElementById('file').addEventListener('click',
                function(e){window.__chooser++;e.preventDefault();},{once:true});""")
            ActionChains(d).send_keys(Keys.ENTER).perform()
            self.check(self.js(d, "return window.__chooser") == 1, "Enter on the drop zone did not open the chooser")
            self.tab_until(d, "function(e){return e.id==='file'}", "the file input", 3)
            self.assert_outlined(d, "keyboard on the file input")
            job = self.upload(d, crm)  # the file chooser's job, done by WebDriver
            self.tab_until(d, "function(e){return e.id==='start'}", "the Start button")
            self.assert_outlined(d, "keyboard on Start")
            self.shot(d, "keyboard-start-focused")
            ActionChains(d).send_keys(Keys.ENTER).perform()
            self.wait_status(d, job, ("queued", "running", "done"), "the job started with Enter")
            self.wait_status(d, job, ("done",), "the keyboard job to finish", 180)
            self.shot(d, "keyboard-done")

        def g_narrow():
            d.set_window_size(400, 900)
            d.get(main.base + "/")
            self.wait(d, lambda drv: drv.find_elements(By.CSS_SELECTOR, "#jobs li.job"), "the job list")
            inner = self.js(d, "return window.innerWidth")
            if inner > 400:
                d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                  {"width": 400, "height": 900, "deviceScaleFactor": 1, "mobile": False})
                d.get(main.base + "/")
                self.wait(d, lambda drv: drv.find_elements(By.CSS_SELECTOR, "#jobs li.job"), "the job list")
                inner = self.js(d, "return window.innerWidth")
            self.check(inner <= 400, f"window.innerWidth is {inner} in a 400-px window")
            self.upload(d, crm)  # the mapping on a narrow screen too
            time.sleep(0.5)
            sw = self.js(d, "return document.documentElement.scrollWidth")
            self.shot(d, "narrow-400")
            self.check(sw <= inner, f"horizontal scroll at 400 px: scrollWidth {sw} > innerWidth {inner}")
            d.find_element(By.ID, "discard").click()
            self.wait(d, lambda drv: drv.find_element(By.ID, "mapping-section").get_attribute("hidden") is not None,
                      "the mapping to close after Discard")
            self.js(d, "window.scrollTo(0, document.body.scrollHeight)")
            sw = self.js(d, "return document.documentElement.scrollWidth")
            self.shot(d, "narrow-400-jobs")
            self.check(sw <= inner, f"horizontal scroll at 400 px (jobs): scrollWidth {sw} > innerWidth {inner}")
            try:
                d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
            except WebDriverException:
                pass
            d.set_window_size(1280, 1000)

        def h_chinese():
            dz = self.browser("zh", lang="zh-CN")
            dz.get(main.base + "/")
            self.wait(dz, lambda drv: drv.find_elements(By.ID, "token-form"), "the login page in Chinese")
            self.wait(dz, lambda drv: drv.find_element(By.TAG_NAME, "h1").text == "登录",
                      "the Chinese login heading 登录")
            self.shot(dz, "zh-login")
            dz.get(main.url)
            self.wait(dz, lambda drv: drv.find_elements(By.ID, "upload-section"), "the page in Chinese")
            self.wait(dz, lambda drv: drv.find_element(By.TAG_NAME, "h1").text == "检查客户名单",
                      "the Chinese heading 检查客户名单")
            self.check(self.js(dz, "return document.documentElement.lang") == "zh-CN", "html lang is not zh-CN")
            self.check(dz.find_element(By.ID, "jobs-heading").text == "我的任务", "the Chinese jobs heading")
            job = self.drop(dz, crm)
            self.check(dz.find_element(By.ID, "start").text == "开始", "the Chinese Start button")
            self.shot(dz, "zh-mapping")
            self.click_start(dz, job)
            self.wait_status(dz, job, ("done",), "the job to finish (Chinese page)", 180)
            self.check(dz.find_element(By.CSS_SELECTOR, f"#job-{job} .status").text == "已完成",
                       "the Chinese status 已完成")
            self.shot(dz, "zh-done")

        def i_users():
            users = os.path.join(self.work, "users.txt")
            self.run_cli(["serve", "--add-user", "alice", "--users", users],
                         stdin=b"correct horse battery\ncorrect horse battery\n", name="add-user")
            with open(users) as f:
                content = f.read()
            self.check(content.startswith("alice:") and "$argon2id$" in content, f"users file: {content!r}")
            self.check("correct horse" not in content, "the users file holds the password in clear")
            srv = self.server("users", ["--users", users, "--max-upload", "4KB"])
            du = self.browser("users")
            du.get(srv.base + "/")
            self.wait(du, lambda drv: drv.find_elements(By.ID, "users-form")
                      and drv.find_element(By.ID, "users-form").is_displayed(), "the users' login form")
            self.check(not du.find_element(By.ID, "token-form").is_displayed(), "the token form in users mode")
            self.shot(du, "users-login")
            du.find_element(By.ID, "name").send_keys("alice")
            du.find_element(By.ID, "password").send_keys("wrong password")
            du.find_element(By.CSS_SELECTOR, "#users-form button[type=submit]").click()
            self.wait(du, lambda drv: drv.find_elements(By.ID, "login-error")
                      and drv.find_element(By.ID, "login-error").is_displayed(), "the error after a wrong password")
            self.check(du.find_element(By.ID, "login-error").text == "Wrong name or password.",
                       f"wrong-password message: {du.find_element(By.ID, 'login-error').text!r}")
            self.shot(du, "users-wrong-password")
            du.find_element(By.ID, "name").clear()
            du.find_element(By.ID, "name").send_keys("alice")
            du.find_element(By.ID, "password").send_keys("correct horse battery")
            du.find_element(By.CSS_SELECTOR, "#users-form button[type=submit]").click()
            self.wait(du, lambda drv: drv.find_elements(By.ID, "upload-section"), "the page after logging in")
            self.check("alice" in du.find_element(By.CSS_SELECTOR, ".who").text, "the user's name on the page")
            self.shot(du, "users-logged-in")
            big = os.path.join(self.work, "big.csv")
            with open(big, "w") as f:
                f.write("email\n" + "".join(f"someone{i}@example.com\n" for i in range(400)))
            du.find_element(By.ID, "file").send_keys(big)
            self.wait(du, lambda drv: self.alert_text(drv), "the error of a too big upload in the alert area")
            self.check("--max-upload" in self.alert_text(du), f"the too-big upload's message: {self.alert_text(du)!r}")
            self.shot(du, "users-upload-too-big")
            du.find_element(By.CSS_SELECTOR, "form.logout button").click()
            self.wait(du, lambda drv: drv.find_elements(By.ID, "users-form"), "the login form after logging out")
            status, _, _ = self.http(srv.base + "/api/jobs", du.get_cookies())
            self.check(status == 401, f"after logging out GET /api/jobs answered {status}")
            self.shot(du, "users-logged-out")

        def j_csp():
            for drv in self.drivers:
                self.drain_console(drv)
            # A refused request (401, 400, 413: steps above ask for them) is logged as "Failed to
            # load resource"; anything else severe is a script error.
            bad = [(lbl, e) for lbl, e in self.console
                   if "Content Security Policy" in e.get("message", "")
                   or "Uncaught" in e.get("message", "")
                   or (e.get("level") == "SEVERE" and "Failed to load resource" not in e.get("message", ""))]
            for lbl, e in self.console:
                if e.get("level") in ("SEVERE", "WARNING"):
                    log(f"console ({lbl}) {e.get('level')}: {e.get('message')}")
            self.check(not bad, "console errors:\n" + "\n".join(f"  ({lbl}) {e.get('message')}" for lbl, e in bad))

        self.step("a: login page without the token", a_login_without_token)
        self.step("b: the printed URL opens the page", b_printed_url)
        self.step("c: upload, mapping, start, progress, download", c_upload_map_start_download)
        self.step("d: a workbook", d_workbook)
        self.step("e: cancel and delete a slow job", e_cancel_delete)
        self.step("f: keyboard only", f_keyboard)
        self.step("g: a 400-px-wide window", g_narrow)
        self.step("h: Simplified Chinese", h_chinese)
        self.step("i: named users", i_users)
        self.step("j: no CSP violation or script error", j_csp)

    def close(self):
        for d in self.drivers:
            try:
                d.quit()
            except Exception:
                pass
        problems = []
        for s in self.servers:
            try:
                s.stop()
            except Failure as e:
                problems.append(str(e))
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            log(f"kept {self.work}")
        return problems


def read_table(path):
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8-sig")
    first = text.split("\n", 1)[0]
    delim = max([",", ";", "\t", "|"], key=first.count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delim))
    return rows[0], rows[1:]


def compare_results(got_path, want_path):
    gh, grows = read_table(got_path)
    wh, wrows = read_table(want_path)
    if gh != wh:
        raise Failure(f"the downloaded result's columns differ from checkuser run's:\n  page: {gh}\n  run:  {wh}")
    if len(grows) != len(wrows):
        raise Failure(f"the downloaded result has {len(grows)} rows, checkuser run's {len(wrows)}")
    cols = [i for i, h in enumerate(gh) if h.endswith(COMPARED_SUFFIXES) or h in ("searchKey", "result")]
    inputs = [i for i, h in enumerate(gh) if "_" not in h]
    if not any(gh[i].endswith("_result") or gh[i] == "result" for i in cols):
        raise Failure(f"no result column in the download: {gh}")
    for n, (g, w) in enumerate(zip(grows, wrows), start=2):
        for i in cols + inputs:
            gv = g[i] if i < len(g) else ""
            wv = w[i] if i < len(w) else ""
            if gv != wv:
                raise Failure(f"line {n}, column {gh[i]}: the page's result says {gv!r}, checkuser run's {wv!r}")
    log(f"the download matches checkuser run: {len(grows)} rows, columns {[gh[i] for i in cols]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the checkuser binary")
    ap.add_argument("--artifacts", required=True, help="folder for the screenshots (PNG)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (servers' state, downloads)")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        print(f"serve_test: FAILED: --bin {args.bin} is not an executable", file=sys.stderr)
        return 2
    if not os.path.exists(CHROMEDRIVER):
        print(f"serve_test: FAILED: {CHROMEDRIVER} is missing (apt-get install chromium-driver)", file=sys.stderr)
        return 2
    test = Test(args)
    code = 0
    try:
        test.run()
    except Failure as e:
        print(f"serve_test: FAILED: {e}", file=sys.stderr)
        code = 1
    except Exception as e:  # a bug of the script or a browser crash: still a failure, with its trace
        import traceback
        traceback.print_exc()
        print(f"serve_test: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        code = 1
    finally:
        if code:
            for s in test.servers:
                print(f"--- stderr of server {s.name} (last lines) ---\n{s.stderr_text()}", file=sys.stderr)
        problems = test.close()
    for p in problems:
        print(f"serve_test: FAILED: {p}", file=sys.stderr)
        code = 1
    log(f"passed: {', '.join(s.split(':')[0] for s in test.passed) or 'none'}; screenshots in {test.artifacts}")
    if code == 0:
        log("all steps passed")
    return code


if __name__ == "__main__":
    sys.exit(main())
