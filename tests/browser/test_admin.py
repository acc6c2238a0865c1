#!/usr/bin/python3
"""The admin portal in a real browser against the stack that tests/run-test
started: the overview's figures and charts, searching and paging the users
with the state in the address bar (and the back button), a user's page,
a plan change and a key revoke made in the page and seen by the hot path,
a failed ledger row retried, a non-admin refused with no data, hostile
emails and key names shown as text, and the phone width.

The hot path caches keys for key_cache_ttl seconds (30 here); a change made
in the page names the user's keys in the host's shared region, so that
every worker of the host looks them up again at once: the tests allow
SEEN seconds, well under the cache's lifetime.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cdp import testid  # noqa: E402
from suite import (check, configure, ctl, eventually, http, page_errors,  # noqa: E402
                   ping, run, sql, url, user)

KEY_TTL = 30
SEEN = 3
ADMIN = None
PAGES = ("admin.html", "admin-users.html")


def setup():
    global ADMIN
    ADMIN = user("free", "admin%d@ops.test" % os.getpid())
    configure("flush_interval_ms = 200\nkey_cache_ttl = %d\nadmin_ids = %s\n" % (KEY_TTL, ADMIN))


def token(who):
    return ctl("token", "create", "--user", who, "--ttl", "3600")


def api(path, who=None):
    """(status, JSON) of a GET of the admin API as who (the admin)."""
    import json
    status, _, body = http(path, {"Authorization": "Bearer " + token(who or ADMIN)})
    return status, json.loads(body)


def open_as(b, page, who=None):
    """Opens a portal page signed in as who (the admin by default)."""
    b.navigate(url("/portal/%s#token=%s" % (page, token(who or ADMIN))))


def ready(b):
    """Waits until the page has drawn (no panel still loading)."""
    b.wait_until("document.querySelector('main h1') !== null && "
                 "document.querySelector('main [aria-busy]') === null", "the page to load")


def rows(b):
    """The users table's rows: email and plan as shown."""
    return b.evaluate("""[...document.querySelectorAll('%s')].map((r) => ({
        id: r.dataset.userId, email: r.querySelector('%s').textContent,
        plan: r.querySelector('%s').dataset.plan }))"""
                      % (testid("admin-user-row"), testid("admin-user-email"),
                         testid("admin-user-row-plan")))


def table_page(b, page):
    b.wait_until("document.querySelector('%s')?.dataset.page === '%s' && "
                 "document.querySelector('main [aria-busy]') === null"
                 % (testid("admin-users-table"), page), "page %s of the users" % page)


def drawn(b, name):
    """Waits for a chart to be drawn; returns its canvas's inked pixels."""
    b.wait_until("document.querySelector('%s')?.closest('.chart')?.dataset.state === 'drawn'"
                 % testid(name), "the chart %s" % name)
    return b.evaluate("""(() => {
        const c = document.querySelector('%s');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) ink++;
        return ink; })()""" % testid(name))


def chart_data(b, name):
    return b.evaluate("""(async () => {
        const m = await import('/javascript/chart.js/chart.esm.js');
        const ch = m.Chart.getChart(document.querySelector('%s'));
        return { title: ch.options.plugins.title.text, labels: ch.data.labels,
            series: ch.data.datasets.map((s) => [s.label, s.data]),
            stacked: !!ch.options.scales.y.stacked };
    })()""" % testid(name))


def no_dialogs(b):
    check(not any(e.get("method") == "Page.javascriptDialogOpening" for e in b.events),
          "a native dialog opened")


def test_overview(c):
    b = c.b
    u = user("pro")
    key = ctl("key", "create", "--user", u)
    for _ in range(6):
        check(ping(key) == 200, "ping refused")
    # The calls reach the raw rows within flush_interval_ms.
    eventually(lambda: api("/api/admin/analytics/daily?days=1")[1]["total"]["by_plan"]["pro"]["calls"] >= 6,
               "the calls in the daily figures")
    _, ov = api("/api/admin/analytics/overview")
    _, daily = api("/api/admin/analytics/daily?days=30")
    open_as(b, "admin.html")
    b.wait_for("admin-mrr")
    check(b.text(testid("admin-mrr")) == ov["mrr"]["formatted"],
          "MRR %r, the API says %r" % (b.text(testid("admin-mrr")), ov["mrr"]["formatted"]))
    check(b.text(testid("admin-users-total")) == "{:,}".format(ov["users"]["total"]), "users total")
    b.wait_for("nav-admin")
    check(b.evaluate("document.querySelector('%s').getAttribute('aria-current')" % testid("nav-admin"))
          == "page", "the Admin entry is not marked current")
    check(drawn(b, "admin-chart") > 2000, "the calls chart is blank")
    check(drawn(b, "admin-mrr-chart") > 1000, "the MRR chart is blank")
    got = chart_data(b, "admin-chart")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    check(len(got["labels"]) == 30 and got["labels"][-1] == today, "labels: %r" % got["labels"][-3:])
    check(got["stacked"] and [s[0] for s in got["series"]] == [p["name"] for p in daily["plans"]],
          "series: %r" % [s[0] for s in got["series"]])
    pro = dict(got["series"])["Pro"]
    check(pro[-1] >= 6, "today's Pro calls: %r" % pro[-1])
    check(b.text(testid("admin-daily-summary")).startswith(daily["from"]), "the summary")
    check(b.evaluate("document.querySelectorAll('%s tbody tr').length" % testid("admin-daily-table")) == 30,
          "the day-by-day table")
    plans = b.evaluate("[...document.querySelectorAll('%s tbody tr')].map(r => r.cells[0].textContent)"
                       % testid("admin-plans-table"))
    check(plans == [p["name"] for p in ov["users"]["by_plan"]], "plans: %r" % plans)
    errs = [e for e in page_errors(b)]
    check(errs == [], "browser errors: %r" % errs)
    c.shot("overview")


def test_search_paging_and_back(c):
    b = c.b
    tag = "pg%d" % time.monotonic_ns()
    for i in range(30):
        user("pro" if i % 3 == 0 else "free", "%s-%02d@%s.example" % (tag, i, tag))
    open_as(b, "admin-users.html")
    b.wait_for("admin-users-table")
    b.type(testid("admin-search"), tag)
    b.press("Enter", 13, "\r")
    b.wait_until("location.search.includes('search=%s')" % tag, "the search in the address")
    table_page(b, "1")
    b.wait_until("document.querySelector('%s').dataset.total === '30'" % testid("admin-users-table"),
                 "30 users found")
    first = rows(b)
    check(len(first) == 25 and all(tag in r["email"] for r in first), "page 1: %d rows" % len(first))
    c.shot("search")
    b.click(testid("admin-next-page"))
    b.wait_until("new URLSearchParams(location.search).get('page') === '2'", "page=2 in the address")
    table_page(b, "2")
    second = rows(b)
    check(len(second) == 5, "page 2: %d rows" % len(second))
    check(not set(r["id"] for r in first) & set(r["id"] for r in second), "pages overlap")
    check(b.evaluate("document.activeElement.tagName") == "H2", "the focus did not move to the results")
    # The back button returns to page 1, forward to page 2.
    b.evaluate("history.back()")
    b.wait_until("!location.search.includes('page=')", "page 1 in the address")
    table_page(b, "1")
    check([r["id"] for r in rows(b)] == [r["id"] for r in first], "back did not show page 1 again")
    check(b.evaluate("document.querySelector('%s').value" % testid("admin-search")) == tag,
          "the search box lost the search")
    b.evaluate("history.forward()")
    table_page(b, "2")
    # A bookmark: the address alone gives the same view, sorted and filtered.
    b.navigate(url("/portal/admin-users.html?search=%s&plan=pro&sort=email&order=desc" % tag))
    table_page(b, "1")
    pro = rows(b)
    want = sorted([r["email"] for r in first + second if r["plan"] == "pro"], reverse=True)
    check([r["email"] for r in pro] == want, "pro, by email descending: %r" % [r["email"] for r in pro])
    check(b.evaluate("document.querySelector('%s').value" % testid("admin-plan-filter")) == "pro",
          "the plan filter does not show the address's plan")
    # The plan filter changes the address too.
    b.evaluate("(() => { const s = document.querySelector('%s'); s.value = 'free';"
               " s.dispatchEvent(new Event('change')); })()" % testid("admin-plan-filter"))
    b.wait_until("new URLSearchParams(location.search).get('plan') === 'free'", "plan=free")
    b.wait_until("[...document.querySelectorAll('%s')].every(e => e.dataset.plan === 'free') && "
                 "document.querySelectorAll('%s').length === 20"
                 % (testid("admin-user-row-plan"), testid("admin-user-row")), "the free users")
    # A bad address gets the API's 400 and a way out.
    b.navigate(url("/portal/admin-users.html?page=abc"))
    b.wait_until("document.querySelector('.results')?.dataset.state === 'error'", "the error")
    check("must be an integer" in b.text(".results .error"), "error: %r" % b.text(".results .error"))
    check(page_errors(b) == [] or all("400" in e for e in page_errors(b)),
          "browser errors: %r" % page_errors(b))
    c.shot("bad-address")


def failed_row(u, customer):
    """A failed ledger row of u's, as a refused Stripe call leaves it."""
    period = time.strftime("%Y-%m-01", time.gmtime())
    sql("INSERT INTO eco_overage_ledger (user_id, period, calls_from, calls_to, amount_cents,"
        " stripe_customer_id, idempotency_key, state, attempts, last_error, created_at)"
        " VALUES ('%s', '%s', 101, 600, 50, '%s', 'ovg_test_%s_r1', 'failed', 2,"
        " 'No such customer: %s', UTC_TIMESTAMP())" % (u, period, customer, u, customer))


def test_user_page_and_retry(c):
    b = c.b
    u = user("pro")
    key = ctl("key", "create", "--user", u, "--name", "ci runner")
    for _ in range(4):
        check(ping(key) == 200, "ping refused")
    failed_row(u, "cus_portal%d" % os.getpid())
    # Pro calls reach the database within flush_interval_ms.
    page = eventually(lambda: (lambda p: p if p["period"]["calls"] == 4 else None)(
        api("/api/admin/users/" + u)[1]), "the 4 calls")
    open_as(b, "admin-user.html?id=" + u)
    b.wait_for("admin-user-plan")
    check(b.text(testid("admin-user-plan")) == "Pro", "plan: %r" % b.text(testid("admin-user-plan")))
    check(b.text(testid("admin-user-title")) == page["user"]["email"], "title")
    check(b.text(testid("admin-user-calls")) == "4", "calls: %r" % b.text(testid("admin-user-calls")))
    check(drawn(b, "admin-user-chart") > 1000, "the user's chart is blank")
    check(b.text(testid("admin-key-name")) == "ci runner", "key name")
    check(key not in b.evaluate("document.documentElement.outerHTML"), "the whole key is on the page")
    check(b.evaluate("document.querySelector('%s').dataset.state" % testid("admin-ledger-row")) == "failed",
          "the ledger row is not failed")
    check("No such customer" in b.text(testid("admin-ledger-table")), "the last error is not shown")
    c.shot("user")
    b.click(testid("admin-ledger-retry"))
    b.wait_for("confirm")
    c.shot("retry-confirm")
    b.click(testid("confirm"))
    b.wait_for("admin-notice")
    b.wait_until("document.querySelector('%s')?.dataset.state === 'pending'" % testid("admin-ledger-row"),
                 "the row to be pending")
    no_dialogs(b)
    _, after = api("/api/admin/users/" + u)
    check(after["ledger"][0]["state"] == "pending", "the API says %s" % after["ledger"][0]["state"])
    audit = [a for a in after["audit"] if a["action"] == "admin.ledger.retry"]
    check(len(audit) == 1 and audit[0]["actor"] == ADMIN and audit[0]["target"] == u and
          audit[0]["detail"]["to"] == "pending", "audit: %r" % audit)
    b.wait_until("document.querySelector('%s').textContent.includes('admin.ledger.retry')"
                 % testid("admin-audit-table"), "the audit row on the page")
    check(page_errors(b) == [], "browser errors: %r" % page_errors(b))
    c.shot("retried")


def test_plan_change_seen_by_hot_path(c):
    b = c.b
    u = user("free")
    key = ctl("key", "create", "--user", u)
    check(ping(key) == 200, "ping refused")
    # At the Free limit (the period's count is the database's).
    sql("UPDATE eco_usage_records SET api_calls = 1000 WHERE user_id = '%s'" % u)
    check(ping(key) == 429, "the Free user at its limit was not refused")
    open_as(b, "admin-user.html?id=" + u)
    b.wait_for("admin-set-plan")
    check(b.text(testid("admin-user-plan")) == "Free", "plan before")
    # The same plan is not a change.
    b.click(testid("admin-set-plan-submit"))
    b.wait_until("document.querySelector('%s').textContent !== ''" % testid("admin-plan-error"),
                 "the same-plan message")
    b.evaluate("document.querySelector('%s').value = 'pro'" % testid("admin-set-plan"))
    b.click(testid("admin-set-plan-submit"))
    b.wait_for("confirm")
    # Cancel changes nothing.
    b.click(testid("cancel"))
    check(b.evaluate("document.querySelector('%s') === null" % testid("confirm")), "the question stayed")
    check(api("/api/admin/users/" + u)[1]["user"]["plan"] == "free", "cancel changed the plan")
    b.evaluate("document.querySelector('%s').value = 'pro'" % testid("admin-set-plan"))
    b.click(testid("admin-set-plan-submit"))
    b.wait_for("confirm")
    c.shot("confirm")
    changed = time.monotonic()
    b.click(testid("confirm"))
    b.wait_for("admin-notice")
    b.wait_until("document.querySelector('%s')?.textContent === 'Pro'" % testid("admin-user-plan"),
                 "the page to say Pro")
    no_dialogs(b)
    eventually(lambda: ping(key) == 200, "the Pro user to be admitted", timeout=SEEN)
    print("  admitted %.1f s after the change (key_cache_ttl %d)" % (time.monotonic() - changed, KEY_TTL))
    _, page = api("/api/admin/users/" + u)
    check(page["plan"]["id"] == "pro" and page["period"]["limit"] == 100000 and
          page["period"]["revenue"]["cents"] == 4900, "period: %r" % page["period"])
    audit = [a for a in page["audit"] if a["action"] == "admin.user.plan"]
    check(len(audit) == 1 and audit[0]["actor"] == ADMIN and
          audit[0]["detail"] == {"from": "free", "to": "pro"}, "audit: %r" % audit)
    check("from: free, to: pro" in b.text(testid("admin-audit-table")), "the audit row is not on the page")
    c.shot("changed")


def test_spend_cap_set_by_admin(c):
    b = c.b
    u = user("pro")
    key = ctl("key", "create", "--user", u)
    sql("UPDATE eco_usage_records SET api_calls = 100000 WHERE user_id = '%s'" % u)
    check(ping(key) == 200, "the Pro user at its allowance was refused before any cap")
    open_as(b, "admin-user.html?id=" + u)
    b.wait_for("admin-set-cap")
    check("none" in b.text(testid("admin-spend-cap")), "cap before: %r" % b.text(testid("admin-spend-cap")))
    b.type(testid("admin-cap-input"), "ten")
    b.click(testid("admin-set-cap"))
    b.wait_until("document.querySelector('%s').textContent !== ''" % testid("admin-cap-error"),
                 "the amount message")
    b.evaluate("document.querySelector('%s').value = ''" % testid("admin-cap-input"))
    b.type(testid("admin-cap-input"), "0")
    b.click(testid("admin-set-cap"))
    b.wait_for("confirm")
    c.shot("confirm")
    b.click(testid("confirm"))
    b.wait_for("admin-notice")
    b.wait_until("document.querySelector('%s')?.textContent.includes('reached')" % testid("admin-spend-cap"),
                 "the page to say the cap is reached")
    eventually(lambda: ping(key) == 429, "the capped user to be refused", timeout=SEEN)
    no_dialogs(b)
    c.shot("capped")
    b.click(testid("admin-remove-cap"))
    b.wait_for("confirm")
    b.click(testid("confirm"))
    b.wait_for("admin-notice")
    eventually(lambda: ping(key) == 200, "the uncapped user to be served", timeout=SEEN)


def test_key_revoke_seen_by_hot_path(c):
    b = c.b
    u = user("pro")
    keep = ctl("key", "create", "--user", u, "--name", "keep")
    gone = ctl("key", "create", "--user", u, "--name", "revoke me")
    check(ping(keep) == 200 and ping(gone) == 200, "ping refused")
    open_as(b, "admin-user.html?id=" + u)
    b.wait_for("admin-key-row")
    kid = b.evaluate("[...document.querySelectorAll('%s')].find(r => r.querySelector('%s').textContent"
                     " === 'revoke me').dataset.keyId" % (testid("admin-key-row"), testid("admin-key-name")))
    row = '%s[data-key-id="%s"]' % (testid("admin-key-row"), kid)
    b.click("%s %s" % (row, testid("admin-key-revoke")))
    b.wait_for("confirm")
    check("revoke me" in b.text(".confirm"), "the question names another key: %r" % b.text(".confirm"))
    b.click(testid("confirm"))
    b.wait_for("admin-notice")
    b.wait_until("document.querySelector('%s')?.dataset.state === 'revoked' && [...document.querySelectorAll("
                 "'%s')].filter(r => r.dataset.state === 'active').length === 1" % (row, testid("admin-key-row")),
                 "the row to say revoked")
    no_dialogs(b)
    eventually(lambda: ping(gone) == 401, "the revoked key to be refused", timeout=SEEN)
    check(ping(keep) == 200, "the other key stopped working")
    audit = [a for a in api("/api/admin/users/" + u)[1]["audit"] if a["action"] == "key.revoke"]
    check(len(audit) == 1 and audit[0]["actor"] == ADMIN and audit[0]["target"] == u, "audit: %r" % audit)
    c.shot("revoked")


def test_non_admin_refused(c):
    b = c.b
    plain = user("pro")
    victim = user("pro", "victim%d@secret.test" % time.monotonic_ns())
    for page in PAGES + ("admin-user.html?id=" + victim,):
        open_as(b, page, plain)
        b.wait_for("admin-denied")
        check(b.text(testid("admin-denied") + " h1") == "Not authorised", "heading on %s" % page)
        text = b.evaluate("document.body.innerText")
        check("secret.test" not in text and "$" not in text, "data on %s: %r" % (page, text[:300]))
        check(b.evaluate("document.querySelector('main table, main canvas, %s') === null"
                         % testid("admin-mrr")), "data elements on %s" % page)
        check(b.evaluate("document.querySelector('%s').closest('li').hidden" % testid("nav-admin")),
              "the Admin entry shows on %s" % page)
    c.shot("denied")
    status, body = api("/api/admin/users/" + victim, plain)
    check(status == 403 and body["error"]["code"] == "forbidden", "the API: %d" % status)


def test_hostile_text(c):
    b = c.b
    mark = time.monotonic_ns()
    evil_email = "<img/src=x/onerror=window.__pwned=1>%d@evil.test" % mark
    evil_name = "<script>window.__pwned=1</script><b>bold</b>"
    u = user("pro", evil_email)
    key = ctl("key", "create", "--user", u, "--name", evil_name)
    check(ping(key) == 200, "ping refused")
    open_as(b, "admin-users.html?search=%d" % mark)
    b.wait_for("admin-user-row")
    check([r["email"] for r in rows(b)] == [evil_email], "rows: %r" % rows(b))
    clean = ("!window.__pwned && !document.querySelector('main img, main b, main script, svg')")
    check(b.evaluate(clean), "the email became markup on the users page")
    b.click(testid("admin-user-email"))
    b.wait_for("admin-key-row")
    check(b.text(testid("admin-user-title")) == evil_email, "title: %r" % b.text(testid("admin-user-title")))
    check(b.text(testid("admin-key-name")) == evil_name, "key name: %r" % b.text(testid("admin-key-name")))
    b.click(testid("admin-key-revoke"))
    b.wait_for("confirm")
    check(evil_name in b.text(".confirm"), "the question")
    check(b.evaluate(clean), "the email or key name became markup on the user's page")
    c.shot("hostile")


def test_narrow_no_sideways_scroll(c):
    b = c.b
    u = user("pro", "a-rather-long-address-%d@a-long-domain-name.example" % time.monotonic_ns())
    key = ctl("key", "create", "--user", u, "--name", "a-rather-long-key-name-" * 3)
    check(ping(key) == 200, "ping refused")
    failed_row(u, "cus_narrow")
    open_as(b, "admin.html")
    ready(b)
    for width in (1280, 390):
        b.set_width(width)
        for page in PAGES + ("admin-user.html?id=" + u,):
            b.navigate(url("/portal/" + page))
            ready(b)
            if "user.html" in page:
                b.click(testid("admin-ledger-retry"))
                b.wait_for("confirm")
            sw, vw = b.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            c.shot("%s-%d" % (page.split(".")[0], width))
            check(sw <= vw, "%s at %d px scrolls sideways (%d > %d)" % (page, width, sw, vw))


if __name__ == "__main__":
    sys.exit(run([
        test_overview,
        test_search_paging_and_back,
        test_user_page_and_retry,
        test_plan_change_seen_by_hot_path,
        test_spend_cap_set_by_admin,
        test_key_revoke_seen_by_hot_path,
        test_non_admin_refused,
        test_hostile_text,
        test_narrow_no_sideways_scroll,
    ], setup=setup))
