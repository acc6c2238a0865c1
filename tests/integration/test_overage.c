/*
 * Overage billing end to end: the real nexus-overage program and the
 * real workers against the stack's MariaDB and the fake Stripe
 * (tests/fake_stripe.py). The biller's input, eco_usage_records, is
 * written directly: that table is what the hot path maintains.
 */
#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "itest.h"

#define PRO_ALLOWANCE	100000
#define SECRET		"dev-cron-secret-change-me-0123456789"

static struct db	*tdb;
static struct config	 tcfg;
static int		 nusers;

/* ------------------------------------------------------------ helpers */

static struct db *
db(void)
{
	if (tdb == NULL) {
		ck_assert(config_load(&tcfg, NULL) == 0);
		tdb = db_open(&tcfg);
	}
	return tdb;
}

static void
fake_fail(const char *mode, int count, const char *customer,
    const char *extra)
{
	char	 body[512];

	snprintf(body, sizeof(body), "{\"mode\":\"%s\",\"count\":%d%s%s%s%s%s}",
	    mode, count, customer ? ",\"customer\":\"" : "",
	    customer ? customer : "", customer ? "\"" : "",
	    extra ? "," : "", extra ? extra : "");
	fake_stripe_do("POST", "/_control/fail", body);
}

/* Items the fake holds (for one customer, or all). */
static json_object *
fake_items(const char *customer)
{
	char		 path[256];
	json_object	*j, *items;

	snprintf(path, sizeof(path), "/_control/items%s%s",
	    customer ? "?customer=" : "", customer ? customer : "");
	j = fake_stripe("GET", path, NULL);
	ck_assert(json_object_object_get_ex(j, "items", &items));
	json_object_get(items);
	json_object_put(j);
	return items;
}

static long long
fake_cents(const char *customer, size_t *count)
{
	json_object	*items = fake_items(customer);
	long long	 sum = 0;
	size_t		 i, n = json_object_array_length(items);

	for (i = 0; i < n; i++)
		sum += json_int(json_object_array_get_idx(items, i), "amount");
	if (count != NULL)
		*count = n;
	json_object_put(items);
	return sum;
}

/* A clean slate: no users, usage or ledger; the fake empty and fast. */
static void
reset_all(void)
{
	test_db_exec("DELETE FROM eco_overage_ledger", NULL, 0);
	test_db_exec("DELETE FROM eco_usage_records", NULL, 0);
	test_db_exec("DELETE FROM eco_api_keys", NULL, 0);
	test_db_exec("DELETE FROM eco_users", NULL, 0);
	test_db_exec("DELETE FROM eco_audit_log", NULL, 0);
	test_db_exec("UPDATE eco_plans SET monthly_calls = 100000 WHERE id = 'pro'",
	    NULL, 0);
	fake_stripe_do("POST", "/_control/reset", "{\"all\":true}");
	setenv("NEXUS_STRIPE_RATE", "1000", 1);
	setenv("NEXUS_STRIPE_TIMEOUT_MS", "2000", 1);
	setenv("NEXUS_STRIPE_MAX_RETRIES", "3", 1);
	unsetenv("NEXUS_STRIPE_SECRET_KEY");
}

/* Creates a user; customer NULL for none. Returns its id (static slot). */
static const char *
mkuser(const char *plan, const char *customer, char *id)
{
	struct user	 u;
	char		 email[64];

	snprintf(email, sizeof(email), "u%d@overage.test", ++nusers);
	ck_assert_int_eq(user_create(db(), email, plan, customer, &u), USER_OK);
	strlcpy_(id, u.id, USER_ID_MAX + 1);
	return id;
}

/* Sets a user's api_calls in a period ("2025-10-01"). */
static void
usage_set(const char *user, const char *period, long long calls)
{
	struct dbp	 p[4] = { DBP_S(user), DBP_S(period), DBP_I(calls),
	    DBP_I(calls) };

	test_db_exec("INSERT INTO eco_usage_records (user_id, period, api_calls, "
	    "updated_at) VALUES (?, ?, ?, UTC_TIMESTAMP()) "
	    "ON DUPLICATE KEY UPDATE api_calls = ?", p, 4);
}

static void
this_period(char *dst, size_t n)
{
	time_format_date(period_start(time(NULL)), dst, n);
}

/* Starts nexus-overage with args; its stdout on *fd (or /dev/null). */
static pid_t
biller_spawn(int *fd, const char *const *args)
{
	const char	*argv[16];
	char		 prog[1024];
	int		 p[2], i = 0;
	pid_t		 pid;

	snprintf(prog, sizeof(prog), "%s/src/nexus-overage",
	    getenv("top_builddir"));
	argv[i++] = prog;
	for (; args != NULL && *args != NULL && i < 15; args++)
		argv[i++] = *args;
	argv[i] = NULL;
	ck_assert(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		dup2(fd != NULL ? p[1] : open("/dev/null", O_WRONLY), 1);
		close(p[0]);
		close(p[1]);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	ck_assert(pid > 0);
	close(p[1]);
	if (fd != NULL)
		*fd = p[0];
	else
		close(p[0]);
	return pid;
}

/* Waits for a biller; returns its exit status, its JSON in *out. */
static int
biller_wait(pid_t pid, int fd, json_object **out)
{
	struct buf	 b;
	char		 chunk[4096];
	ssize_t		 n;
	int		 st;

	buf_init(&b, 64 * 1024 * 1024);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	ck_assert(waitpid(pid, &st, 0) == pid);
	if (out != NULL) {
		*out = json_tokener_parse(b.data != NULL ? b.data : "");
		ck_assert_msg(*out != NULL, "biller printed no JSON: %s",
		    b.data != NULL ? b.data : "");
	}
	buf_free(&b);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs nexus-overage --json [more args]; returns its exit status. */
static int
biller(json_object **out, const char *a1, const char *a2, const char *a3)
{
	const char	*args[5] = { "--json", a1, a2, a3, NULL };
	int		 fd;
	pid_t		 pid = biller_spawn(&fd, args);
	json_object	*j = NULL;
	int		 st = biller_wait(pid, fd, &j);

	if (out != NULL)
		*out = j;
	else
		json_object_put(j);
	return st;
}

/*
 * Exactly once: every ledger row is sent, the fake holds exactly one
 * item carrying its nexus_ledger tag, with its id, amount and customer,
 * and holds nothing else. Returns the cents billed.
 */
static long long
check_exactly_once(void)
{
	static const char *const q = "SELECT l.id, l.user_id, "
	    "DATE_FORMAT(l.period, '%Y-%m'), l.calls_from, l.amount_cents, "
	    "l.state, COALESCE(l.stripe_item_id, ''), l.stripe_customer_id "
	    "FROM eco_overage_ledger l ORDER BY l.id";
	json_object	*items = fake_items(NULL), *bytag, *it;
	struct dbres	*r = db_query(db(), q, NULL, 0);
	size_t		 i, n = json_object_array_length(items), rows = 0;
	long long	 cents = 0;
	char		 tag[128];

	/* Index the items by their nexus_ledger tag; a tag twice is a
	 * double charge. */
	bytag = json_object_new_object();
	for (i = 0; i < n; i++) {
		const char *t;

		it = json_object_array_get_idx(items, i);
		t = json_str(it, "metadata.nexus_ledger");
		ck_assert_msg(t != NULL, "item %s has no nexus_ledger",
		    json_str(it, "id"));
		ck_assert_msg(!json_object_object_get_ex(bytag, t, NULL),
		    "%s billed twice", t);
		json_object_object_add(bytag, t, json_object_get(it));
	}
	ck_assert(r != NULL);
	while (db_next(r) == 1) {
		rows++;
		ck_assert_msg(strcmp(db_str(r, 5), "sent") == 0,
		    "ledger row %s is %s", db_str(r, 0), db_str(r, 5));
		snprintf(tag, sizeof(tag), "%s/%s/%s", db_str(r, 1),
		    db_str(r, 2), db_str(r, 3));
		ck_assert_msg(json_object_object_get_ex(bytag, tag, &it),
		    "%s: not at Stripe", tag);
		ck_assert_str_eq(json_str(it, "id"), db_str(r, 6));
		ck_assert_int_eq(json_int(it, "amount"), db_int(r, 4));
		ck_assert_str_eq(json_str(it, "customer"), db_str(r, 7));
		ck_assert_str_eq(json_str(it, "currency"), "usd");
		cents += db_int(r, 4);
	}
	db_done(r);
	ck_assert_msg(rows == n, "%zu ledger rows, %zu items at Stripe", rows,
	    n);
	json_object_put(bytag);
	json_object_put(items);
	return cents;
}

static long long
floor10(long long over)
{
	return over > 0 ? over / 10 : 0;	/* cents at $0.001 a call */
}

/* --------------------------------------------------------------- tests */

/*
 * 20 Pro users with varied overage (some also in a closed period, some
 * with a leftover fraction of a cent), 5 without overage, 2 without a
 * Stripe customer: one run bills exactly the expected cents per
 * customer; a second run bills nothing.
 */
START_TEST(bills_fixture_exactly)
{
	char		 ids[27][USER_ID_MAX + 1], cus[32], now[11];
	long long	 want[20], total = 0, posts;
	json_object	*s, *items, *it = NULL;
	size_t		 i, n;

	reset_all();
	this_period(now, sizeof(now));
	for (i = 0; i < 20; i++) {
		long long over = (long long)(i * 1379 + 3);

		snprintf(cus, sizeof(cus), "cus_fixture%02zu", i);
		mkuser("pro", cus, ids[i]);
		usage_set(ids[i], now, PRO_ALLOWANCE + over);
		want[i] = floor10(over);
		if (i % 2 == 0) {	/* a closed period too */
			usage_set(ids[i], "2025-09-01",
			    PRO_ALLOWANCE + 5000 + (long long)i);
			want[i] += floor10(5000 + (long long)i);
		}
		total += want[i];
	}
	/* Five without overage. */
	usage_set(mkuser("pro", "cus_under", ids[20]), now, 50000);
	usage_set(mkuser("pro", "cus_exact", ids[21]), now, PRO_ALLOWANCE);
	usage_set(mkuser("free", "cus_free", ids[22]), now, 5000);
	usage_set(mkuser("enterprise", "cus_ent", ids[23]), now, 900000);
	mkuser("pro", "cus_nousage", ids[24]);
	/* Two with overage and no Stripe customer. */
	usage_set(mkuser("pro", NULL, ids[25]), now, PRO_ALLOWANCE + 4000);
	usage_set(mkuser("pro", NULL, ids[26]), "2025-09-01",
	    PRO_ALLOWANCE + 900);

	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 1);	/* 2 skipped */
	ck_assert_str_eq(json_str(s, "status"), "partial");
	ck_assert_int_eq(json_int(s, "users_seen"), 22);
	ck_assert_int_eq(json_int(s, "users_billed"), 20);
	ck_assert_int_eq(json_int(s, "users_skipped"), 2);
	ck_assert_int_eq(json_int(s, "users_failed"), 0);
	/* 19 in this period (user 0's 3 calls are carried), 10 closed. */
	ck_assert_int_eq(json_int(s, "items_sent"), 29);
	ck_assert_int_eq(json_int(s, "total_cents"), total);
	json_object_put(s);

	for (i = 0; i < 20; i++) {
		snprintf(cus, sizeof(cus), "cus_fixture%02zu", i);
		ck_assert_msg(fake_cents(cus, &n) == want[i], "%s", cus);
		ck_assert_int_eq(n, (i > 0) + (i % 2 == 0));
	}
	ck_assert_int_eq(fake_cents(NULL, NULL), total);
	ck_assert_int_eq(check_exactly_once(), total);

	/* What the customer reads. user 1: 1,382 calls -> 1,380 billed. */
	items = fake_items("cus_fixture01");
	it = json_object_array_get_idx(items, 0);
	{
		char	 desc[128];
		struct tm tm;
		time_t	 t = time(NULL);
		static const char *const m[12] = { "January", "February",
		    "March", "April", "May", "June", "July", "August",
		    "September", "October", "November", "December" };

		gmtime_r(&t, &tm);
		snprintf(desc, sizeof(desc), "API overage: 1,380 calls x "
		    "$0.001, %s %d", m[tm.tm_mon], tm.tm_year + 1900);
		ck_assert_str_eq(json_str(it, "description"), desc);
	}
	ck_assert_int_eq(json_int(it, "amount"), 138);
	ck_assert_int_eq(json_int(it, "period.start"),
	    period_start(time(NULL)));
	ck_assert_int_eq(json_int(it, "period.end"),
	    period_end(time(NULL)) - 1);
	ck_assert_str_eq(json_str(it, "metadata.nexus_user_id"), ids[1]);
	ck_assert_str_eq(json_str(it, "metadata.nexus_calls"),
	    "100001-101380");
	json_object_put(items);

	/* The watermark: billed calls, the fraction's 2 calls left over. */
	{
		struct dbp p[2] = { DBP_S(ids[1]), DBP_S(now) };

		ck_assert_int_eq(test_db_int("SELECT overage_invoiced FROM "
		    "eco_usage_records WHERE user_id = ? AND period = ?", p, 2),
		    1380);
	}
	/* Every billing action is in the audit log. */
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log WHERE "
	    "action = 'overage.ledger'", NULL, 0), 29);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log WHERE "
	    "action = 'overage.sent' AND actor = 'cron'", NULL, 0), 29);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log WHERE "
	    "action = 'overage.skipped'", NULL, 0), 2);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log WHERE "
	    "action = 'overage.run'", NULL, 0), 1);

	/* A second run bills nothing. */
	posts = fake_stripe_stat("invoiceitem_posts");
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 1);
	ck_assert_int_eq(json_int(s, "items_sent"), 0);
	ck_assert_int_eq(json_int(s, "total_cents"), 0);
	ck_assert_int_eq(json_int(s, "users_billed"), 0);
	ck_assert_int_eq(json_int(s, "users_skipped"), 2);
	json_object_put(s);
	ck_assert_int_eq(fake_stripe_stat("invoiceitem_posts"), posts);
	ck_assert_int_eq(fake_cents(NULL, NULL), total);
}
END_TEST

/*
 * Whole cents only: the calls behind a fraction of a cent wait for a
 * later run, and the ranges billed are contiguous.
 */
START_TEST(leftover_fraction_carries)
{
	char		 id[USER_ID_MAX + 1], id2[USER_ID_MAX + 1], now[11];
	json_object	*s;
	struct dbp	 p[1];

	reset_all();
	this_period(now, sizeof(now));
	mkuser("pro", "cus_carry", id);
	p[0] = DBP_S(id);
	usage_set(id, now, PRO_ALLOWANCE + 7);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "items_sent"), 0);
	ck_assert_int_eq(json_int(s, "calls_carried"), 7);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_carry", NULL), 0);

	usage_set(id, now, PRO_ALLOWANCE + 12);	/* 10 billable, 2 carried */
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "total_cents"), 1);
	ck_assert_int_eq(json_int(s, "calls_carried"), 2);
	json_object_put(s);
	usage_set(id, now, PRO_ALLOWANCE + 29);	/* 17 more: 10 billable */
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "total_cents"), 1);
	ck_assert_int_eq(json_int(s, "calls_carried"), 9);
	json_object_put(s);
	ck_assert_int_eq(test_db_int("SELECT overage_invoiced FROM "
	    "eco_usage_records WHERE user_id = ?", p, 1), 20);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger "
	    "WHERE user_id = ? AND ((calls_from = 100001 AND calls_to = 100010)"
	    " OR (calls_from = 100011 AND calls_to = 100020))", p, 1), 2);
	ck_assert_int_eq(fake_cents("cus_carry", NULL), 2);

	/* A price that is not a divisor of a cent: $0.0015 -> 20 calls. */
	test_db_exec("INSERT IGNORE INTO eco_plans (id, name, monthly_calls, "
	    "hard_limit, price_cents, overage_micros, sort_order) VALUES "
	    "('pro_odd', 'Pro odd', 1000, 0, 100, 1500, 9)", NULL, 0);
	mkuser("pro_odd", "cus_odd", id2);
	usage_set(id2, now, 1000 + 47);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "total_cents"), 6);	/* 40 calls */
	ck_assert_int_eq(json_int(s, "calls_carried"), 9 + 7);
	json_object_put(s);
	{
		json_object *items = fake_items("cus_odd");

		ck_assert_int_eq(json_object_array_length(items), 1);
		ck_assert_msg(strncmp(json_str(json_object_array_get_idx(items,
		    0), "description"), "API overage: 40 calls x $0.0015, ",
		    33) == 0, "%s", json_str(json_object_array_get_idx(items,
		    0), "description"));
		json_object_put(items);
	}
	check_exactly_once();
}
END_TEST

START_TEST(dry_run_touches_nothing)
{
	char		 id[USER_ID_MAX + 1], now[11];
	json_object	*s, *items, *it;
	long long	 audits;

	reset_all();
	this_period(now, sizeof(now));
	mkuser("pro", "cus_dry", id);
	usage_set(id, now, PRO_ALLOWANCE + 2345);
	audits = test_db_int("SELECT COUNT(*) FROM eco_audit_log", NULL, 0);
	ck_assert_int_eq(biller(&s, "--dry-run", NULL, NULL), 0);
	ck_assert(json_object_get_boolean(json_get(s, "dry_run")));
	ck_assert_int_eq(json_int(s, "total_cents"), 234);
	ck_assert_int_eq(json_int(s, "items_sent"), 0);
	items = json_get(s, "items");
	ck_assert_int_eq(json_object_array_length(items), 1);
	it = json_object_array_get_idx(items, 0);
	ck_assert_str_eq(json_str(it, "action"), "bill");
	ck_assert_str_eq(json_str(it, "outcome"), "dry_run");
	ck_assert_int_eq(json_int(it, "calls_from"), 100001);
	ck_assert_int_eq(json_int(it, "calls_to"), 102340);
	json_object_put(s);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger",
	    NULL, 0), 0);
	ck_assert_int_eq(test_db_int("SELECT SUM(overage_invoiced) FROM "
	    "eco_usage_records", NULL, 0), 0);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log", NULL,
	    0), audits);
	ck_assert_int_eq(fake_stripe_stat("requests_total"), 0);
}
END_TEST

START_TEST(period_option)
{
	static const char *const bad[] = { "2025-13", "2025-9", "abcd-ef",
	    "2025-09-01", "", "1969-12", "2025-00" };
	char		 id[USER_ID_MAX + 1], now[11];
	json_object	*s;
	size_t		 i, n;

	reset_all();
	this_period(now, sizeof(now));
	mkuser("pro", "cus_period", id);
	usage_set(id, "2025-09-01", PRO_ALLOWANCE + 100);
	usage_set(id, now, PRO_ALLOWANCE + 300);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[4] = { "--period", bad[i], NULL, NULL };
		int fd = -1;
		pid_t pid = biller_spawn(&fd, args);
		char junk[256];

		while (read(fd, junk, sizeof(junk)) > 0)
			;
		close(fd);
		int st;
		ck_assert(waitpid(pid, &st, 0) == pid);
		ck_assert_msg(WEXITSTATUS(st) == 2, "--period '%s'", bad[i]);
	}
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger",
	    NULL, 0), 0);
	ck_assert_int_eq(biller(&s, "--period", "2025-09", NULL), 0);
	ck_assert_int_eq(json_int(s, "total_cents"), 10);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_period", &n), 10);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "total_cents"), 30);
	json_object_put(s);
	ck_assert_int_eq(check_exactly_once(), 40);
}
END_TEST

/* Stripe stored the item, then the connection dropped: one item. */
START_TEST(drop_after_store_then_retry)
{
	char		 id[USER_ID_MAX + 1], now[11];
	json_object	*s;
	struct dbp	 p[1];
	size_t		 n;

	reset_all();
	this_period(now, sizeof(now));
	mkuser("pro", "cus_drop", id);
	p[0] = DBP_S(id);
	usage_set(id, now, PRO_ALLOWANCE + 5000);
	fake_fail("drop_after_store", 1, NULL, NULL);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "items_sent"), 1);
	json_object_put(s);
	ck_assert_int_eq(fake_stripe_stat("drops"), 1);
	ck_assert_int_eq(fake_stripe_stat("replays"), 1);
	ck_assert_int_eq(fake_cents("cus_drop", &n), 500);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(test_db_int("SELECT attempts FROM eco_overage_ledger "
	    "WHERE user_id = ?", p, 1), 2);
	check_exactly_once();
}
END_TEST

/*
 * Stripe's idempotency window passed with a row left unsent: the run
 * finds the item by its metadata (past the first page of the list)
 * instead of creating a second one; a row whose item never reached
 * Stripe is sent.
 */
START_TEST(idempotency_expired_reconciles)
{
	char		 a[USER_ID_MAX + 1], b[USER_ID_MAX + 1], now[11];
	json_object	*s;
	long long	 posts;
	size_t		 n;
	int		 i;

	reset_all();
	this_period(now, sizeof(now));
	mkuser("pro", "cus_recon", a);
	mkuser("pro", "cus_never", b);
	usage_set(a, now, PRO_ALLOWANCE + 7000);
	usage_set(b, now, PRO_ALLOWANCE + 3000);
	setenv("NEXUS_STRIPE_MAX_RETRIES", "0", 1);
	fake_fail("drop_after_store", 1, "cus_recon", NULL);
	fake_fail("500", 1, "cus_never", NULL);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 1);
	ck_assert_int_eq(json_int(s, "users_failed"), 2);
	ck_assert_int_eq(json_int(s, "items_sent"), 0);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_recon", &n), 700);	/* stored */
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(fake_cents("cus_never", &n), 0);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger "
	    "WHERE state = 'pending' AND last_error IS NOT NULL", NULL, 0), 2);

	/* 150 newer items push ours off the first page of the list. */
	for (i = 0; i < 150; i++)
		fake_stripe_do("POST", "/v1/invoiceitems",
		    "customer=cus_recon&amount=1&currency=usd");
	ck_assert_int_eq(fake_cents("cus_recon", &n), 850);
	fake_stripe_do("POST", "/_control/expire_idempotency", NULL);
	test_db_exec("UPDATE eco_overage_ledger SET created_at = created_at - "
	    "INTERVAL 25 HOUR", NULL, 0);
	setenv("NEXUS_STRIPE_MAX_RETRIES", "3", 1);
	posts = fake_stripe_stat("invoiceitem_posts");

	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "items_reconciled"), 1);
	ck_assert_int_eq(json_int(s, "items_sent"), 2);
	ck_assert_int_eq(json_int(s, "total_cents"), 1000);
	json_object_put(s);
	/* Only cus_never's item was posted; cus_recon's was found. */
	ck_assert_int_eq(fake_stripe_stat("invoiceitem_posts"), posts + 1);
	ck_assert_int_eq(fake_cents("cus_recon", &n), 850);
	ck_assert_int_eq(n, 151);
	ck_assert_int_eq(fake_cents("cus_never", &n), 300);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log WHERE "
	    "action = 'overage.reconciled'", NULL, 0), 1);
	{
		json_object *items = fake_items("cus_never"), *it;

		it = json_object_array_get_idx(items, 0);
		ck_assert_str_eq(json_str(it, "metadata.nexus_user_id"), b);
		json_object_put(items);
	}
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "items_sent"), 0);
	json_object_put(s);
}
END_TEST

/* 429 (honouring Retry-After), 500, 503 and a timeout are retried. */
START_TEST(transient_errors_retried)
{
	char		 id[USER_ID_MAX + 1], now[11];
	json_object	*s;
	struct dbp	 p[1];
	int64_t		 t0;
	size_t		 n;

	reset_all();
	this_period(now, sizeof(now));
	mkuser("pro", "cus_retry", id);
	p[0] = DBP_S(id);

	/* Two 429s asking for a second each: at least 2 s, one item. */
	usage_set(id, now, PRO_ALLOWANCE + 1000);
	fake_fail("429", 2, NULL, "\"retry_after\":1");
	t0 = now_usec();
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_msg(now_usec() - t0 >= 2000000, "did not wait Retry-After");
	json_object_put(s);
	ck_assert_int_eq(fake_stripe_stat("sent_429"), 2);
	ck_assert_int_eq(fake_cents("cus_retry", &n), 100);
	ck_assert_int_eq(n, 1);

	/* 500 then 503. */
	usage_set(id, now, PRO_ALLOWANCE + 2000);
	fake_fail("500", 1, NULL, NULL);
	fake_fail("503", 1, NULL, NULL);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	json_object_put(s);
	ck_assert_int_eq(fake_stripe_stat("sent_5xx"), 2);
	ck_assert_int_eq(fake_cents("cus_retry", &n), 200);
	ck_assert_int_eq(n, 2);

	/* A request that hangs past stripe_timeout_ms. */
	usage_set(id, now, PRO_ALLOWANCE + 3000);
	setenv("NEXUS_STRIPE_TIMEOUT_MS", "400", 1);
	fake_fail("timeout", 1, NULL, NULL);
	t0 = now_usec();
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert(now_usec() - t0 >= 400000);
	json_object_put(s);
	ck_assert_int_eq(fake_stripe_stat("timeouts"), 1);
	ck_assert_int_eq(fake_cents("cus_retry", &n), 300);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(test_db_int("SELECT MAX(attempts) FROM "
	    "eco_overage_ledger WHERE user_id = ?", p, 1), 3);

	/* Stripe-Should-Retry: false stops retrying; the next run bills. */
	usage_set(id, now, PRO_ALLOWANCE + 4000);
	fake_fail("503", 1, NULL, "\"should_retry\":false");
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 1);
	ck_assert_int_eq(json_int(s, "items_failed"), 1);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_retry", &n), 300);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_retry", &n), 400);

	/* Out of retries: left pending, billed by the next run. */
	usage_set(id, now, PRO_ALLOWANCE + 5000);
	setenv("NEXUS_STRIPE_MAX_RETRIES", "2", 1);
	fake_fail("500", 3, NULL, NULL);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 1);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_retry", &n), 400);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger "
	    "WHERE state = 'pending' AND attempts = 3", NULL, 0), 1);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_retry", &n), 500);

	/* Stripe unreachable altogether: pending, then billed. */
	usage_set(id, now, PRO_ALLOWANCE + 6000);
	setenv("NEXUS_STRIPE_MAX_RETRIES", "1", 1);
	stack("stripe-stop");
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 1);
	json_object_put(s);
	stack("stripe-start");
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "total_cents"), 100);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_retry", &n), 100);	/* new fake */
	ck_assert_int_eq(n, 1);
}
END_TEST

/*
 * A 4xx for one customer is recorded and skipped; the others are billed.
 * Once the customer is fixed the row is billed once, with a fresh key.
 * A refused secret key stops the run and bills nothing twice.
 */
START_TEST(refusals_contained)
{
	char		 ok[USER_ID_MAX + 1], bad[USER_ID_MAX + 1], now[11];
	json_object	*s;
	struct dbp	 p[1];
	char		 key1[128];
	size_t		 n;
	struct dbres	*r;

	reset_all();
	this_period(now, sizeof(now));
	mkuser("pro", "cus_good", ok);
	mkuser("pro", "cus_gone", bad);
	p[0] = DBP_S(bad);
	usage_set(ok, now, PRO_ALLOWANCE + 1000);
	usage_set(bad, now, PRO_ALLOWANCE + 2000);
	fake_stripe_do("POST", "/_control/missing_customer",
	    "{\"customer\":\"cus_gone\"}");
	r = db_query(db(), "SELECT idempotency_key FROM eco_overage_ledger "
	    "WHERE user_id = ?", p, 1);
	ck_assert(r != NULL && db_next(r) == 0);
	db_done(r);

	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 1);
	ck_assert_int_eq(json_int(s, "users_billed"), 1);
	ck_assert_int_eq(json_int(s, "users_failed"), 1);
	ck_assert_int_eq(json_int(s, "total_cents"), 100);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_good", NULL), 100);
	ck_assert_int_eq(fake_cents("cus_gone", &n), 0);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger "
	    "WHERE user_id = ? AND state = 'failed' AND last_error LIKE "
	    "'%No such customer%'", p, 1), 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log WHERE "
	    "action = 'overage.failed' AND target = ?", p, 1), 1);
	r = db_query(db(), "SELECT idempotency_key FROM eco_overage_ledger "
	    "WHERE user_id = ?", p, 1);
	ck_assert(r != NULL && db_next(r) == 1);
	strlcpy_(key1, db_str(r, 0), sizeof(key1));
	db_done(r);
	ck_assert_msg(strstr(key1, "_r1") != NULL, "key %s", key1);

	/* Still refused: still failed, nothing created. */
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 1);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_gone", NULL), 0);

	/* The operator fixes the customer: billed once, to the new one. */
	{
		struct dbp q[2] = { DBP_S("cus_fixed"), DBP_S(bad) };

		test_db_exec("UPDATE eco_users SET stripe_customer_id = ? WHERE id = ?",
		    q, 2);
	}
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "total_cents"), 200);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_fixed", &n), 200);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(check_exactly_once(), 300);

	/* A secret key Stripe refuses: the run stops, nothing is lost. */
	usage_set(ok, now, PRO_ALLOWANCE + 1500);
	setenv("NEXUS_STRIPE_SECRET_KEY", "sk_live_not_accepted_here", 1);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 1);
	ck_assert_msg(strstr(json_str(s, "error"), "secret key") != NULL,
	    "%s", json_str(s, "error"));
	ck_assert_msg(strstr(json_str(s, "error"), "not_accepted") == NULL,
	    "key leaked: %s", json_str(s, "error"));
	json_object_put(s);
	unsetenv("NEXUS_STRIPE_SECRET_KEY");
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	json_object_put(s);
	ck_assert_int_eq(check_exactly_once(), 350);
}
END_TEST

/* Two runs at once (and the HTTP trigger beside one): no double billing. */
START_TEST(concurrent_runs)
{
	char		 ids[12][USER_ID_MAX + 1], cus[32], now[11];
	long long	 total = 0;
	const char	*args[2] = { "--json", NULL };
	int		 fa, fb, sa, sb, i;
	pid_t		 a, b;
	struct http	*h;
	const char	*auth[2] = { "Authorization: Bearer " SECRET, NULL };

	reset_all();
	this_period(now, sizeof(now));
	fake_stripe_do("POST", "/_control/config", "{\"latency_ms\":40}");
	for (i = 0; i < 12; i++) {
		snprintf(cus, sizeof(cus), "cus_conc%02d", i);
		usage_set(mkuser("pro", cus, ids[i]), now,
		    PRO_ALLOWANCE + 1000 * (i + 1));
		total += 100 * (i + 1);
	}
	setenv("NEXUS_STRIPE_RATE", "100", 1);
	a = biller_spawn(&fa, args);
	b = biller_spawn(&fb, args);
	sa = biller_wait(a, fa, NULL);
	sb = biller_wait(b, fb, NULL);
	ck_assert_msg((sa == 0 && sb == 3) || (sa == 3 && sb == 0) ||
	    (sa == 0 && sb == 0), "exit %d and %d", sa, sb);
	ck_assert_int_eq(check_exactly_once(), total);

	/* More overage; the program and the HTTP trigger at once. */
	for (i = 0; i < 12; i++) {
		usage_set(ids[i], now, PRO_ALLOWANCE + 1000 * (i + 1) + 500);
		total += 50;
	}
	a = biller_spawn(&fa, args);
	h = http_req("POST", "/api/cron/process-overage", NULL, auth);
	ck_assert_msg(h->status == 200 || h->status == 409, "%ld %s",
	    h->status, h->body);
	if (h->status == 409)
		ck_assert_str_eq(json_str(h->json, "error.code"),
		    "run_in_progress");
	http_free(h);
	sa = biller_wait(a, fa, NULL);
	ck_assert_msg(sa == 0 || sa == 3, "exit %d", sa);
	/* Whoever lost the race: one more run finishes anything left. */
	ck_assert_int_eq(biller(NULL, NULL, NULL, NULL), 0);
	ck_assert_int_eq(check_exactly_once(), total);
	fake_stripe_do("POST", "/_control/config", "{\"latency_ms\":0}");
}
END_TEST

/*
 * SIGKILL at random points across 50 runs, each followed by a clean run:
 * exactly one item per ledger row, and the total is the expected cents.
 */
START_TEST(killed_runs_bill_exactly_once)
{
	char		 ids[5][USER_ID_MAX + 1], cus[32], now[11];
	long long	 calls[5][2], want;
	const char	*periods[2] = { now, "2025-09-01" };
	int		 iter, i, j, st, rc, window = 0, midsend = 0;
	unsigned int	 seed = (unsigned int)time(NULL);

	reset_all();
	this_period(now, sizeof(now));
	fprintf(stderr, "kill test seed %u\n", seed);
	srand(seed);
	fake_stripe_do("POST", "/_control/config", "{\"latency_ms\":25}");
	setenv("NEXUS_STRIPE_RATE", "60", 1);
	for (i = 0; i < 5; i++) {
		snprintf(cus, sizeof(cus), "cus_kill%d", i);
		mkuser("pro", cus, ids[i]);
		calls[i][0] = calls[i][1] = PRO_ALLOWANCE;
	}
	for (iter = 0; iter < 50; iter++) {
		pid_t		 pid;
		long long	 pending;

		for (i = 0; i < 5; i++)
			for (j = 0; j < 2; j++) {
				calls[i][j] += 1 + rand() % 3000;
				usage_set(ids[i], periods[j], calls[i][j]);
			}
		pid = biller_spawn(NULL, NULL);
		usleep((useconds_t)(rand() % 250000));
		kill(pid, SIGKILL);
		ck_assert(waitpid(pid, &st, 0) == pid);
		/* Where did it die? Pending rows Stripe already holds are
		 * the dangerous window. */
		pending = test_db_int("SELECT COUNT(*) FROM eco_overage_ledger "
		    "WHERE state = 'pending'", NULL, 0);
		if (pending > 0)
			midsend++;
		if (pending > 0 && fake_stripe_stat("items_created") > test_db_int(
		    "SELECT COUNT(*) FROM eco_overage_ledger WHERE "
		    "state = 'sent'", NULL, 0))
			window++;
		/*
		 * The killed run's GET_LOCK goes when the server notices its
		 * connection is gone, which can take a moment: until then the
		 * clean run is told another run is busy (3).
		 */
		for (i = 0; (rc = biller(NULL, NULL, NULL, NULL)) == 3 &&
		    i < 50; i++)
			usleep(100000);
		ck_assert_int_eq(rc, 0);
		want = 0;
		for (i = 0; i < 5; i++)
			for (j = 0; j < 2; j++)
				want += floor10(calls[i][j] - PRO_ALLOWANCE);
		ck_assert_int_eq(check_exactly_once(), want);
		ck_assert_int_eq(fake_cents(NULL, NULL), want);
	}
	fprintf(stderr, "kill test: %d of 50 kills left rows pending, %d "
	    "between Stripe storing an item and the ledger saying so\n",
	    midsend, window);
	ck_assert_msg(window > 0, "no kill landed between Stripe and the "
	    "ledger; the test proves little");
	fake_stripe_do("POST", "/_control/config", "{\"latency_ms\":0}");
}
END_TEST

/*
 * Pacing keeps to stripe_rate against a limiter at the same rate: 50
 * requests at 20/s cannot finish in under 2 s (the 50th waits a second
 * after the 30th, which waits a second after the 10th). The fake times
 * requests on arrival with its own scheduling jitter on a loaded machine,
 * so its counts get a little room (a stray 429 is retried and billed
 * once); an unpaced client gets ~50 in a second and dozens of 429s.
 */
START_TEST(pacing_respects_rate)
{
	char		 id[USER_ID_MAX + 1], cus[32], now[11];
	json_object	*s, *st;
	int64_t		 t0;
	double		 avg;
	int		 i;

	reset_all();
	this_period(now, sizeof(now));
	fake_stripe_do("POST", "/_control/config",
	    "{\"latency_ms\":30,\"rate_limit\":20}");
	for (i = 0; i < 50; i++) {
		snprintf(cus, sizeof(cus), "cus_pace%02d", i);
		usage_set(mkuser("pro", cus, id), now, PRO_ALLOWANCE + 10);
	}
	setenv("NEXUS_STRIPE_RATE", "20", 1);
	t0 = now_usec();
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_msg(now_usec() - t0 >= 2000000, "50 requests in %.2f s",
	    (now_usec() - t0) / 1e6);
	ck_assert_int_eq(json_int(s, "items_sent"), 50);
	json_object_put(s);
	st = fake_stripe("GET", "/_control/stats", NULL);
	avg = json_object_get_double(json_get(st, "avg_rps_busy"));
	fprintf(stderr, "pacing at 20/s: avg %.2f/s, max %lld in 1 s, %lld 429s\n",
	    avg, json_int(st, "max_rps"), json_int(st, "sent_429"));
	ck_assert_msg(json_int(st, "max_rps") <= 22, "max_rps %lld",
	    json_int(st, "max_rps"));
	ck_assert_msg(json_int(st, "sent_429") <= 2, "%lld 429s",
	    json_int(st, "sent_429"));
	json_object_put(st);
	check_exactly_once();
	fake_stripe_do("POST", "/_control/config",
	    "{\"latency_ms\":0,\"rate_limit\":0}");
}
END_TEST

static void
assert_401(const char *const *hdrs)
{
	struct http	*h = http_req("POST", "/api/cron/process-overage", NULL,
	    hdrs);
	char		 v[128];

	ck_assert_msg(h->status == 401, "%ld %s", h->status, h->body);
	ck_assert_str_eq(json_str(h->json, "error.code"), "unauthorized");
	ck_assert(http_hdr(h, "WWW-Authenticate", v, sizeof(v)) != NULL);
	http_free(h);
}

/* POST /api/cron/process-overage: 401 unless the cron secret; else runs. */
START_TEST(http_trigger)
{
	static const char *const wrong[][2] = {
		{ "Authorization: Bearer nope", NULL },
		{ "Authorization: Bearer dev-cron-secret-change-me-012345678", NULL },
		{ "Authorization: Bearer " SECRET "x", NULL },
		{ "Authorization: Basic " SECRET, NULL },
		{ "Authorization: " SECRET, NULL },
		{ "X-Cron-Secret: " SECRET, NULL },
	};
	const char	*auth[2] = { "Authorization: Bearer " SECRET, NULL };
	char		 id[USER_ID_MAX + 1], now[11];
	struct http	*h;
	size_t		 i, n;

	reset_all();
	this_period(now, sizeof(now));
	mkuser("pro", "cus_http", id);
	usage_set(id, now, PRO_ALLOWANCE + 4321);

	assert_401(NULL);
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
		assert_401(wrong[i]);
	ck_assert_int_eq(fake_stripe_stat("requests_total"), 0);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger",
	    NULL, 0), 0);

	/* Bad parameters: 400, nothing done. */
	h = http_req("POST", "/api/cron/process-overage?period=2025-13",
	    NULL, auth);
	ck_assert_int_eq(h->status, 400);
	ck_assert_str_eq(json_str(h->json, "error.code"), "invalid_parameter");
	http_free(h);
	h = http_req("POST", "/api/cron/process-overage?dry_run=2", NULL, auth);
	ck_assert_int_eq(h->status, 400);
	http_free(h);
	h = http_req("GET", "/api/cron/process-overage", NULL, auth);
	ck_assert_int_eq(h->status, 405);
	http_free(h);
	ck_assert_int_eq(fake_stripe_stat("requests_total"), 0);

	h = http_req("POST", "/api/cron/process-overage?dry_run=1", NULL, auth);
	ck_assert_int_eq(h->status, 200);
	ck_assert(json_object_get_boolean(json_get(h->json, "dry_run")));
	ck_assert_int_eq(json_int(h->json, "total_cents"), 432);
	http_free(h);
	ck_assert_int_eq(fake_stripe_stat("requests_total"), 0);

	h = http_req("POST", "/api/cron/process-overage", NULL, auth);
	ck_assert_msg(h->status == 200, "%ld %s", h->status, h->body);
	ck_assert_str_eq(json_str(h->json, "status"), "ok");
	ck_assert_int_eq(json_int(h->json, "users_seen"), 1);
	ck_assert_int_eq(json_int(h->json, "users_billed"), 1);
	ck_assert_int_eq(json_int(h->json, "items_sent"), 1);
	ck_assert_int_eq(json_int(h->json, "total_cents"), 432);
	ck_assert_int_eq(json_int(h->json, "calls_carried"), 1);
	http_free(h);
	ck_assert_int_eq(fake_cents("cus_http", &n), 432);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_audit_log WHERE "
	    "actor = 'cron-http' AND action = 'overage.sent' AND "
	    "remote_addr = '127.0.0.1'", NULL, 0), 1);
	check_exactly_once();

	/* Without a configured cron secret nobody gets in. */
	stack("workers-stop");
	setenv("NEXUS_CRON_SECRET", "", 1);
	stack("workers-start");
	unsetenv("NEXUS_CRON_SECRET");
	assert_401(auth);
	stack("workers-stop");
	stack("workers-start");
	h = http_req("POST", "/api/cron/process-overage", NULL, auth);
	ck_assert_int_eq(h->status, 200);
	http_free(h);
}
END_TEST

/*
 * End to end through the hot path: a Pro key's calls, counted by the
 * workers into eco_usage_records, are billed past the allowance (lowered
 * to 20 calls in this test database), by the program and over HTTP.
 */
START_TEST(hot_path_calls_are_billed)
{
	static const char *const q = "SELECT COALESCE(SUM(api_calls), 0) "
	    "FROM eco_usage_records WHERE user_id = ?";
	const char	*auth[2] = { "Authorization: Bearer " SECRET, NULL };
	char		 id[USER_ID_MAX + 1], hdr[128], *key;
	const char	*hdrs[2] = { hdr, NULL };
	struct dbp	 p[1];
	struct http	*h;
	json_object	*s;
	int		 i;

	reset_all();
	test_db_exec("UPDATE eco_plans SET monthly_calls = 20 WHERE id = 'pro'", NULL,
	    0);
	mkuser("pro", "cus_hot", id);
	ck_assert_int_eq(ctl(&key, "key", "create", "--user", id, NULL), 0);
	snprintf(hdr, sizeof(hdr), "X-API-Key: %s", key);
	p[0] = DBP_S(id);
	for (i = 0; i < 57; i++) {
		h = http_get("/api/secure/ping", hdrs);
		ck_assert_msg(h->status == 200, "call %d: %ld %s", i, h->status,
		    h->body);
		http_free(h);
	}
	ck_assert_int_eq(wait_db_int(q, p, 1, 57, 15), 57);
	ck_assert_int_eq(biller(&s, NULL, NULL, NULL), 0);
	ck_assert_int_eq(json_int(s, "total_cents"), 3);	/* 30 of 37 */
	ck_assert_int_eq(json_int(s, "calls_carried"), 7);
	json_object_put(s);
	ck_assert_int_eq(fake_cents("cus_hot", NULL), 3);

	for (i = 0; i < 3; i++) {
		h = http_get("/api/secure/ping", hdrs);
		ck_assert_int_eq(h->status, 200);
		http_free(h);
	}
	ck_assert_int_eq(wait_db_int(q, p, 1, 60, 15), 60);
	h = http_req("POST", "/api/cron/process-overage", NULL, auth);
	ck_assert_msg(h->status == 200, "%ld %s", h->status, h->body);
	ck_assert_int_eq(json_int(h->json, "total_cents"), 1);
	ck_assert_int_eq(json_int(h->json, "calls_carried"), 0);
	http_free(h);
	ck_assert_int_eq(check_exactly_once(), 4);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger "
	    "WHERE calls_from = 21 AND calls_to = 50", NULL, 0), 1);
	ck_assert_int_eq(test_db_int("SELECT COUNT(*) FROM eco_overage_ledger "
	    "WHERE calls_from = 51 AND calls_to = 60", NULL, 0), 1);
	free(key);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("overage");
	TCase	*tc = tcase_create("overage");

	tcase_add_test(tc, bills_fixture_exactly);
	tcase_add_test(tc, leftover_fraction_carries);
	tcase_add_test(tc, dry_run_touches_nothing);
	tcase_add_test(tc, period_option);
	tcase_add_test(tc, drop_after_store_then_retry);
	tcase_add_test(tc, idempotency_expired_reconciles);
	tcase_add_test(tc, transient_errors_retried);
	tcase_add_test(tc, refusals_contained);
	tcase_add_test(tc, concurrent_runs);
	tcase_add_test(tc, pacing_respects_rate);
	tcase_add_test(tc, http_trigger);
	tcase_add_test(tc, hot_path_calls_are_billed);
	tcase_add_test(tc, killed_runs_bill_exactly_once);
	suite_add_tcase(s, tc);
	return itest_run(s);
}
