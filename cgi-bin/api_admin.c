/*
 * The admin analytics API (AUTH_ADMIN): the business at a glance and the
 * users page. Money is integer cents with its formatted string beside it;
 * times are RFC 3339 UTC.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "web.h"

#define USERS_PATH	"/api/admin/analytics/users"

/* {"cents": 470500, "formatted": "$4,705.00"} */
static json_object *
money(long long cents)
{
	json_object	*o = json_object_new_object();
	char		 s[64];

	money_format(cents, s, sizeof(s));
	json_object_object_add(o, "cents", json_object_new_int64(cents));
	json_object_object_add(o, "formatted", json_object_new_string(s));
	return o;
}

static json_object *
period(time_t now)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "start", json_time(period_start(now)));
	json_object_object_add(o, "end", json_time(period_end(now)));
	return o;
}

static json_object *
user_json(const struct admin_user *u)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(u->id));
	json_object_object_add(o, "email", json_object_new_string(u->email));
	json_object_object_add(o, "plan", json_object_new_string(u->plan));
	json_object_object_add(o, "calls", json_object_new_int64(u->calls));
	json_object_object_add(o, "overage_calls",
	    json_object_new_int64(u->overage_calls));
	json_object_object_add(o, "revenue", money(u->revenue_cents));
	json_object_object_add(o, "created_at", json_time(u->created));
	json_object_object_add(o, "last_call_at", json_time(u->last_call));
	return o;
}

static int
user_add(void *arg, const struct admin_user *u)
{
	json_object_array_add(arg, user_json(u));
	return 0;
}

static json_object *
ledger(const struct admin_overview *o, enum ledger_state state)
{
	json_object	*m = money(o->ledger_cents[state]);

	json_object_object_add(m, "items",
	    json_object_new_int64(o->ledger_items[state]));
	return m;
}

/*
 * GET /api/admin/analytics/overview: users by plan, MRR from the plans'
 * prices, this month's overage revenue from the ledger (billed: sent to
 * Stripe; pending; failed: refused by Stripe, waiting for an operator),
 * calls and new users this month, and the top users by calls.
 */
void
api_admin_overview(struct request *r)
{
	struct admin_overview	 ov;
	json_object		*o, *u, *plans, *ovg, *top;
	time_t			 now = time(NULL);
	size_t			 i;

	if (period_ready(r->srv->db, now) == -1 ||
	    admin_overview(r->srv->db, now, &ov) == -1) {
		log_warnx("admin overview: %s", db_error(r->srv->db));
		resp_error(r, 503, "unavailable", "database unavailable");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "period", period(now));
	json_object_object_add(o, "currency", json_object_new_string("usd"));

	u = json_object_new_object();
	plans = json_object_new_array();
	for (i = 0; i < ov.nplans; i++) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "plan",
		    json_object_new_string(ov.plans[i].id));
		json_object_object_add(p, "name",
		    json_object_new_string(ov.plans[i].name));
		json_object_object_add(p, "users",
		    json_object_new_int64(ov.plans[i].users));
		json_object_object_add(p, "price",
		    money(ov.plans[i].price_cents));
		json_object_object_add(p, "mrr", money(ov.plans[i].mrr_cents));
		json_object_array_add(plans, p);
	}
	json_object_object_add(u, "total", json_object_new_int64(ov.users));
	json_object_object_add(u, "new_this_month",
	    json_object_new_int64(ov.new_users));
	json_object_object_add(u, "by_plan", plans);
	json_object_object_add(o, "users", u);
	json_object_object_add(o, "mrr", money(ov.mrr_cents));

	ovg = json_object_new_object();
	json_object_object_add(ovg, "billed", ledger(&ov, LEDGER_SENT));
	json_object_object_add(ovg, "pending", ledger(&ov, LEDGER_PENDING));
	json_object_object_add(ovg, "failed", ledger(&ov, LEDGER_FAILED));
	json_object_object_add(ovg, "total",
	    money(ov.ledger_cents[LEDGER_SENT] +
	    ov.ledger_cents[LEDGER_PENDING] + ov.ledger_cents[LEDGER_FAILED]));
	json_object_object_add(o, "overage_revenue", ovg);
	json_object_object_add(o, "calls_this_month",
	    json_object_new_int64(ov.calls));

	top = json_object_new_array();
	for (i = 0; i < ov.ntop; i++)
		json_object_array_add(top, user_json(&ov.top[i]));
	json_object_object_add(o, "top_users", top);
	resp_json(r, 200, o);
}

/* Appends s percent-encoded (RFC 3986 2.1: all but unreserved). */
static int
url_encode(struct buf *b, const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 e[3];

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL) {
			if (buf_add(b, s, 1) == -1)
				return -1;
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		if (buf_add(b, e, 3) == -1)
			return -1;
	}
	return 0;
}

/*
 * Adds links[name]: the users page path for page with q's size, sort and
 * filters, or null for page 0. Returns 0 or -1.
 */
static int
link_add(json_object *links, const char *name, const struct admin_query *q,
    long long page)
{
	struct buf	 b;
	int		 rc = -1;

	if (page == 0) {
		json_object_object_add(links, name, NULL);
		return 0;
	}
	buf_init(&b, 4096);
	if (buf_printf(&b, USERS_PATH "?page=%lld&per_page=%lld&sort=%s"
	    "&order=%s", page, q->per_page, admin_sort_name(q->sort),
	    q->desc ? "desc" : "asc") == -1)
		goto out;
	if (q->plan != NULL && (buf_addstr(&b, "&plan=") == -1 ||
	    url_encode(&b, q->plan) == -1))
		goto out;
	if (q->search != NULL && (buf_addstr(&b, "&search=") == -1 ||
	    url_encode(&b, q->search) == -1))
		goto out;
	json_object_object_add(links, name,
	    json_object_new_string_len(b.data, (int)b.len));
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

/*
 * Reads the users page parameters into *q (pointing into plan and search).
 * Returns 0, or -1 after answering 400 (or 503 when the plan cannot be
 * looked up).
 */
static int
users_query(struct request *r, struct admin_query *q,
    char plan[PLAN_ID_MAX + 1], char search[ADMIN_SEARCH_MAX + 1])
{
	char	 v[16];
	size_t	 i;
	int	 rc;

	memset(q, 0, sizeof(*q));
	q->sort_max = ADMIN_SORT_MAX;
	if (req_query_int(r, "page", 1, ADMIN_PAGE_MAX, 1, &q->page) == -1 ||
	    req_query_int(r, "per_page", 1, ADMIN_PER_PAGE_MAX, 25,
	    &q->per_page) == -1)
		return -1;

	q->sort = SORT_CREATED;
	q->desc = 1;
	if ((rc = req_query(r, "sort", v, sizeof(v))) != 0 &&
	    (rc == -1 || admin_sort_parse(v, &q->sort, &q->desc) == -1)) {
		resp_error(r, 400, "invalid_parameter",
		    "sort must be one of calls, revenue, created, email");
		return -1;
	}
	if ((rc = req_query(r, "order", v, sizeof(v))) != 0) {
		if (rc == 1 && strcmp(v, "asc") == 0)
			q->desc = 0;
		else if (rc == 1 && strcmp(v, "desc") == 0)
			q->desc = 1;
		else {
			resp_error(r, 400, "invalid_parameter",
			    "order must be asc or desc");
			return -1;
		}
	}

	/* An empty plan or search (a form's blank field) filters nothing. */
	switch (req_query(r, "plan", plan, PLAN_ID_MAX + 1)) {
	case 0:
		break;
	case 1:
		if (*plan == '\0')
			break;
		if ((rc = plan_exists(r->srv->db, plan)) == 1) {
			q->plan = plan;
			break;
		}
		if (rc == -1) {
			resp_error(r, 503, "unavailable",
			    "database unavailable");
			return -1;
		}
		/* FALLTHROUGH */
	default:
		resp_error(r, 400, "invalid_parameter", "unknown plan");
		return -1;
	}

	rc = req_query(r, "search", search, ADMIN_SEARCH_MAX + 1);
	for (i = 0; rc == 1 && search[i] != '\0'; i++)
		if (!isprint((unsigned char)search[i]))
			rc = -1;
	if (rc == -1) {
		resp_error(r, 400, "invalid_parameter", "search must be at "
		    "most %d printable ASCII characters", ADMIN_SEARCH_MAX);
		return -1;
	}
	q->search = rc == 1 && *search != '\0' ? search : NULL;
	return 0;
}

/*
 * GET /api/admin/analytics/users?page=&per_page=&plan=&search=&sort=&order=
 * One page of users with this month's calls, overage and revenue, the
 * total that match, and links to the other pages. A page past the last
 * is empty, not an error.
 */
void
api_admin_users(struct request *r)
{
	struct admin_query	 q;
	char			 plan[PLAN_ID_MAX + 1];
	char			 search[ADMIN_SEARCH_MAX + 1];
	json_object		*o, *rows, *links, *filters;
	long long		 total = 0, pages;
	time_t			 now = time(NULL);

	if (users_query(r, &q, plan, search) == -1)
		return;
	rows = json_object_new_array();
	if (period_ready(r->srv->db, now) == -1 ||
	    admin_users(r->srv->db, now, &q, &total, user_add, rows) == -1) {
		log_warnx("admin users: %s", db_error(r->srv->db));
		json_object_put(rows);
		resp_error(r, 503, "unavailable", "database unavailable");
		return;
	}
	pages = (total + q.per_page - 1) / q.per_page;

	o = json_object_new_object();
	json_object_object_add(o, "period", period(now));
	json_object_object_add(o, "page", json_object_new_int64(q.page));
	json_object_object_add(o, "per_page",
	    json_object_new_int64(q.per_page));
	json_object_object_add(o, "total", json_object_new_int64(total));
	json_object_object_add(o, "pages", json_object_new_int64(pages));
	json_object_object_add(o, "sort",
	    json_object_new_string(admin_sort_name(q.sort)));
	json_object_object_add(o, "order",
	    json_object_new_string(q.desc ? "desc" : "asc"));
	filters = json_object_new_object();
	json_object_object_add(filters, "plan",
	    q.plan != NULL ? json_object_new_string(q.plan) : NULL);
	json_object_object_add(filters, "search",
	    q.search != NULL ? json_object_new_string(q.search) : NULL);
	json_object_object_add(o, "filters", filters);

	/* prev from past the end leads back to the last page. */
	links = json_object_new_object();
	json_object_object_add(o, "links", links);
	json_object_object_add(o, "users", rows);
	if (link_add(links, "self", &q, q.page) == -1 ||
	    link_add(links, "first", &q, 1) == -1 ||
	    link_add(links, "prev", &q, q.page > 1 ? (q.page - 1 < pages ?
	    q.page - 1 : (pages > 0 ? pages : 1)) : 0) == -1 ||
	    link_add(links, "next", &q, q.page < pages ? q.page + 1 : 0) == -1 ||
	    link_add(links, "last", &q, pages > 0 ? pages : 1) == -1) {
		json_object_put(o);
		resp_error(r, 500, "internal", "page links too long");
		return;
	}
	resp_json(r, 200, o);
}
