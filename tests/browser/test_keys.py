#!/usr/bin/python3
"""API keys in the portal, in a real browser: create a key in the page and
use it on the hot path, reload and find only its prefix, revoke it after
the in-page confirmation and see it refused, rotate with a grace period,
errors from the API, hostile names as text, the phone width.

Needs the key-management API (GET/POST /api/keys, POST /api/keys/{id}/rotate,
DELETE /api/keys/{id}); Makefile.am adds it to TESTS once that is there.
"""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cdp import testid  # noqa: E402
from suite import (check, ctl, eventually, link, page_errors, ping, run, url,  # noqa: E402
                   user)


def keys_page(b, u):
    b.navigate(link(u))
    b.wait_for("calls-used")
    b.click(testid("nav-keys"))
    b.wait_until("location.pathname.endsWith('/keys.html')", "the keys page")
    b.wait_for("keys-table")


def rows(b):
    """Each key row: its id, state, prefix and name as shown."""
    return b.evaluate("""[...document.querySelectorAll('%s')].map((r) => ({
        id: r.dataset.keyId, state: r.dataset.state,
        prefix: r.querySelector('%s').textContent,
        name: r.querySelector('%s').textContent }))"""
                      % (testid("key-row"), testid("key-prefix"), testid("key-row-name")))


def no_dialogs(b):
    check(not any(e.get("method") == "Page.javascriptDialogOpening" for e in b.events),
          "a native dialog opened")


def test_create_use_reload_revoke(c):
    b = c.b
    u = user("pro")
    keys_page(b, u)
    b.type(testid("key-name"), "ci runner")
    b.click(testid("key-create"))
    b.wait_for("key-new")
    key = b.text(testid("key-new"))
    check(key.startswith("nx_live_"), "new key: %r" % key)
    check("will not be shown again" in b.evaluate("document.querySelector('.newkey').innerText"),
          "no warning beside the new key")
    b.wait_for("key-copy")
    c.shot("created")
    check(ping(key) == 200, "the new key is refused")
    # After a reload only the prefix remains.
    b.reload()
    b.wait_for("key-row")
    r = rows(b)
    check(len(r) == 1 and r[0]["name"] == "ci runner", "rows: %r" % r)
    prefix = r[0]["prefix"].rstrip("…")
    check(len(prefix) >= 8 and key.startswith(prefix) and prefix != key, "prefix: %r" % prefix)
    check(key not in b.evaluate("document.documentElement.outerHTML"), "the whole key is on the page")
    check(b.evaluate("document.querySelector('%s')" % testid("key-new")) is None, "key-new after reload")
    check("second" in b.text(testid("key-bound")), "the revocation bound: %r" % b.text(testid("key-bound")))
    c.shot("reloaded")
    # Revoke, confirmed in the page.
    b.click(testid("key-revoke"))
    b.wait_for("confirm")
    c.shot("confirm")
    b.click(testid("confirm"))
    b.wait_until("document.querySelector('%s')?.dataset.state === 'revoked'" % testid("key-row"),
                 "the row to say revoked")
    b.wait_for("key-revoked")
    no_dialogs(b)
    eventually(lambda: ping(key) == 401, "the revoked key to be refused", timeout=40)
    check(page_errors(b) == [], "browser errors: %r" % page_errors(b))
    c.shot("revoked")


def test_cancel_keeps_the_key(c):
    b = c.b
    u = user("free")
    key = ctl("key", "create", "--user", u, "--name", "keep me")
    keys_page(b, u)
    b.wait_for("key-row")
    b.click(testid("key-revoke"))
    b.wait_for("confirm")
    b.click(testid("cancel"))
    b.wait_for("key-revoke")
    no_dialogs(b)
    check(rows(b)[0]["state"] == "active", "cancel revoked the key")
    check(ping(key) == 200, "the key stopped working")


def test_rotate_with_grace(c):
    b = c.b
    u = user("pro")
    old = ctl("key", "create", "--user", u, "--name", "to rotate")
    keys_page(b, u)
    b.wait_for("key-row")
    b.click(testid("key-rotate"))
    b.wait_for("confirm")
    b.evaluate("(() => { const s = document.querySelector('.confirm select'); s.value = '3600'; })()")
    b.click(testid("confirm"))
    b.wait_for("key-new")
    new = b.text(testid("key-new"))
    check(new.startswith("nx_live_") and new != old, "rotated key: %r" % new)
    b.wait_until("document.querySelectorAll('%s').length === 2" % testid("key-row"), "two rows")
    states = sorted(r["state"] for r in rows(b))
    check(states == ["active", "rotating"], "states: %r" % states)
    check(ping(new) == 200, "the new key is refused")
    check(ping(old) == 200, "the old key stopped inside its grace period")
    c.shot("rotated")


def test_expiry_and_api_errors(c):
    b = c.b
    u = user("pro")
    keys_page(b, u)
    expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
    b.type(testid("key-name"), "expiring")
    b.evaluate("document.querySelector('%s').value = '%s'" % (testid("key-expires"), expires))
    b.click(testid("key-create"))
    b.wait_for("key-new")
    b.wait_until("document.querySelectorAll('%s').length === 1" % testid("key-row"), "the row")
    check(expires in b.evaluate("document.querySelector('%s').innerText" % testid("key-row")),
          "the expiry is not shown")
    # The API's 400 is shown next to the form, and nothing is created.
    b.evaluate("document.querySelector('%s').value = '%s'" % (testid("key-name"), "x" * 101))
    b.click(testid("key-create"))
    b.wait_until("document.querySelector('%s').textContent !== ''" % testid("key-error"), "the error")
    check("not created" in b.text(testid("key-error")), "error: %r" % b.text(testid("key-error")))
    b.reload()
    b.wait_for("key-row")
    check(len(rows(b)) == 1, "a key was created from a bad name")
    c.shot("error")


def test_hostile_key_name_is_text(c):
    b = c.b
    evil = "<img src=x onerror=window.__pwned=1><b>bold</b>"
    u = user("pro")
    ctl("key", "create", "--user", u, "--name", evil)
    keys_page(b, u)
    b.wait_for("key-row")
    check(rows(b)[0]["name"] == evil, "name: %r" % rows(b)[0]["name"])
    b.click(testid("key-revoke"))
    b.wait_for("confirm")
    check(b.evaluate("!window.__pwned && !document.querySelector('main img, main b')"),
          "the name became markup")


def test_keys_at_phone_width(c):
    b = c.b
    u = user("pro")
    for i in range(3):
        ctl("key", "create", "--user", u, "--name", "key number %d with a longish name" % i)
    b.set_width(390)
    keys_page(b, u)
    b.wait_for("key-row")
    b.click(testid("key-create"))
    b.wait_for("key-new")
    sw, vw = b.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    c.shot("390")
    check(sw <= vw, "the keys page at 390 px scrolls sideways (%d > %d)" % (sw, vw))


if __name__ == "__main__":
    sys.exit(run([
        test_create_use_reload_revoke,
        test_cancel_keeps_the_key,
        test_rotate_with_grace,
        test_expiry_and_api_errors,
        test_hostile_key_name_is_text,
        test_keys_at_phone_width,
    ]))
