/*
 * One MySQL connection with its prepared statements.
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
 * fails, none is tried again before db_retry_ms (monotonic clock), by any
 * caller. Connects run on the client library's non-blocking API, so that
 * one to a server that accepts and never answers can be left half-done
 * rather than waited out: once a connect has failed, a request-path call
 * waits for the next one only while the server keeps answering (at most
 * DB_RETRY_WAIT_MS of silence), and later calls carry it on the same way
 * until it succeeds or db_connect_timeout has passed since it began. A
 * first connect, a reconnect after a lost connection and the batch
 * writer's connects (off the request path) wait up to db_connect_timeout.
 * Reads and writes on a connection time out after db_read_timeout and
 * db_write_timeout seconds.
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

#define STMT_SLOTS	256	/* distinct statements a connection keeps */
#define DB_RETRY_WAIT_MS 10	/* a request's wait on a reconnect, when down */
#define DB_COLUMN_INLINE 65536	/* longer values are fetched on their own */

typedef __typeof__(((MYSQL_BIND *)0)->is_null_value) dbbool;

struct slot {
	const char	*sql;
	MYSQL_STMT	*st;
};

struct db {
	const struct config	*cfg;
	MYSQL			*my;
	int			 wait_for;	/* a connect in progress: its events */
	int64_t			 connect_began;	/* mono_ms() */
	int64_t			 next_try;	/* no connect before (mono_ms()) */
	int			 down;		/* the last connect failed */
	int			 in_tx;
	int			 tx_always;	/* autocommit off, off the request path */
	unsigned int		 err;
	char			 errmsg[256];
	struct slot		 slots[STMT_SLOTS];
};

struct dbres {
	struct db	*db;
	MYSQL_STMT	*st;
	unsigned int	 ncol;
	MYSQL_BIND	*bind;
	unsigned long	*len;
	dbbool		*null;
	char		*mem;
	char		**big;		/* columns grown past their share of mem */
};

static void
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
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
		ev |= MYSQL_WAIT_READ;
	if (pfd.revents & (POLLOUT | POLLHUP | POLLERR))
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
	size_t	 i;

	for (i = 0; i < STMT_SLOTS; i++) {
		if (db->slots[i].st != NULL)
			mysql_stmt_close(db->slots[i].st);
		db->slots[i].st = NULL;
		db->slots[i].sql = NULL;
	}
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
static int
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
static void
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

/* Returns the prepared statement for sql on this connection, or NULL. */
static MYSQL_STMT *
db_stmt(struct db *db, const char *sql)
{
	size_t		 h = ((uintptr_t)sql >> 3) % STMT_SLOTS, i;
	struct slot	*s;
	dbbool		 on = 1;

	if (db_connect(db) == -1)
		return NULL;
	for (i = 0; i < STMT_SLOTS; i++) {
		s = &db->slots[(h + i) % STMT_SLOTS];
		if (s->sql == sql)
			return s->st;
		if (s->sql == NULL)
			break;
	}
	if (i == STMT_SLOTS) {
		db_seterr(db, CR_OUT_OF_MEMORY, "statement table full");
		return NULL;
	}
	if ((s->st = mysql_stmt_init(db->my)) == NULL) {
		db_fail(db, mysql_errno(db->my), mysql_error(db->my));
		return NULL;
	}
	if (mysql_stmt_prepare(s->st, sql, strlen(sql)) != 0) {
		unsigned int e = mysql_stmt_errno(s->st);
		char msg[256];

		strlcpy_(msg, mysql_stmt_error(s->st), sizeof(msg));
		mysql_stmt_close(s->st);
		s->st = NULL;
		log_warnx("prepare failed: %s: %.80s", msg, sql);
		db_fail(db, e, msg);
		return NULL;
	}
	/* db_query() sizes its buffers from the longest value of each column. */
	mysql_stmt_attr_set(s->st, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
	s->sql = sql;
	return s->st;
}

static int
db_bind(struct db *db, MYSQL_STMT *st, const struct dbp *p, size_t np,
    MYSQL_BIND *b)
{
	size_t	 i;

	if (np != mysql_stmt_param_count(st)) {
		db_seterr(db, CR_PARAMS_NOT_BOUND, "parameter count mismatch");
		return -1;
	}
	memset(b, 0, sizeof(*b) * np);
	for (i = 0; i < np; i++) {
		switch (p[i].type) {
		case DBP_NULL:
			b[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		case DBP_INT:
			b[i].buffer_type = MYSQL_TYPE_LONGLONG;
			b[i].buffer = (void *)&p[i].i;
			break;
		case DBP_STR:
		case DBP_BLOB:
			b[i].buffer_type = p[i].type == DBP_STR ?
			    MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
			b[i].buffer = (void *)p[i].s;
			b[i].buffer_length = p[i].n;
			b[i].length_value = p[i].n;
			b[i].length = &b[i].length_value;
			break;
		}
	}
	if (np > 0 && mysql_stmt_bind_param(st, b) != 0) {
		db_seterr(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		return -1;
	}
	return 0;
}

/* Prepares (once), binds and executes. Returns the statement or NULL. */
static MYSQL_STMT *
db_run(struct db *db, const char *sql, const struct dbp *p, size_t np)
{
	MYSQL_STMT	*st;
	MYSQL_BIND	 small[16], *b = small;
	int		 tries;

	if (np > sizeof(small) / sizeof(small[0]))
		b = xcalloc(np, sizeof(*b));
	for (tries = 0; tries < 2; tries++) {
		int in_tx = db->in_tx;

		if ((st = db_stmt(db, sql)) == NULL)
			break;
		if (db_bind(db, st, p, np, b) == -1) {
			st = NULL;
			break;
		}
		if (mysql_stmt_execute(st) == 0)
			break;
		db_fail(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		st = NULL;
		/* Only a statement that never reached the server is retried. */
		if (db->err != CR_SERVER_GONE_ERROR || in_tx)
			break;
	}
	if (b != small)
		free(b);
	return st;
}

/* Executes a statement; returns 0 (setting *affected if asked) or -1. */
int
db_exec(struct db *db, const char *sql, const struct dbp *p, size_t np,
    unsigned long long *affected)
{
	MYSQL_STMT	*st;

	if ((st = db_run(db, sql, p, np)) == NULL)
		return -1;
	if (affected != NULL)
		*affected = mysql_stmt_affected_rows(st);
	mysql_stmt_free_result(st);
	return 0;
}

/*
 * As db_exec(), also returning the AUTO_INCREMENT id of an INSERT (or the
 * value of LAST_INSERT_ID(expr) in the statement) in *id.
 */
int
db_exec_affected_id(struct db *db, const char *sql, const struct dbp *p,
    size_t np, unsigned long long *affected, unsigned long long *id)
{
	MYSQL_STMT	*st;

	if ((st = db_run(db, sql, p, np)) == NULL)
		return -1;
	if (affected != NULL)
		*affected = mysql_stmt_affected_rows(st);
	*id = mysql_stmt_insert_id(st);
	return 0;
}

int
db_exec_id(struct db *db, const char *sql, const struct dbp *p, size_t np,
    unsigned long long *id)
{
	return db_exec_affected_id(db, sql, p, np, NULL, id);
}

/*
 * Executes a query and buffers its whole result. Every column is fetched
 * as text, into a buffer sized from the longest value of the column (up
 * to DB_COLUMN_INLINE: a longer value is fetched on its own by db_next).
 * Returns a result to walk with db_next() and free with db_done(), or
 * NULL on error.
 */
struct dbres *
db_query(struct db *db, const char *sql, const struct dbp *p, size_t np)
{
	MYSQL_STMT	*st;
	MYSQL_RES	*meta;
	MYSQL_FIELD	*f;
	struct dbres	*r;
	size_t		 total = 0, off = 0, *size;
	unsigned int	 i;

	if ((st = db_run(db, sql, p, np)) == NULL)
		return NULL;
	if (mysql_stmt_store_result(st) != 0) {
		db_fail(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		return NULL;
	}
	if ((meta = mysql_stmt_result_metadata(st)) == NULL) {
		mysql_stmt_free_result(st);
		db_seterr(db, CR_NO_STMT_METADATA, "statement returns no rows");
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->db = db;
	r->st = st;
	r->ncol = mysql_num_fields(meta);
	f = mysql_fetch_fields(meta);
	size = xcalloc(r->ncol, sizeof(*size));
	for (i = 0; i < r->ncol; i++) {
		size[i] = (f[i].max_length < DB_COLUMN_INLINE ?
		    f[i].max_length : DB_COLUMN_INLINE) + 1;
		total += size[i];
	}
	r->bind = xcalloc(r->ncol, sizeof(*r->bind));
	r->len = xcalloc(r->ncol, sizeof(*r->len));
	r->null = xcalloc(r->ncol, sizeof(*r->null));
	r->big = xcalloc(r->ncol, sizeof(*r->big));
	r->mem = xmalloc(total);
	for (i = 0; i < r->ncol; i++) {
		r->bind[i].buffer_type = MYSQL_TYPE_STRING;
		r->bind[i].buffer = r->mem + off;
		r->bind[i].buffer_length = size[i];
		r->bind[i].length = &r->len[i];
		r->bind[i].is_null = &r->null[i];
		off += size[i];
	}
	free(size);
	mysql_free_result(meta);
	if (mysql_stmt_bind_result(st, r->bind) != 0) {
		db_seterr(db, mysql_stmt_errno(st), mysql_stmt_error(st));
		db_done(r);
		return NULL;
	}
	return r;
}

/*
 * Fetches again, into a buffer of their own, the columns of this row that
 * did not fit theirs (MYSQL_DATA_TRUNCATED); the buffer is kept for the
 * rows after. Returns 0 or -1.
 */
static int
db_refetch(struct dbres *r)
{
	MYSQL_BIND	*b;
	unsigned int	 i;

	for (i = 0; i < r->ncol; i++) {
		b = &r->bind[i];
		if (r->null[i] || r->len[i] < b->buffer_length)
			continue;
		r->big[i] = xrealloc(r->big[i], r->len[i] + 1);
		b->buffer = r->big[i];
		b->buffer_length = r->len[i] + 1;
		if (mysql_stmt_fetch_column(r->st, b, i, 0) != 0 ||
		    mysql_stmt_bind_result(r->st, r->bind) != 0) {
			db_seterr(r->db, mysql_stmt_errno(r->st),
			    mysql_stmt_error(r->st));
			return -1;
		}
	}
	return 0;
}

/* Returns 1 with the next row in place, 0 after the last, -1 on error. */
int
db_next(struct dbres *r)
{
	unsigned int	 i;
	int		 rc;

	rc = mysql_stmt_fetch(r->st);
	if (rc == MYSQL_NO_DATA)
		return 0;
	if (rc == 1) {
		db_seterr(r->db, mysql_stmt_errno(r->st),
		    mysql_stmt_error(r->st));
		return -1;
	}
	if (rc == MYSQL_DATA_TRUNCATED && db_refetch(r) == -1)
		return -1;
	for (i = 0; i < r->ncol; i++) {
		/* The length is the whole value's: never past the buffer. */
		if (!r->null[i] && r->len[i] >= r->bind[i].buffer_length) {
			db_seterr(r->db, CR_UNKNOWN_ERROR, "column truncated");
			return -1;
		}
		((char *)r->bind[i].buffer)[r->null[i] ? 0 : r->len[i]] = '\0';
	}
	return 1;
}

int
db_isnull(const struct dbres *r, unsigned int col)
{
	return col >= r->ncol || r->null[col];
}

/* Returns a column as an integer (0 for NULL or non-numbers). */
long long
db_int(const struct dbres *r, unsigned int col)
{
	if (db_isnull(r, col))
		return 0;
	return strtoll(r->bind[col].buffer, NULL, 10);
}

/* Returns a column as a string ("" for NULL), valid until the next row. */
const char *
db_str(const struct dbres *r, unsigned int col)
{
	if (db_isnull(r, col))
		return "";
	return r->bind[col].buffer;
}

size_t
db_len(const struct dbres *r, unsigned int col)
{
	return db_isnull(r, col) ? 0 : r->len[col];
}

void
db_done(struct dbres *r)
{
	unsigned int	 i;

	if (r == NULL)
		return;
	mysql_stmt_free_result(r->st);
	free(r->bind);
	free(r->len);
	free(r->null);
	free(r->mem);
	for (i = 0; r->big != NULL && i < r->ncol; i++)
		free(r->big[i]);
	free(r->big);
	free(r);
}

/*
 * Runs a query whose answer is one integer. Returns 1 with *v set, 0 when
 * it is NULL or there is no row (*v = 0), -1 on error.
 */
int
db_query_int(struct db *db, const char *sql, const struct dbp *p, size_t np,
    long long *v)
{
	struct dbres	*r;
	int		 rc;

	*v = 0;
	if ((r = db_query(db, sql, p, np)) == NULL)
		return -1;
	if ((rc = db_next(r)) == 1) {
		rc = db_isnull(r, 0) ? 0 : 1;
		*v = db_int(r, 0);
	}
	db_done(r);
	return rc;
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

/*
 * Takes a named server lock (GET_LOCK), held until db_unlock() or the
 * connection ends. Returns 1 when held, 0 on timeout, -1 on error.
 */
int
db_lock(struct db *db, const char *name, int timeout)
{
	static const char	*sql = "SELECT GET_LOCK(?, ?)";
	struct dbp		 p[2] = { DBP_S(name), DBP_I(timeout) };
	struct dbres		*r;
	int			 rc = -1;

	if ((r = db_query(db, sql, p, 2)) == NULL)
		return -1;
	if (db_next(r) == 1)
		rc = db_isnull(r, 0) ? -1 : (int)db_int(r, 0);
	db_done(r);
	return rc;
}

void
db_unlock(struct db *db, const char *name)
{
	static const char	*sql = "SELECT RELEASE_LOCK(?)";
	struct dbp		 p[1] = { DBP_S(name) };

	db_done(db_query(db, sql, p, 1));
}
