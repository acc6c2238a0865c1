"""A small Chrome DevTools Protocol client for the browser tests.

Drives Debian's chromium-headless-shell over its DevTools WebSocket
(python3-websocket): launch with a fresh profile, navigate, evaluate, wait
for a data-testid, click, type, press keys, set the viewport width, take
screenshots. Every wait is bounded, and the browser is killed (its whole
process group) however the test ends.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import websocket

BROWSERS = ("chromium-headless-shell", "/usr/lib/chromium/chromium-headless-shell",
            "chromium", "google-chrome")


class BrowserError(Exception):
    """The browser did not do what was asked in time, or a script threw."""


def find_browser():
    """The browser to run: $NEXUS_BROWSER, else the first of BROWSERS found."""
    for name in (os.environ.get("NEXUS_BROWSER"),) + BROWSERS:
        if name and shutil.which(name):
            return shutil.which(name)
    raise BrowserError("no headless Chromium: install chromium-headless-shell "
                       "(./dev.sh deps)")


def testid(name):
    """The CSS selector of a data-testid."""
    return '[data-testid="%s"]' % name


class Browser:
    def __init__(self, width=1280, height=900, timeout=20.0):
        self.timeout = timeout
        self.events = []
        self.errors = []        # console errors, exceptions, CSP reports
        self.next_id = 0
        self.ws = None
        self.dir = tempfile.mkdtemp(prefix="nexus-browser.")
        args = [find_browser(),
                "--user-data-dir=" + self.dir,
                "--remote-debugging-port=0",
                "--headless", "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-sync",
                "--disable-breakpad",
                "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check",
                "--mute-audio", "--password-store=basic",
                "--window-size=%d,%d" % (width, height),
                "about:blank"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr, stderr=self.stderr,
                                     start_new_session=True)
        try:
            self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self):
        port_file = os.path.join(self.dir, "DevToolsActivePort")
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
            if self.proc.poll() is not None:
                raise BrowserError("the browser exited (status %s): see %s"
                                   % (self.proc.returncode, self.stderr.name))
            if time.monotonic() > deadline:
                raise BrowserError("the browser did not open its DevTools port")
            time.sleep(0.05)
        with open(port_file) as f:
            port = int(f.readline())
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                    timeout=self.timeout) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        if not pages:
            raise BrowserError("the browser has no page")
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"],
                                              timeout=self.timeout,
                                              suppress_origin=True)
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable")

    def close(self):
        """Kills the browser and removes its profile; safe to call twice."""
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:
                pass
            self.ws = None
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # The protocol: one command at a time; events are kept as they come.
    def _event(self, msg):
        self.events.append(msg)
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.errors.append("exception: %s" % d.get("exception", {}).get(
                "description", d.get("text")))
        elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
            self.errors.append("console: %s" % " ".join(
                str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            e = p["entry"]
            self.errors.append("log (%s): %s %s" % (e["source"], e["text"],
                                                    e.get("url", "")))

    def send(self, method, timeout=None, **params):
        """Runs one DevTools command; returns its result."""
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("%s: no answer in time" % method)
            self.ws.settimeout(left)
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                raise BrowserError("%s: no answer in time" % method)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise BrowserError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            self._event(msg)

    def wait_event(self, method, since=0, timeout=None):
        """The first event named method at or after index since."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for e in self.events[since:]:
                if e.get("method") == method:
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no %s in time" % method)
            self.ws.settimeout(left)
            try:
                self._event(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                raise BrowserError("no %s in time" % method)

    # What a test does.
    def navigate(self, url):
        """Loads url and waits for its load event (not for a hash change)."""
        mark = len(self.events)
        r = self.send("Page.navigate", url=url)
        if r.get("errorText"):
            raise BrowserError("navigate %s: %s" % (url, r["errorText"]))
        if r.get("loaderId"):
            self.wait_event("Page.loadEventFired", since=mark)

    def reload(self):
        mark = len(self.events)
        self.send("Page.reload", ignoreCache=True)
        self.wait_event("Page.loadEventFired", since=mark)

    def evaluate(self, expr):
        """The value of a JavaScript expression (promises are awaited)."""
        r = self.send("Runtime.evaluate", expression=expr, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError("script threw: %s" % d.get("exception", {}).get(
                "description", d.get("text")))
        return r["result"].get("value")

    def wait_until(self, expr, what, timeout=None):
        """Polls expr until it is truthy; returns its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                v = self.evaluate(expr)
            except BrowserError as e:
                # A page navigating away under the poll: ask the next one.
                if "navigated or closed" not in str(e):
                    raise
                v = None
            if v:
                return v
            if time.monotonic() > deadline:
                raise BrowserError("timed out waiting for %s" % what)
            time.sleep(0.1)

    def wait_for(self, name, timeout=None):
        """Waits until the element with data-testid name is shown."""
        sel = json.dumps(testid(name))
        self.wait_until("(() => { const e = document.querySelector(%s);"
                        " return !!e && e.getClientRects().length > 0; })()" % sel,
                        "data-testid=%s" % name, timeout)

    def text(self, selector):
        """The textContent of the first match, or None."""
        return self.evaluate("document.querySelector(%s)?.textContent ?? null"
                             % json.dumps(selector))

    def click(self, selector):
        """A real mouse click in the middle of the element."""
        box = self.evaluate("""(() => {
            const e = document.querySelector(%s);
            if (!e) return null;
            e.scrollIntoView({block: 'center'});
            const r = e.getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2];
        })()""" % json.dumps(selector))
        if box is None:
            raise BrowserError("nothing to click at %s" % selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1],
                      button="left", clickCount=1)

    def type(self, selector, text):
        """Focuses the element and types text into it."""
        if not self.evaluate("(() => { const e = document.querySelector(%s);"
                             " if (!e) return false; e.focus(); return true; })()"
                             % json.dumps(selector)):
            raise BrowserError("nothing to type into at %s" % selector)
        self.send("Input.insertText", text=text)

    def press(self, key, keycode=0, text=None, shift=False):
        """One key press: press("Tab", 9), press("Enter", 13, "\\r")."""
        down = {"type": "keyDown", "text": text} if text else {"type": "rawKeyDown"}
        for ev in (down, {"type": "keyUp"}):
            self.send("Input.dispatchKeyEvent", key=key, code=key,
                      windowsVirtualKeyCode=keycode, modifiers=8 if shift else 0,
                      **ev)

    def set_width(self, width, height=900):
        """Emulates a viewport width; below 600 px, as a phone."""
        self.send("Emulation.setDeviceMetricsOverride", width=width,
                  height=height, deviceScaleFactor=1, mobile=width < 600)

    def screenshot(self, path, full=True):
        """Saves a PNG of the page (all of it when full) to path."""
        params = {"format": "png"}
        if full:
            m = self.send("Page.getLayoutMetrics")["cssContentSize"]
            view = self.send("Page.getLayoutMetrics")["cssLayoutViewport"]
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "scale": 1,
                              "width": view["clientWidth"],
                              "height": min(m["height"], 8000)}
        data = self.send("Page.captureScreenshot", **params)["data"]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
