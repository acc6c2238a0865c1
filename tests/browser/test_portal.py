#!/usr/bin/python3
"""The customer portal in a real browser (chromium-headless-shell over the
DevTools protocol) against the stack that tests/run-test started: signing
in through a link, the dashboard's figures and chart, the sign-in view for
expired and refused tokens, the phone width, the headers and the CSP, and
hostile input shown as text. Screenshots go to tests/browser/shots/.
"""

import base64
import json
import os
import re
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cdp import testid  # noqa: E402
from suite import (TOP_SRCDIR, check, configure, ctl, eventually, http, link,  # noqa: E402
                   page_errors, ping, run, sql, url, user)

TOKEN = "sessionStorage.getItem('nexus.portal.token')"
PAGES = ("", "billing.html", "keys.html")


def setup():
    # Pro calls reach the database within flush_interval_ms; a token's exp
    # is exact with no leeway, so that a test can wait one out.
    configure("flush_interval_ms = 200\njwt_leeway = 0\n")


def signed_in(b, lnk):
    b.navigate(lnk)
    b.wait_for("calls-used")


def calls_shown(b, want):
    """Reloads the dashboard until calls-used reads want."""
    def seen():
        b.reload()
        b.wait_for("calls-used")
        return b.text(testid("calls-used")) == want
    eventually(seen, "calls-used = %s" % want)


def page_ready(b):
    """Waits until the page has drawn (no panel still loading)."""
    b.wait_until("document.querySelector('main h1') !== null && "
                 "document.querySelector('main [aria-busy]') === null", "the page to load")


def test_signin_link(c):
    b = c.b
    u = user("pro")
    lnk = link(u)
    check(lnk.startswith(url("/portal/#token=")), "link: %s" % lnk)
    token = lnk.split("#token=", 1)[1]
    signed_in(b, lnk)
    for name in ("nav-usage", "nav-billing", "nav-keys", "signout"):
        b.wait_for(name)
    check(b.evaluate("document.querySelector('%s') === null" % testid("signin")),
          "the sign-in view is still there")
    check(b.evaluate(TOKEN) == token, "the token is not in sessionStorage")
    check(b.evaluate("localStorage.length") == 0, "something went to localStorage")
    check(b.evaluate("document.cookie") == "", "a cookie was set")
    check(b.text(testid("plan-name")) == "Pro", "plan: %r" % b.text(testid("plan-name")))
    c.shot("dashboard")
    b.click(testid("nav-billing"))
    b.wait_until("location.pathname.endsWith('/billing.html')", "the billing page")
    b.wait_for("overage-cost")
    check(b.text(testid("overage-cost")) == "$0.00", "overage: %r" % b.text(testid("overage-cost")))
    c.shot("billing")
    # Signing out forgets the token, also across a reload.
    b.click(testid("signout"))
    b.wait_for("signin")
    check(b.evaluate(TOKEN) is None, "the token outlived signing out")
    check(b.evaluate("document.querySelector('nav').hidden"), "the nav shows when signed out")
    b.reload()
    b.wait_for("signin")
    c.shot("signed-out")


def test_link_token_leaves_address_bar(c):
    b = c.b
    u = user("free")
    lnk = link(u)
    token = lnk.split("#token=", 1)[1]
    signed_in(b, lnk)
    check(b.evaluate("location.href") == url("/portal/"), "address bar: %s" % b.evaluate("location.href"))
    entries = b.send("Page.getNavigationHistory")["entries"]
    check(not any(token in e["url"] for e in entries), "the token is in the history")
    # A second link opened in the same tab: only the fragment changes.
    lnk2 = link(u, ttl=7200)
    b.navigate(lnk2)
    b.wait_until("location.hash === '' && %s === %s" % (TOKEN, json.dumps(lnk2.split("#token=", 1)[1])),
                 "the new token to be taken")
    b.wait_for("calls-used")
    check("token" not in b.evaluate("location.href"), "the second token stayed in the address bar")


def test_dashboard_counts_hot_path(c):
    b = c.b
    u = user("pro")
    key = ctl("key", "create", "--user", u, "--name", "hot path")
    for _ in range(7):
        check(ping(key) == 200, "ping refused")
    signed_in(b, link(u))
    calls_shown(b, "7")
    check(b.text(testid("calls-limit")) == "100,000", "limit: %r" % b.text(testid("calls-limit")))
    rows = b.evaluate("[...document.querySelectorAll('%s tbody tr')].map(r => r.innerText)"
                      % testid("endpoints-table"))
    check(len(rows) == 1 and "GET /api/secure/ping" in rows[0] and re.search(r"\b7\b", rows[0]),
          "endpoints: %r" % rows)
    check(b.evaluate("document.querySelector('progress').value") == 7, "the progress bar")
    c.shot("pro")
    # A Free user's calls are counted as they are admitted.
    f = user("free")
    fkey = ctl("key", "create", "--user", f)
    for _ in range(3):
        check(ping(fkey) == 200, "free ping refused")
    signed_in(b, link(f))
    calls_shown(b, "3")
    check(b.text(testid("calls-limit")) == "1,000", "free limit: %r" % b.text(testid("calls-limit")))
    c.shot("free")


def test_chart_drawn(c):
    b = c.b
    u = user("pro")
    key = ctl("key", "create", "--user", u)
    for _ in range(4):
        check(ping(key) == 200, "ping refused")
    signed_in(b, link(u))
    calls_shown(b, "4")
    b.wait_until("document.querySelector('.chart')?.dataset.state === 'drawn'", "the chart")
    got = b.evaluate("""(async () => {
        const c = document.querySelector('%s');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const want = getComputedStyle(document.documentElement).getPropertyValue('--accent').trim();
        const [r, g, b] = [1, 3, 5].map((i) => parseInt(want.slice(i, i + 2), 16));
        let ink = 0, bar = 0;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] > 0) ink++;
            if (d[i + 3] > 200 && Math.abs(d[i] - r) < 6 && Math.abs(d[i + 1] - g) < 6 &&
                Math.abs(d[i + 2] - b) < 6) bar++;
        }
        const m = await import('/javascript/chart.js/chart.esm.js');
        const ch = m.Chart.getChart(c);
        return { w: c.width, h: c.height, ink, bar,
            title: ch.options.plugins.title.text,
            x: ch.options.scales.x.title.text, y: ch.options.scales.y.title.text,
            labels: ch.data.labels, calls: ch.data.datasets[0].data,
            errors: ch.data.datasets[1].data };
    })()""" % testid("usage-chart"))
    check(got["w"] > 200 and got["h"] > 100, "canvas %dx%d" % (got["w"], got["h"]))
    check(got["ink"] > 2000, "the canvas is nearly blank (%d pixels)" % got["ink"])
    # Legend swatch and today's bar are in the accent colour.
    check(got["bar"] > 400, "no bar drawn (%d accent pixels)" % got["bar"])
    check(len(got["labels"]) == 30 and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in got["labels"]),
          "labels: %r" % got["labels"][:3])
    today = time.strftime("%Y-%m-%d", time.gmtime())
    check(got["labels"][-1] == today, "last day %s, today %s" % (got["labels"][-1], today))
    check(sum(got["calls"]) == 4 and got["calls"][-1] == 4, "calls: %r" % got["calls"])
    check("Calls per day" in got["title"] and "UTC" in got["title"], "title: %r" % got["title"])
    check("UTC" in got["x"] and "Calls" in got["y"], "axes: %r %r" % (got["x"], got["y"]))
    summary = b.text(testid("history-summary"))
    check("4 calls" in summary and today in summary, "summary: %r" % summary)
    check(b.evaluate("document.querySelectorAll('%s tbody tr').length" % testid("history-table")) == 30,
          "the day-by-day table")


def test_expired_token(c):
    b = c.b
    u = user("free")
    lnk = link(u, ttl=1)
    time.sleep(2.2)
    b.navigate(lnk)
    b.wait_for("signin")
    check(b.text(testid("signin") + " h1") == "Your sign-in has expired",
          "heading: %r" % b.text(testid("signin") + " h1"))
    check(b.evaluate(TOKEN) is None, "the expired token was kept")
    check(b.evaluate("document.querySelector('nav').hidden"), "the nav shows")
    check(b.evaluate("location.hash") == "", "the token stayed in the address bar")
    c.shot("expired")
    # A token that runs out while the page is open (its exp, plus a margin).
    short = link(u, ttl=8)
    signed_in(b, short)
    payload = short.split("#token=", 1)[1].split(".")[1]
    exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
    time.sleep(max(0.0, exp + 1.5 - time.time()))
    b.click(testid("nav-billing"))
    b.wait_for("signin")
    check(b.text(testid("signin") + " h1") == "Your sign-in has expired", "after expiry mid-session")
    # A token whose signature is not ours is refused.
    head, body, sig = link(u).split("#token=", 1)[1].split(".")
    forged = ".".join((head, body, sig[::-1]))
    b.navigate(url("/portal/#token=" + forged))
    b.wait_for("signin")
    check(b.text(testid("signin") + " h1") == "Your sign-in was refused", "forged token")


def test_paste_token_and_sign_out(c):
    b = c.b
    u = user("enterprise")
    b.navigate(url("/portal/"))
    b.wait_for("signin")
    check(b.evaluate("document.querySelector('[data-reason]').dataset.reason") == "none", "reason")
    c.shot("no-token")
    b.type("#paste-token", "not a token")
    b.click(testid("signin-submit"))
    b.wait_until("document.querySelector('.field-error')?.textContent.includes('not a token')",
                 "the paste error")
    b.evaluate("document.querySelector('#paste-token').value = ''")
    b.type("#paste-token", ctl("token", "create", "--user", u))
    b.click(testid("signin-submit"))
    b.wait_for("calls-used")
    check(b.text(testid("calls-limit")) == "unlimited", "enterprise limit")
    b.click(testid("nav-keys"))
    b.wait_until("location.pathname.endsWith('/keys.html')", "the keys page")
    b.wait_for("signout")
    b.click(testid("signout"))
    b.wait_for("signin")
    check(b.evaluate(TOKEN) is None, "signing out kept the token")
    b.navigate(url("/portal/billing.html"))
    b.wait_for("signin")


def test_narrow_no_sideways_scroll(c):
    b = c.b
    u = user("pro")
    key = ctl("key", "create", "--user", u, "--name", "a-rather-long-key-name-" * 4)
    check(ping(key) == 200, "ping refused")
    signed_in(b, link(u))
    for width in (1280, 390):
        b.set_width(width)
        for page in PAGES:
            b.navigate(url("/portal/" + page))
            page_ready(b)
            sw, vw = b.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            c.shot("%s-%d" % (page.replace(".html", "") or "usage", width))
            check(sw <= vw, "%s at %d px scrolls sideways (%d > %d)" % (page or "usage", width, sw, vw))
    b.send("Runtime.evaluate", expression="sessionStorage.clear()")
    b.navigate(url("/portal/"))
    b.wait_for("signin")
    sw, vw = b.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    c.shot("signin-390")
    check(sw <= vw, "the sign-in view at 390 px scrolls sideways")


def test_headers_and_csp(c):
    for path in ("/portal/", "/portal/billing.html", "/portal/keys.html", "/portal/portal.css",
                 "/portal/js/api.js", "/javascript/chart.js/chart.esm.js"):
        status, h, _ = http(path)
        check(status == 200, "%s: %d" % (path, status))
        csp = h.get("Content-Security-Policy", "")
        check("script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp,
              "%s CSP: %r" % (path, csp))
        check("frame-ancestors 'none'" in csp, "%s: frame-ancestors" % path)
        check(h.get("X-Content-Type-Options") == "nosniff", "%s: nosniff" % path)
        check(h.get("Referrer-Policy") == "no-referrer", "%s: Referrer-Policy" % path)
    check(http("/portal/js/api.js")[1].get_content_type() == "application/javascript", "module type")
    check(http("/portal/")[1].get_content_type() == "text/html", "page type")
    # The sources: no markup from strings, no inline script or handler, no
    # native dialogs, nothing from another origin.
    www = os.path.join(TOP_SRCDIR, "www")
    bad = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                     r"\balert\(|\bconfirm\(|\bprompt\(|localStorage|document\.cookie|https?://")
    for d, _, files in os.walk(www):
        for f in files:
            text = open(os.path.join(d, f), encoding="utf-8").read()
            if f.endswith(".html"):
                check(not re.search(r"<script(?![^>]*\bsrc=)", text), "%s: inline script" % f)
                check(not re.search(r"\son[a-z]+=|\sstyle=", text), "%s: inline handler or style" % f)
                check(not re.search(r"(src|href)=\"(https?:)?//", text), "%s: another origin" % f)
            if f.endswith(".js"):
                m = bad.search(text)
                check(m is None, "%s: %s" % (f, m and m.group(0)))
    # In the browser: every page runs under the CSP without a violation.
    b = c.b
    u = user("pro")
    signed_in(b, link(u))
    for page in PAGES:
        b.navigate(url("/portal/" + page))
        page_ready(b)
    b.wait_until("document.querySelector('.chart')?.dataset.state === 'drawn' || true", "")
    errs = [e for e in page_errors(b) if "/api/keys" not in e]
    check(errs == [], "browser errors: %r" % errs)
    check(b.evaluate("document.querySelectorAll('script:not([src])').length") == 0, "inline script")


def test_hostile_input_is_text(c):
    b = c.b
    evil_email = "<img/src=x/onerror=window.__pwned=1>%d@evil.test" % time.monotonic_ns()
    evil_name = "<script>window.__pwned=1</script><b>bold</b>"
    u = user("pro", evil_email)
    key = ctl("key", "create", "--user", u, "--name", evil_name)
    check(ping(key) == 200, "ping refused")
    # A route name is data from the database too.
    evil_route = "/<img src=x onerror=window.__pwned=1>"
    sql("INSERT INTO eco_api_usage (user_id, ts, event_id, key_id, method, endpoint, status,"
        " latency_us) VALUES ('%s', UTC_TIMESTAMP(3), UNHEX(MD5(RAND())), 0, 'GET', '%s', 500, 1234)"
        % (u, evil_route))
    token = ctl("token", "create", "--user", u)
    signed_in(b, url("/portal/#token=" + token))
    b.wait_for("endpoints-table")
    cells = b.evaluate("[...document.querySelectorAll('%s tbody code')].map(c => c.textContent)"
                       % testid("endpoints-table"))
    check("GET " + evil_route in cells, "endpoints: %r" % cells)
    c.shot("endpoints")
    clean = ("!window.__pwned && !document.querySelector('main img, main b, main script, "
             "header img, header b, svg')")
    for page in PAGES:
        b.navigate(url("/portal/" + page))
        page_ready(b)
        check(b.evaluate(clean), "markup from the data became elements on %s" % (page or "usage"))
    # Where the API gives the email and the keys, they are the very text typed.
    auth = {"Authorization": "Bearer " + token}
    if http("/api/me", auth)[0] == 200:
        b.navigate(url("/portal/"))
        b.wait_until("document.querySelector('%s').textContent !== ''" % testid("account"), "the account")
        check(b.text(testid("account")) == evil_email, "account: %r" % b.text(testid("account")))
    else:
        print("  (GET /api/me is not there yet: the email is not on the pages)")
    if http("/api/keys", auth)[0] == 200:
        b.navigate(url("/portal/keys.html"))
        b.wait_for("key-row")
        check(b.text(testid("key-row-name")) == evil_name, "key name: %r" % b.text(testid("key-row-name")))
    else:
        print("  (GET /api/keys is not there yet: key names are not on the pages)")
    c.shot("signed-in")
    # A crafted sign-in link is input too.
    b.navigate(url("/portal/#token=" + urllib.parse.quote('<img src=x onerror="window.__pwned=1">')))
    b.wait_for("signin")
    check(b.evaluate("document.querySelector('[data-reason]').dataset.reason") == "malformed", "reason")
    check(b.evaluate(clean), "the crafted link became markup")
    check("<img" not in b.evaluate("document.body.innerText"), "the crafted link is echoed")
    # And so is a pasted token.
    b.type("#paste-token", "<svg onload=window.__pwned=1>.a.b")
    b.click(testid("signin-submit"))
    b.wait_until("document.querySelector('.field-error')?.textContent !== ''", "the paste error")
    check(b.evaluate(clean), "the pasted text became markup")
    c.shot("crafted-link")


def test_keyboard_reaches_everything(c):
    b = c.b
    u = user("pro")
    signed_in(b, link(u))
    b.evaluate("document.activeElement.blur()")
    seen = []
    for _ in range(12):
        b.press("Tab", keycode=9)
        seen.append(b.evaluate("document.activeElement.dataset.testid || "
                               "document.activeElement.textContent.trim()"))
    for want in ("Skip to the content", "nav-usage", "nav-billing", "nav-keys", "signout"):
        check(want in seen, "%s is not reachable by Tab: %r" % (want, seen))
    check(seen.index("nav-usage") < seen.index("nav-billing") < seen.index("nav-keys") < seen.index("signout"),
          "tab order: %r" % seen)
    check(b.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none",
          "the focused element shows no focus ring")
    # Enter follows a focused link.
    b.evaluate("document.querySelector('%s').focus()" % testid("nav-billing"))
    b.press("Enter", keycode=13, text="\r")
    b.wait_until("location.pathname.endsWith('/billing.html')", "Enter on Billing")
    b.wait_for("plan-name")


if __name__ == "__main__":
    sys.exit(run([
        test_signin_link,
        test_link_token_leaves_address_bar,
        test_dashboard_counts_hot_path,
        test_chart_drawn,
        test_expired_token,
        test_paste_token_and_sign_out,
        test_narrow_no_sideways_scroll,
        test_headers_and_csp,
        test_hostile_input_is_text,
        test_keyboard_reaches_everything,
    ], setup=setup))
