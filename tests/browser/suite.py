"""What the browser tests share: the stack that tests/run-test started
(NEXUS_URL, NEXUS_CONFIG), nexusctl, plain HTTP, screenshots, and a runner
that prints Check's summary line ("Checks: N, Failures: F, Errors: E") so
that dev.sh counts the cases.
"""

import glob
import os
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

import cdp

TOP_SRCDIR = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..", ".."))
TOP_BUILDDIR = os.environ.get("top_builddir", TOP_SRCDIR)
SHOTS = os.path.abspath(os.path.join(TOP_BUILDDIR, "tests", "browser", "shots"))


def url(path):
    return os.environ["NEXUS_URL"] + path


def ctl(*args):
    """Runs nexusctl on the test stack; returns its stdout, stripped."""
    r = subprocess.run([os.path.join(TOP_BUILDDIR, "src", "nexusctl"), *args],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("nexusctl %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout.strip()


def http(path, headers=None, method="GET"):
    """(status, headers, body) of a request; 4xx and 5xx do not raise."""
    req = urllib.request.Request(url(path), headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def sql(statement):
    """Runs one SQL statement of the test's own in the stack's database."""
    sock = os.path.join(os.environ["NEXUS_TEST_DIR"], "mysql.sock")
    subprocess.run(["mariadb", "--no-defaults", "--socket=" + sock, "-u", "root",
                    "nexus", "-e", statement], check=True, timeout=60)


def configure(lines):
    """Appends lines to the stack's config and restarts the workers."""
    with open(os.environ["NEXUS_CONFIG"], "a") as f:
        f.write(lines)
    stack = os.path.join(TOP_SRCDIR, "tests", "stack.sh")
    for cmd in ("workers-stop", "workers-start"):
        subprocess.run([stack, cmd, os.environ["NEXUS_TEST_DIR"]], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)


def user(plan="pro", email=None):
    """A new user; returns its eco_usr_ id."""
    email = email or "u%d.%d@portal.test" % (os.getpid(), time.monotonic_ns())
    args = ["user", "create", "--email", email, "--plan", plan]
    if plan == "pro":
        args += ["--stripe-customer", "cus_portal%d" % os.getpid()]
    return ctl(*args)


def link(user_id, ttl=3600):
    return ctl("token", "create", "--user", user_id, "--ttl", str(ttl), "--link")


def ping(key):
    return http("/api/secure/ping", {"X-API-Key": key})[0]


def eventually(fn, what, timeout=20.0):
    """Polls fn() until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.2)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Case:
    """What a test gets: its browser, and shot(label) to save what it sees."""

    def __init__(self, name, browser):
        self.name = name
        self.b = browser
        self.shots = 0

    def shot(self, label=None):
        self.shots += 1
        path = os.path.join(SHOTS, "%s-%s.png" % (self.name, label or "end"))
        try:
            self.b.screenshot(path)
            print("  screenshot: %s" % path)
        except Exception as e:
            print("  screenshot failed: %s" % e)


# Requests for endpoints the portal uses when the API has them.
OPTIONAL = ("/api/me", "/api/portal/config")


def page_errors(b):
    """The browser's errors, less the 404s of optional endpoints."""
    return [e for e in b.errors
            if not (" 404 " in e and any(p in e for p in OPTIONAL))]


def run(tests, setup=None):
    """Runs each test(case) in a fresh browser; prints Check's summary."""
    name = os.path.basename(sys.argv[0])
    if setup:
        setup()
    failures = errors = 0
    for t in tests:
        started = time.monotonic()
        for old in glob.glob(os.path.join(SHOTS, t.__name__ + "-*.png")):
            os.remove(old)
        try:
            with cdp.Browser() as b:
                c = Case(t.__name__, b)
                try:
                    t(c)
                finally:
                    if c.shots == 0:
                        c.shot()
            print("%s:%s: Passed (%.1f s)" % (name, t.__name__, time.monotonic() - started))
        except AssertionError as e:
            failures += 1
            here = os.path.abspath(sys.argv[0])
            line = [f.lineno for f in traceback.extract_tb(e.__traceback__)
                    if os.path.abspath(f.filename) == here][-1:] or [0]
            line = line[0]
            print("%s:%d:F:%s: %s" % (name, line, t.__name__, e))
        except Exception as e:
            errors += 1
            print("%s:0:E:%s: %s: %s" % (name, t.__name__, type(e).__name__, e))
            traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
    n = len(tests)
    print("%d%%: Checks: %d, Failures: %d, Errors: %d"
          % ((n - failures - errors) * 100 // max(n, 1), n, failures, errors))
    return 0 if failures == errors == 0 else 1
