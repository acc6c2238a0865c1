/*
 * A connection's prepared statements and their results (the connection
 * itself is db.c's).
 *
 * A statement is named by the address of its SQL text: db_stmt()
 * prepares each once per connection and keeps it until the connection is
 * lost. Results are buffered whole and read as text, each column into a
 * buffer sized from its longest value, up to DB_COLUMN_INLINE; a longer
 * value is fetched again into a buffer of its own (db_refetch).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <errmsg.h>

#include "nexus.h"
#include "dbint.h"

#define DB_COLUMN_INLINE 65536	/* longer values are fetched on their own */

typedef __typeof__(((MYSQL_BIND *)0)->is_null_value) dbbool;

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

/* Closes every statement prepared on the connection (which is going). */
void
db_stmts_close(struct db *db)
{
	size_t	 i;

	for (i = 0; i < STMT_SLOTS; i++) {
		if (db->slots[i].st != NULL)
			mysql_stmt_close(db->slots[i].st);
		db->slots[i].st = NULL;
		db->slots[i].sql = NULL;
	}
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
