/*
 * One MySQL connection: connecting, reconnecting and transactions (its
 * prepared statements and their results are dbstmt.c's).
 *
 * We reconnect ourselves rather than with MYSQL_OPT_RECONNECT, which
 * silently drops prepared statements and session settings. A lost
 * connection is noticed by the call that fails; the next call reconnects.
 * A statement that failed because the server had already gone
 * (CR_SERVER_GONE_ERROR) was never run, so it is retried once on a fresh
 * connection; one lost during execution (CR_SERVER_LOST) may have run and
 * is not.
 *
 * A database that is down must not hold requests up. After a connect
 * fails, the connection tries none again before db_retry_ms (monotonic
 * clock), whatever the call (a health probe too). Connects run on the
 * client library's non-blocking API, so that one to a server that
 * accepts and never answers can be left half-done rather than waited
 * out: once a connect has failed, a request-path call waits for the next
 * one only while the server keeps answering (at most DB_RETRY_WAIT_MS of
 * silence), and later calls carry it on the same way until it succeeds
 * or db_connect_timeout has passed since it began. A first connect, a
 * reconnect after a lost connection and the batch writer's connects (off
 * the request path) wait up to db_connect_timeout. Reads and writes on a
 * connection time out after db_read_timeout and db_write_timeout seconds.
 */
#include "config.h"

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <errmsg.h>
#include <mysqld_error.h>

#include "nexus.h"
#include "dbint.h"

#define DB_RETRY_WAIT_MS 10	/* a request's wait on a reconnect, when down */

void
db_seterr(struct db *db, unsigned int err, const char *msg)
{
	db->err = err;
	strlcpy_(db->errmsg, msg, sizeof(db->errmsg));
}

static int
is_conn_error(unsigned int e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST ||
	    e == CR_CONNECTION_ERROR || e == CR_CONN_HOST_ERROR ||
	    e == ER_UNKNOWN_STMT_HANDLER || e == 2055 /* LOST_EXTENDED */ ||
	    e == ER_CONNECTION_KILLED || e == ER_SERVER_SHUTDOWN;
}

/* Waits up to ms for the socket events a connect waits for; returns them. */
static int
db_wait(struct db *db, int64_t ms)
{
	struct pollfd	 pfd;
	int		 ev = 0;

	memset(&pfd, 0, sizeof(pfd));
	pfd.fd = (int)mysql_get_socket(db->my);
	pfd.events = (db->wait_for & MYSQL_WAIT_READ ? POLLIN : 0) |
	    (db->wait_for & MYSQL_WAIT_WRITE ? POLLOUT : 0) |
	    (db->wait_for & MYSQL_WAIT_EXCEPT ? POLLPRI : 0);
	if (poll(&pfd, 1, (int)ms) <= 0)
		return 0;
	/* On an error the library's next read or write finds it. */
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
		ev |= MYSQL_WAIT_READ;
	if (pfd.revents & (POLLOUT | POLLHUP | POLLERR | POLLNVAL))
		ev |= MYSQL_WAIT_WRITE;
	if (pfd.revents & POLLPRI)
		ev |= MYSQL_WAIT_EXCEPT;
	return ev & db->wait_for;
}

/*
 * Ends a connect in progress: a timeout makes the library unwind it and
 * fail. Returns what it returned (NULL: failed).
 */
static MYSQL *
db_connect_abandon(struct db *db)
{
	MYSQL	*ret = NULL;
	int	 tries;

	for (tries = 0; db->wait_for != 0 && tries < 8; tries++)
		db->wait_for = mysql_real_connect_cont(&ret, db->my,
		    MYSQL_WAIT_TIMEOUT);
	db->wait_for = 0;
	return ret;
}

static void
db_disconnect(struct db *db)
{
	db_stmts_close(db);
	if (db->wait_for != 0)
		db_connect_abandon(db);
	if (db->my != NULL)
		mysql_close(db->my);
	db->my = NULL;
	db->in_tx = 0;
}

/* A connect failed: nobody tries again before db_retry_ms. Returns -1. */
static int
db_connect_failed(struct db *db)
{
	if (db->my != NULL && mysql_errno(db->my) != 0)
		db_seterr(db, mysql_errno(db->my), mysql_error(db->my));
	db_disconnect(db);
	if (db->next_try == 0)
		log_warnx("database unreachable: %s; trying again every "
		    "%lld ms", db->errmsg, db->cfg->db_retry_ms);
	db->down = 1;
	db->next_try = mono_ms() + db->cfg->db_retry_ms;
	return -1;
}

/* Starts a connect. Returns 0, or -1 when it could not even begin. */
static int
db_connect_start(struct db *db, MYSQL **ret)
{
	const struct config	*c = db->cfg;
	unsigned int		 t;

	if ((db->my = mysql_init(NULL)) == NULL) {
		db_seterr(db, CR_OUT_OF_MEMORY, "mysql_init failed");
		return -1;
	}
	t = (unsigned int)c->db_connect_timeout;
	mysql_options(db->my, MYSQL_OPT_CONNECT_TIMEOUT, &t);
	t = (unsigned int)c->db_read_timeout;
	mysql_options(db->my, MYSQL_OPT_READ_TIMEOUT, &t);
	t = (unsigned int)c->db_write_timeout;
	mysql_options(db->my, MYSQL_OPT_WRITE_TIMEOUT, &t);
	mysql_options(db->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(db->my, MYSQL_INIT_COMMAND,
	    "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,"
	    "NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO'");
	mysql_options(db->my, MYSQL_INIT_COMMAND,
	    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
	if (db->tx_always)
		mysql_options(db->my, MYSQL_INIT_COMMAND, "SET autocommit = 0");
	if (mysql_options(db->my, MYSQL_OPT_NONBLOCK, 0) != 0) {
		db_seterr(db, CR_OUT_OF_MEMORY, "no non-blocking context");
		return -1;
	}
	db->connect_began = mono_ms();
	db->wait_for = mysql_real_connect_start(ret, db->my,
	    c->db_socket ? NULL : c->db_host, c->db_user, c->db_password,
	    c->db_name, c->db_socket ? 0 : (unsigned int)c->db_port,
	    c->db_socket, 0);
	return 0;
}

/*
 * Returns 0 when connected, -1 (with the error kept) otherwise: the
 * database is down and not due for another try, a connect failed, or one
 * is still under way (see the top of this file for how long it waits).
 */
int
db_connect(struct db *db)
{
	int64_t		 limit = db->cfg->db_connect_timeout * 1000;
	int64_t		 now = mono_ms(), until, left;
	MYSQL		*ret = NULL;
	int		 ev, quick;

	if (db->my != NULL && db->wait_for == 0)
		return 0;
	if (db->my == NULL) {
		if (now < db->next_try) {
			db_seterr(db, CR_CONNECTION_ERROR,
			    "database unreachable");
			return -1;
		}
		if (db_connect_start(db, &ret) == -1)
			return db_connect_failed(db);
	}
	/* While down, a request waits out DB_RETRY_WAIT_MS of silence only. */
	quick = db->down && !db->tx_always;
	until = quick ? now + DB_RETRY_WAIT_MS : db->connect_began + limit;
	while (db->wait_for != 0) {
		left = until - mono_ms();
		if ((ev = db_wait(db, left > 0 ? left : 0)) != 0) {
			db->wait_for = mysql_real_connect_cont(&ret, db->my, ev);
			if (quick)
				until = mono_ms() + DB_RETRY_WAIT_MS;
			continue;
		}
		if (mono_ms() < until)
			continue;	/* poll(2) cut short by a signal */
		if (quick && mono_ms() - db->connect_began < limit) {
			db_seterr(db, CR_CONNECTION_ERROR,
			    "database connection under way");
			return -1;
		}
		db_seterr(db, CR_CONNECTION_ERROR,
		    "database did not answer in time");
		ret = db_connect_abandon(db);
	}
	if (ret == NULL)
		return db_connect_failed(db);
	if (db->down)
		log_info("database reachable again");
	db->down = 0;
	db->next_try = 0;
	return 0;
}

static struct db *
db_new(const struct config *cfg, int tx_always)
{
	struct db	*db = xcalloc(1, sizeof(*db));

	db->cfg = cfg;
	db->tx_always = tx_always;
	db_connect(db);		/* a failure is logged, and retried later */
	return db;
}

struct db *
db_open(const struct config *cfg)
{
	return db_new(cfg, 0);
}

/*
 * A connection for a batch writer: autocommit is off, so its statements
 * always run in a transaction that db_commit() ends, and db_begin() costs
 * no round trip.
 */
struct db *
db_open_tx(const struct config *cfg)
{
	return db_new(cfg, 1);
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	db_disconnect(db);
	free(db);
}

const char *
db_error(const struct db *db)
{
	return db->errmsg;
}

int
db_errno(const struct db *db)
{
	return (int)db->err;
}

void *
db_handle(struct db *db)
{
	return db_connect(db) == 0 ? db->my : NULL;
}

/* Keeps the error; on a lost connection drops it so the next call reconnects. */
void
db_fail(struct db *db, unsigned int e, const char *msg)
{
	db_seterr(db, e, msg);
	if (is_conn_error(e)) {
		log_warnx("database connection lost: %s", msg);
		db_disconnect(db);
	}
}

/*
 * Checks the connection, reconnecting (once) if it was lost. A probe is
 * held back like any other call while the database is down: it fails at
 * once rather than trying again before db_retry_ms.
 */
int
db_ping(struct db *db)
{
	if (db_connect(db) == -1)
		return -1;
	if (mysql_ping(db->my) != 0) {
		db_fail(db, mysql_errno(db->my), mysql_error(db->my));
		if (db_connect(db) == -1)
			return -1;
	}
	return 0;
}

/* Runs trusted, constant SQL (never request data) on the text protocol. */
int
db_raw(struct db *db, const char *sql)
{
	MYSQL_RES	*res;

	if (db_connect(db) == -1)
		return -1;
	if (mysql_real_query(db->my, sql, strlen(sql)) != 0) {
		db_fail(db, mysql_errno(db->my), mysql_error(db->my));
		return -1;
	}
	if ((res = mysql_store_result(db->my)) != NULL)
		mysql_free_result(res);
	return 0;
}

int
db_begin(struct db *db)
{
	if (db->tx_always) {
		db->in_tx = 1;
		return 0;
	}
	if (db_raw(db, "START TRANSACTION") == -1)
		return -1;
	db->in_tx = 1;
	return 0;
}

int
db_commit(struct db *db)
{
	db->in_tx = 0;
	if (db->my == NULL || db->wait_for != 0) {
		db_seterr(db, CR_SERVER_LOST, "connection lost in transaction");
		return -1;
	}
	if (mysql_commit(db->my) != 0) {
		db_fail(db, mysql_errno(db->my), mysql_error(db->my));
		return -1;
	}
	return 0;
}

void
db_rollback(struct db *db)
{
	db->in_tx = 0;
	if (db->my != NULL && db->wait_for == 0 && mysql_rollback(db->my) != 0)
		db_fail(db, mysql_errno(db->my), mysql_error(db->my));
}
