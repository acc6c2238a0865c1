#!/usr/bin/python3
"""The overage spend cap on the billing page, in a real browser: set a cap
in the page and see the hot path refuse past it, see how close the period
is, remove it after the in-page confirmation and see calls served again;
cancel keeps it; a bad amount and the API's refusal are shown next to the
form and change nothing; a plan without overage has nothing to cap; the
phone width.
"""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cdp import testid  # noqa: E402
from suite import (check, ctl, eventually, http, link, page_errors, ping, run,  # noqa: E402
                   sql, user)


def billing_page(b, u):
    b.navigate(link(u))
    b.wait_for("calls-used")
    b.click(testid("nav-billing"))
    b.wait_until("location.pathname.endsWith('/billing.html')", "the billing page")
    b.wait_for("cap-status")


def api_cap(u):
    """The cap as GET /api/billing/spend-cap gives it."""
    token = ctl("token", "create", "--user", u, "--ttl", "600")
    status, _, body = http("/api/billing/spend-cap", {"Authorization": "Bearer " + token})
    check(status == 200, "GET spend-cap: %d %r" % (status, body))
    return json.loads(body)


def set_amount(b, text):
    b.evaluate("document.querySelector('%s').value = ''" % testid("cap-amount"))
    b.type(testid("cap-amount"), text)
    b.click(testid("cap-save"))


def no_dialogs(b):
    check(not any(e.get("method") == "Page.javascriptDialogOpening" for e in b.events),
          "a native dialog opened")


def test_set_use_and_remove(c):
    b = c.b
    u = user("pro")
    key = ctl("key", "create", "--user", u)
    billing_page(b, u)
    check(b.text(testid("cap-status")).startswith("No cap"), "status: %r" % b.text(testid("cap-status")))
    c.shot("none")
    set_amount(b, "0.05")
    b.wait_for("cap-saved")
    check("$0.05" in b.text(testid("cap-saved")), "saved: %r" % b.text(testid("cap-saved")))
    check(b.text(testid("cap-status")) == "Cap: $0.05 of overage a month.",
          "status: %r" % b.text(testid("cap-status")))
    check(api_cap(u)["cap_cents"] == 5, "the API does not have the cap")
    # 100,000 included and 50 overage calls that $0.05 pays for: the next is refused.
    sql("UPDATE eco_usage_records SET api_calls = 100050, overage_calls = 50 "
        "WHERE user_id = '%s'" % u)
    check(ping(key) == 429, "a call past the cap was served")
    b.reload()
    b.wait_for("cap-reached")
    usage = b.text(testid("cap-usage"))
    check(usage.startswith("$0.05 of $0.05 spent") and "0 calls left of 100,050" in usage,
          "usage: %r" % usage)
    check(b.evaluate("document.querySelector('%s').value" % testid("cap-meter")) == 50, "the meter")
    c.shot("reached")
    # Removed after the question in the page: calls are served again.
    b.click(testid("cap-remove"))
    b.wait_for("cap-confirm")
    c.shot("confirm")
    b.click(testid("cap-confirm"))
    b.wait_until("document.querySelector('%s')?.textContent.startsWith('Removed')" % testid("cap-saved"),
                 "the removal to be said")
    check(b.text(testid("cap-status")).startswith("No cap"), "status: %r" % b.text(testid("cap-status")))
    check(api_cap(u)["cap_cents"] is None, "the API still has a cap")
    eventually(lambda: ping(key) == 200, "calls to be served without the cap", timeout=40)
    no_dialogs(b)
    check(page_errors(b) == [], "browser errors: %r" % page_errors(b))


def test_cancel_keeps_the_cap(c):
    b = c.b
    u = user("pro")
    billing_page(b, u)
    set_amount(b, "$1,250.5")
    b.wait_for("cap-saved")
    check(api_cap(u)["cap_cents"] == 125050, "cap: %r" % api_cap(u)["cap_cents"])
    b.click(testid("cap-remove"))
    b.wait_for("cap-cancel")
    b.click(testid("cap-cancel"))
    b.wait_until("document.querySelector('%s') === null" % testid("cap-confirm"), "the question to go")
    check(api_cap(u)["cap_cents"] == 125050, "cancel removed the cap")
    b.reload()
    b.wait_for("cap-usage")
    check(b.evaluate("document.querySelector('%s').value" % testid("cap-amount")) == "1250.50",
          "the form does not show the cap")
    no_dialogs(b)


def test_bad_amounts_change_nothing(c):
    b = c.b
    u = user("pro")
    billing_page(b, u)
    for bad in ("abc", "-5", "1.234", "2000000"):
        set_amount(b, bad)
        b.wait_until("document.querySelector('%s').textContent !== ''" % testid("cap-error"),
                     "the error for %r" % bad)
        check(api_cap(u)["cap_cents"] is None, "%r set a cap" % bad)
    # The API's refusal is shown too: the plan changed under the page.
    ctl("user", "set-plan", "--user", u, "--plan", "free")
    set_amount(b, "10")
    b.wait_until("document.querySelector('%s').textContent.includes('not changed')" % testid("cap-error"),
                 "the API's error")
    check("bills no overage" in b.text(testid("cap-error")), "error: %r" % b.text(testid("cap-error")))
    check(api_cap(u)["cap_cents"] is None, "a Free user got a cap")
    c.shot("error")


def test_free_plan_has_nothing_to_cap(c):
    b = c.b
    u = user("free")
    billing_page(b, u)
    check("nothing to cap" in b.text(testid("cap-status")), "status: %r" % b.text(testid("cap-status")))
    check(b.evaluate("document.querySelector('%s')" % testid("cap-amount")) is None, "a form for Free")


def test_cap_at_phone_width(c):
    b = c.b
    u = user("pro")
    b.set_width(390)
    billing_page(b, u)
    set_amount(b, "25")
    b.wait_for("cap-usage")
    b.click(testid("cap-remove"))
    b.wait_for("cap-confirm")
    sw, vw = b.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    c.shot("390")
    check(sw <= vw, "the billing page at 390 px scrolls sideways (%d > %d)" % (sw, vw))


if __name__ == "__main__":
    sys.exit(run([
        test_set_use_and_remove,
        test_cancel_keeps_the_cap,
        test_bad_amounts_change_nothing,
        test_free_plan_has_nothing_to_cap,
        test_cap_at_phone_width,
    ]))
