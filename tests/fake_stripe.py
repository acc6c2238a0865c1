#!/usr/bin/env python3
"""Fake Stripe for tests: the slice of the Stripe API that the biller uses, plus a control API.

    python3 tests/fake_stripe.py --port 0 --port-file /tmp/stripe.port [--secret-key sk_test_x] [--verbose]

Stripe API (https://stripe.com/docs/api), auth `Authorization: Bearer sk_test_...`:
    POST /v1/invoiceitems              create (form-encoded; Idempotency-Key honoured)
    GET  /v1/invoiceitems              list, newest first (customer, limit, starting_after, ending_before)
    GET  /v1/invoiceitems/{id}         retrieve

Control API (no auth, JSON in and out):
    GET  /_control/health              {"ok": true}
    GET  /_control/items[?customer=]   {"items": [...]}, oldest first
    GET  /_control/stats               request counters, max_rps, avg_rps_busy
    GET  /_control/fail                failure rules still pending
    POST /_control/reset               clear everything but latency/rate limit ({"all": true}: those too)
    POST /_control/config              {"latency_ms": 50, "rate_limit": 100}  (0 disables)
    POST /_control/fail                {"mode": "429"|"500"|"503"|"timeout"|"drop"|"drop_after_store",
                                        "count": 1, "customer": "cus_..", "retry_after": 1, "should_retry": true}
    POST /_control/missing_customer    {"customer": "cus_..."}
    POST /_control/null_ids            {"customer": "cus_..."}: its items are listed with "id": null
    POST /_control/expire_idempotency  forget idempotency keys, keep items

Python 3 standard library only.
"""

import argparse
import base64
import collections
import json
import os
import re
import secrets
import signal
import string
import sys
import threading
import time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = 64 * 1024          # larger request bodies get 413
TIMEOUT_SLEEP_S = 30          # how long the "timeout" failure mode stalls
MAX_AMOUNT = 99_999_999       # Stripe caps amounts at 8 digits ($999,999.99)
FAIL_MODES = ("429", "500", "503", "timeout", "drop", "drop_after_store")
ALNUM = string.ascii_letters + string.digits
INT_RE = re.compile(r"-?[0-9]+")
ITEM_PARAMS = {"customer", "amount", "currency", "description", "discountable",
               "quantity", "unit_amount_decimal", "period[start]", "period[end]"}
LIST_PARAMS = {"customer", "limit", "starting_after", "ending_before"}
STAT_KEYS = ("requests_total", "invoiceitem_posts", "items_created", "replays", "idempotency_conflicts",
             "sent_429", "sent_5xx", "timeouts", "drops", "max_rps")


def rand_id(prefix, n):
    return prefix + "".join(secrets.choice(ALNUM) for _ in range(n))


def stripe_error(etype, message, code=None, param=None):
    """Stripe's error envelope: {"error": {"type", "message", ["code"], ["param"]}}."""
    err = {"type": etype, "message": message}
    if code:
        err["code"] = code
    if param:
        err["param"] = param
    return {"error": err}


RATE_LIMIT_BODY = stripe_error(
    "invalid_request_error",
    "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
    code="rate_limit")
API_ERROR_BODY = stripe_error(
    "api_error", "An unknown error occurred while processing your request. Please retry it.")


class ApiError(Exception):
    """A 4xx answer found while validating a request."""

    def __init__(self, message, code=None, param=None, status=400):
        super().__init__(message)
        self.status, self.body = status, stripe_error("invalid_request_error", message, code, param)


def missing(param):
    return ApiError(f"Missing required param: {param}.", "parameter_missing", param)


def parse_int(params, name, lo=None, hi=None):
    v = params[name]
    if not INT_RE.fullmatch(v):
        raise ApiError(f"Invalid integer: {v[:100]}", "parameter_invalid_integer", name)
    n = int(v)
    if lo is not None and n < lo:
        raise ApiError(f"This value must be greater than or equal to {lo}.", "parameter_invalid_integer", name)
    if hi is not None and n > hi:
        raise ApiError(f"This value must be less than or equal to {hi}.", "parameter_invalid_integer", name)
    return n


def mask_key(key):
    """Stripe never echoes a secret key: it shows the sk_test_/sk_live_ prefix and the last 4 characters."""
    prefix = key[:8] if re.match(r"[sr]k_(test|live)_", key) else ""
    tail = key[-4:] if len(key) >= len(prefix) + 12 else ""
    return prefix + "*" * min(len(key) - len(prefix) - len(tail), 24) + tail


def build_invoiceitem(pairs):
    """Validate POST /v1/invoiceitems form parameters and build the new invoiceitem object (no id yet)."""
    p, metadata = {}, {}
    for k, v in pairs:
        if k.startswith("metadata[") and k.endswith("]") and len(k) > 10:
            mkey = k[9:-1]
            # Stripe's metadata limits: keys up to 40 chars, values up to 500, 50 keys at most.
            if len(mkey) > 40:
                raise ApiError("Metadata keys can have up to 40 characters.", "parameter_invalid_string_too_long", k)
            if len(v) > 500:
                raise ApiError("Metadata values can have up to 500 characters.", "parameter_invalid_string_too_long", k)
            if v:
                metadata[mkey] = v
            else:
                metadata.pop(mkey, None)  # an empty value unsets a metadata key in Stripe
        elif k in ITEM_PARAMS:
            p[k] = v  # last value wins
        else:
            raise ApiError(f"Received unknown parameter: {k[:100]}", "parameter_unknown", k[:100])
    if len(metadata) > 50:
        raise ApiError("You can have at most 50 metadata keys.", "parameter_invalid_metadata", "metadata")
    for name in ("customer", "currency"):
        if not p.get(name):
            raise missing(name)
    if not re.fullmatch(r"[A-Za-z]{3}", p["currency"]):
        raise ApiError(f"Invalid currency: {p['currency'][:100]}.", "parameter_invalid", "currency")

    # Either `amount` (integer, smallest currency unit; negative = credit), or `unit_amount_decimal`
    # with an optional `quantity`, as Stripe accepts.
    if "amount" in p and "unit_amount_decimal" in p:
        raise ApiError("You may only specify one of these parameters: amount, unit_amount_decimal.",
                       "parameter_invalid", "amount")
    quantity = parse_int(p, "quantity", 0) if "quantity" in p else 1
    if "amount" in p:
        if quantity != 1:
            raise ApiError("You may only specify one of these parameters: amount, quantity.",
                           "parameter_invalid", "quantity")
        amount = parse_int(p, "amount", -MAX_AMOUNT, MAX_AMOUNT)
        unit = Decimal(amount)
    elif "unit_amount_decimal" in p:
        try:
            unit = Decimal(p["unit_amount_decimal"])
            if not unit.is_finite() or unit.as_tuple().exponent < -12:
                raise InvalidOperation
        except InvalidOperation:
            raise ApiError(f"Invalid decimal: {p['unit_amount_decimal'][:100]}", "parameter_invalid",
                           "unit_amount_decimal") from None
        amount = int((unit * quantity).to_integral_value(ROUND_HALF_UP))
        if abs(amount) > MAX_AMOUNT:
            raise ApiError(f"This value must be less than or equal to {MAX_AMOUNT}.", "parameter_invalid",
                           "unit_amount_decimal")
    else:
        raise missing("amount")

    now = int(time.time())
    if "period[start]" in p or "period[end]" in p:  # Stripe wants both or neither
        for name in ("period[start]", "period[end]"):
            if name not in p:
                raise missing(name)
        start, end = parse_int(p, "period[start]", 0), parse_int(p, "period[end]", 0)
        if end < start:
            raise ApiError("The period end must be greater than or equal to the period start.",
                           "parameter_invalid", "period[end]")
    else:
        start = end = now  # Stripe defaults the period to the creation time
    discountable = p.get("discountable", "true")
    if discountable not in ("true", "false"):
        raise ApiError(f"Invalid boolean: {discountable[:100]}", "parameter_invalid_boolean", "discountable")

    unit_str = format(unit.normalize(), "f") if unit != 0 else "0"
    return {
        # Shape of Stripe's invoiceitem (see /work/shared/stripe/invoiceitem.json), plus the older
        # unit_amount / unit_amount_decimal fields that many API versions still return.
        "id": None,
        "object": "invoiceitem",
        "amount": amount,
        "currency": p["currency"].lower(),
        "customer": p["customer"],
        "customer_account": None,
        "date": now,
        "description": p.get("description") or None,
        "discountable": discountable == "true",
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": metadata,
        "net_amount": amount,
        "parent": None,  # only set for items generated by a subscription
        "period": {"end": end, "start": start},
        "pricing": {"price_details": None, "type": "price_details", "unit_amount_decimal": unit_str},
        "proration": False,
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": None,
        "tax_rates": [],
        "test_clock": None,
        "unit_amount": int(unit) if unit == unit.to_integral_value() else None,
        "unit_amount_decimal": unit_str,
    }


class State:
    """Everything shared between request threads; guarded by self.lock (never held while sleeping)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset(everything=True)

    def reset(self, everything=False):
        self.items = []                        # oldest first; index = creation order
        self.index = {}                        # item id -> position in self.items
        self.idem = {}                         # (api key, Idempotency-Key) -> saved first response
        self.in_flight = set()                 # (api key, Idempotency-Key) being processed right now
        self.rules = []                        # pending failure injections, consumed in order
        self.missing_customers = set()
        self.null_id_customers = set()         # their items are listed with "id": null
        self.window = collections.deque()      # start times of admitted /v1 requests (rate limiter)
        self.post_window = collections.deque()  # POST /v1/invoiceitems times in the last second
        self.first_post = self.last_post = None
        self.stats = dict.fromkeys(STAT_KEYS, 0)
        if everything:
            self.latency_ms, self.rate_limit = 0, 0

    def admit(self, now):
        """Rate limiter: at most rate_limit /v1 requests admitted in any rolling one-second window."""
        if self.rate_limit <= 0:
            return True
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        if len(self.window) >= self.rate_limit:
            return False
        self.window.append(now)
        return True

    def note_post(self, now):
        self.stats["invoiceitem_posts"] += 1
        if self.first_post is None:
            self.first_post = now
        self.last_post = now
        self.post_window.append(now)
        while self.post_window[0] <= now - 1.0:
            self.post_window.popleft()
        self.stats["max_rps"] = max(self.stats["max_rps"], len(self.post_window))

    def take_rule(self, customer):
        """Consume one failure injection matching this request's customer, if any."""
        for rule in self.rules:
            if rule["customer"] in (None, customer):
                rule["count"] -= 1
                if rule["count"] <= 0:
                    self.rules.remove(rule)
                return rule
        return None

    def snapshot_stats(self):
        s = dict(self.stats)
        busy = (self.last_post - self.first_post) if self.first_post is not None else 0.0
        posts = s["invoiceitem_posts"]
        s["avg_rps_busy"] = round(posts / busy, 2) if busy > 0 else float(posts)
        s["latency_ms"], s["rate_limit"] = self.latency_ms, self.rate_limit
        s["pending_fail_rules"] = sum(r["count"] for r in self.rules)
        return s


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, so libcurl can reuse connections
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    timeout = 300                   # reclaim idle keep-alive connections eventually

    def version_string(self):       # "Server:" header
        return "fake-stripe/1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    # ---------------------------------------------------------------- plumbing

    def _send(self, status, obj, headers=()):
        body = obj if isinstance(obj, bytes) else to_json(obj)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _delay(self):
        """Configured latency, applied once per API request, outside the lock."""
        if not self.delayed:
            self.delayed = True
            with self.state.lock:
                ms = self.state.latency_ms
            if ms > 0:
                time.sleep(ms / 1000.0)

    def _reply(self, status, obj, headers=(), request_id=None):
        """Answer an API request the way Stripe does: after the latency, with a Request-Id header."""
        self._delay()
        if status == 429 or status >= 500:
            with self.state.lock:
                self.state.stats["sent_429" if status == 429 else "sent_5xx"] += 1
        self._send(status, obj, [("Request-Id", request_id or rand_id("req_", 14)), *headers])

    def _drop(self):
        """Close the connection without answering (libcurl sees 'Empty reply from server')."""
        self.close_connection = True

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(411, stripe_error("invalid_request_error", "Send a Content-Length, not a chunked body."))
            return None
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if n < 0:
            self.close_connection = True
            self._send(400, stripe_error("invalid_request_error", "Invalid Content-Length."))
            return None
        if n > MAX_BODY:
            self._too_large()
            return None
        return self.rfile.read(n)

    def _too_large(self):
        self.close_connection = True  # the body is left unread
        self._send(413, stripe_error("invalid_request_error", f"Request body larger than {MAX_BODY} bytes."))

    def handle_expect_100(self):
        # libcurl sends "Expect: 100-continue" for larger bodies; refuse oversized ones before they are sent.
        try:
            too_big = int(self.headers.get("Content-Length") or 0) > MAX_BODY
        except ValueError:
            too_big = False
        if too_big:
            self._too_large()
            return False
        return super().handle_expect_100()

    def _dispatch(self):
        self.state = self.server.state
        self.delayed = False
        url = urlsplit(self.path)
        self.query = parse_qsl(url.query, keep_blank_values=True)
        body = self._read_body()
        if body is None:
            return
        if url.path.startswith("/_control/"):
            self._control(url.path[len("/_control/"):], body)
        elif url.path == "/v1" or url.path.startswith("/v1/"):
            self._api(url.path, body)
        else:
            self._send(404, unrecognized(self.command, url.path))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    # ---------------------------------------------------------------- Stripe API

    def _api(self, path, body):
        st = self.state
        now = time.monotonic()
        with st.lock:
            st.stats["requests_total"] += 1
            if self.command == "POST" and path == "/v1/invoiceitems":
                st.note_post(now)
            admitted = st.admit(now)
        if not admitted:
            return self._reply(429, RATE_LIMIT_BODY, [("Retry-After", "1")])
        api_key = self._authenticate()
        if api_key is None:
            return
        m = re.fullmatch(r"/v1/invoiceitems(?:/([^/]+))?", path)
        if not m:
            return self._reply(404, unrecognized(self.command, path))
        allowed = ("GET", "POST") if m.group(1) is None else ("GET",)
        if self.command not in allowed:
            return self._reply(405, unrecognized(self.command, path), [("Allow", ", ".join(allowed))])
        if m.group(1):
            return self._retrieve(m.group(1))
        if self.command == "GET":
            return self._list()
        return self._create(api_key, body)

    def _authenticate(self):
        scheme, _, cred = self.headers.get("Authorization", "").strip().partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = cred.strip()
        elif scheme.lower() == "basic":  # Stripe also takes the key as Basic-auth user name (curl -u sk_..:)
            try:
                key = base64.b64decode(cred.strip(), validate=True).decode().partition(":")[0]
            except ValueError:  # bad base64 or UTF-8
                key = ""
        secret = self.server.secret_key
        if key and (key == secret if secret else key.startswith("sk_test_") and len(key) > 8):
            return key
        if not key:
            msg = ("You did not provide an API key. You need to provide your API key in the Authorization "
                   "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
        else:
            msg = f"Invalid API Key provided: {mask_key(key)}"
        self._reply(401, stripe_error("invalid_request_error", msg), [("WWW-Authenticate", 'Bearer realm="Stripe"')])
        return None

    def _create(self, api_key, body):
        st = self.state
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype not in ("", "application/x-www-form-urlencoded"):
            return self._reply(400, stripe_error(
                "invalid_request_error",
                f"Invalid Content-Type {ctype[:100]}: the Stripe API takes application/x-www-form-urlencoded bodies."))
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        ikey = self.headers.get("Idempotency-Key")
        if ikey is not None and len(ikey) > 255:
            return self._reply(400, stripe_error(
                "invalid_request_error", "Idempotency-Key header cannot be longer than 255 characters.",
                param="Idempotency-Key"))
        # Validation failures happen before execution starts, so (like Stripe) nothing is saved for the key.
        try:
            item = build_invoiceitem(pairs)
        except ApiError as e:
            return self._reply(e.status, e.body)

        with st.lock:
            rule = st.take_rule(item["customer"])
        if rule and rule["mode"] != "drop_after_store":
            return self._inject(rule)  # never reached "Stripe": nothing stored, key not remembered
        after_store_drop = rule is not None

        slot = (api_key, ikey) if ikey else None
        fingerprint = ("POST", "/v1/invoiceitems", sorted(pairs))  # parameter multiset, not raw body order
        with st.lock:
            saved = st.idem.get(slot) if slot else None
            busy = slot in st.in_flight if slot and not saved else False
            if saved and saved["fingerprint"] == fingerprint:
                st.stats["replays"] += 1
            elif saved or busy:
                st.stats["idempotency_conflicts"] += 1
            elif slot:
                st.in_flight.add(slot)
        if saved:
            if saved["fingerprint"] != fingerprint:
                return self._reply(400, stripe_error(
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{ikey}' if you meant to execute a different request."))
            # Stripe replays the saved status and body, flagged with Idempotent-Replayed.
            if after_store_drop:
                return self._drop_counted()
            return self._reply(saved["status"], saved["body"],
                               [("Idempotent-Replayed", "true"), ("Original-Request", saved["request_id"])])
        if busy:
            return self._reply(409, stripe_error(
                "idempotency_error",
                "There is currently another in-progress request using this idempotency key (that probably means "
                f"you submitted twice, and the other request is still going through): '{ikey}'. "
                "Please try again later.", code="idempotency_key_in_use"))

        request_id = rand_id("req_", 14)
        try:
            self._delay()  # latency while the key is in progress, so a concurrent retry sees 409
            with st.lock:
                if item["customer"] in st.missing_customers:
                    status, obj = 400, stripe_error("invalid_request_error",
                                                    f"No such customer: '{item['customer']}'",
                                                    "resource_missing", "customer")
                else:
                    item["id"] = rand_id("ii_", 24)
                    st.index[item["id"]] = len(st.items)
                    st.items.append(item)
                    st.stats["items_created"] += 1
                    status, obj = 200, item
                body_bytes = to_json(obj)
                if slot:  # execution began, so Stripe saves the result (errors included) for the key
                    st.idem[slot] = {"fingerprint": fingerprint, "status": status, "body": body_bytes,
                                     "request_id": request_id}
        finally:
            if slot:
                with st.lock:
                    st.in_flight.discard(slot)
        if after_store_drop:
            return self._drop_counted()  # stored, but the client never hears about it
        self._reply(status, body_bytes, request_id=request_id)

    def _drop_counted(self):
        with self.state.lock:
            self.state.stats["drops"] += 1
        self._delay()
        self._drop()

    def _inject(self, rule):
        mode, headers = rule["mode"], []
        if rule.get("should_retry") is not None:
            headers.append(("Stripe-Should-Retry", "true" if rule["should_retry"] else "false"))
        if mode == "429":
            headers.append(("Retry-After", str(rule.get("retry_after") or 1)))
            return self._reply(429, RATE_LIMIT_BODY, headers)
        if mode in ("500", "503"):
            return self._reply(int(mode), API_ERROR_BODY, headers)
        if mode == "drop":
            return self._drop_counted()
        # "timeout": stall (this thread only) far past any sane client timeout, then give up with an error.
        with self.state.lock:
            self.state.stats["timeouts"] += 1
        time.sleep(TIMEOUT_SLEEP_S)
        self._send(500, API_ERROR_BODY, [("Request-Id", rand_id("req_", 14)), *headers])

    def _list(self):
        st, q = self.state, {}
        for k, v in self.query:
            if k not in LIST_PARAMS:
                return self._reply(400, ApiError(f"Received unknown parameter: {k[:100]}",
                                                 "parameter_unknown", k[:100]).body)
            q[k] = v
        try:
            limit = parse_int(q, "limit", 1, 100) if "limit" in q else 10
        except ApiError as e:
            return self._reply(e.status, e.body)
        if "starting_after" in q and "ending_before" in q:
            return self._reply(400, ApiError("You may only specify one of these parameters: ending_before, "
                                             "starting_after.", "parameter_invalid", "ending_before").body)
        with st.lock:
            status, obj = self._list_page(st, q, limit)
        self._reply(status, obj)

    @staticmethod
    def _list_page(st, q, limit):
        """One page of the list, newest first as Stripe lists; cursors are ids, ordered by creation."""
        customer = q.get("customer")
        if customer in st.missing_customers:
            err = ApiError(f"No such customer: '{customer}'", "resource_missing", "customer")
            return err.status, err.body
        picked = [i for i, it in enumerate(st.items) if not customer or it["customer"] == customer]
        cursor = next((c for c in ("starting_after", "ending_before") if c in q), None)
        pos = st.index.get(q[cursor]) if cursor else None
        if cursor and pos is None:
            err = ApiError(f"No such invoiceitem: '{q[cursor][:100]}'", "resource_missing", cursor)
            return err.status, err.body
        if cursor == "ending_before":  # the `limit` items just newer than the cursor
            newer = [i for i in picked if i > pos]
            page, has_more = newer[:limit][::-1], len(newer) > limit
        else:
            older = [i for i in picked if pos is None or i < pos][::-1]
            page, has_more = older[:limit], len(older) > limit
        data = [dict(st.items[i], id=None) if st.items[i]["customer"] in st.null_id_customers else st.items[i]
                for i in page]
        return 200, to_json({"object": "list", "data": data, "has_more": has_more, "url": "/v1/invoiceitems"})

    def _retrieve(self, item_id):
        with self.state.lock:
            pos = self.state.index.get(item_id)
            body = to_json(self.state.items[pos]) if pos is not None else None
        if body is None:
            return self._reply(404, stripe_error("invalid_request_error", f"No such invoiceitem: '{item_id[:100]}'",
                                                 "resource_missing", "id"))
        self._reply(200, body)

    # ---------------------------------------------------------------- control API

    def _control(self, name, body):
        st = self.state
        routes = {"health": "GET", "items": "GET", "stats": "GET", "fail": ("GET", "POST"), "reset": "POST",
                  "config": "POST", "missing_customer": "POST", "null_ids": "POST", "expire_idempotency": "POST"}
        if name not in routes:
            return self._send(404, {"error": f"unknown control endpoint /_control/{name[:100]}"})
        if self.command not in routes[name]:
            return self._send(405, {"error": f"{self.command} not allowed on /_control/{name}"})
        args = {}
        if self.command == "POST" and body.strip():
            try:
                args = json.loads(body)
            except ValueError:
                return self._send(400, {"error": "body is not valid JSON"})
            if not isinstance(args, dict):
                return self._send(400, {"error": "body must be a JSON object"})
        try:
            result = getattr(self, "_ctl_" + name)(st, args)
        except ValueError as e:
            return self._send(400, {"error": str(e)})
        self._send(200, result)

    def _ctl_health(self, st, args):
        return {"ok": True}

    def _ctl_items(self, st, args):
        customer = dict(self.query).get("customer")
        with st.lock:
            return {"items": [it for it in st.items if not customer or it["customer"] == customer]}

    def _ctl_stats(self, st, args):
        with st.lock:
            return st.snapshot_stats()

    def _ctl_reset(self, st, args):
        with st.lock:
            st.reset(everything=args.get("all") is True)
        return {"ok": True}

    def _ctl_config(self, st, args):
        new = {}
        for name in ("latency_ms", "rate_limit"):
            if name in args:
                v = args[name]
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise ValueError(f"{name} must be a non-negative integer")
                new[name] = v
        with st.lock:
            for name, v in new.items():
                setattr(st, name, v)
            return {"latency_ms": st.latency_ms, "rate_limit": st.rate_limit}

    def _ctl_fail(self, st, args):
        if self.command == "POST":
            mode = str(args.get("mode"))
            if mode not in FAIL_MODES:
                raise ValueError(f"mode must be one of {', '.join(FAIL_MODES)}")
            count, customer = args.get("count", 1), args.get("customer")
            retry_after, should_retry = args.get("retry_after"), args.get("should_retry")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError("count must be a positive integer")
            if customer is not None and (not isinstance(customer, str) or not customer):
                raise ValueError("customer must be a non-empty string")
            if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int)
                                            or retry_after < 0):
                raise ValueError("retry_after must be a non-negative integer")
            if should_retry is not None and not isinstance(should_retry, bool):
                raise ValueError("should_retry must be true or false")
            rule = {"mode": mode, "count": count, "customer": customer,
                    "retry_after": retry_after, "should_retry": should_retry}
            with st.lock:
                st.rules.append(rule)
        with st.lock:
            return {"ok": True, "rules": [dict(r) for r in st.rules]}

    @staticmethod
    def _mark_customer(st, args, marks):
        """Adds args' customer to the set st.<marks>."""
        customer = args.get("customer")
        if not isinstance(customer, str) or not customer:
            raise ValueError("customer must be a non-empty string")
        with st.lock:
            getattr(st, marks).add(customer)
        return {"ok": True}

    def _ctl_missing_customer(self, st, args):
        return self._mark_customer(st, args, "missing_customers")

    def _ctl_null_ids(self, st, args):
        return self._mark_customer(st, args, "null_id_customers")

    def _ctl_expire_idempotency(self, st, args):
        with st.lock:
            n = len(st.idem)
            st.idem.clear()
        return {"ok": True, "expired": n}


def unrecognized(method, path):
    return stripe_error("invalid_request_error",
                        f"Unrecognized request URL ({method}: {path[:200]}). Please see https://stripe.com/docs "
                        "or we can help at https://support.stripe.com/.")


def to_json(obj):
    return (json.dumps(obj, indent=2) + "\n").encode()  # Stripe pretty-prints its JSON


class FakeStripeServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client went away (e.g. it timed out first): not our problem
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description="Fake Stripe API for tests.")
    ap.add_argument("--port", type=int, required=True, help="0 picks a free port")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    ap.add_argument("--port-file", help="write the listening port here (atomically) once ready")
    ap.add_argument("--secret-key", help="accept exactly this key (default: any sk_test_... key)")
    ap.add_argument("--verbose", action="store_true", help="log each request on stderr")
    a = ap.parse_args()
    if not (a.host.startswith("127.") or a.host == "localhost"):
        ap.error("--host must be a loopback address: the control API has no authentication")

    server = FakeStripeServer((a.host, a.port), Handler)
    server.state, server.verbose, server.secret_key = State(), a.verbose, a.secret_key

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        port = server.server_address[1]
        if a.port_file:
            with open(a.port_file + ".tmp", "w") as f:
                f.write(f"{port}\n")
            os.replace(a.port_file + ".tmp", a.port_file)  # readers never see a partial file
        if a.verbose:
            print(f"fake_stripe listening on {a.host}:{port}", file=sys.stderr)
        server.serve_forever()
    finally:
        server.server_close()
        if a.port_file:
            try:
                os.remove(a.port_file)
            except OSError:
                pass


if __name__ == "__main__":
    main()
