/*
 * API keys in the database: making, rotating and revoking them (each in
 * one transaction with its audit row), listing a user's, looking one up
 * by its hash, and the hashes of keys made before MACs (keyfmt.c).
 *
 * A key's state: revoked (revoked_at), expired (expires_at passed),
 * rotating (rotated_at set, inside its grace period), else active. A live
 * key is one neither revoked nor expired; a user holds at most
 * op->max_live of them.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "nexus.h"

#define KEY_COLUMNS	"k.id, k.user_id, k.prefix, k.name, " \
    "UNIX_TIMESTAMP(k.created_at), UNIX_TIMESTAMP(k.last_used_at), " \
    "UNIX_TIMESTAMP(k.expires_at), UNIX_TIMESTAMP(k.revoked_at), " \
    "UNIX_TIMESTAMP(k.rotated_at), " \
    "k.expires_at IS NOT NULL AND k.expires_at <= UTC_TIMESTAMP(), " \
    "k.key_hash"

static const char *const sql_insert = "INSERT INTO eco_api_keys "
    "(user_id, key_hash, prefix, name, created_at, expires_at, key_format) "
    "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(), FROM_UNIXTIME(?), 1)";
static const char *const sql_user_lock = "SELECT 1 FROM eco_users "
    "WHERE id = ? FOR UPDATE";
static const char *const sql_live = "SELECT COUNT(*) FROM eco_api_keys "
    "WHERE user_id = ? AND revoked_at IS NULL AND "
    "(expires_at IS NULL OR expires_at > UTC_TIMESTAMP())";
static const char *const sql_get = "SELECT " KEY_COLUMNS
    " FROM eco_api_keys k WHERE k.id = ?";
static const char *const sql_get_lock = "SELECT " KEY_COLUMNS
    " FROM eco_api_keys k WHERE k.id = ? FOR UPDATE";
static const char *const sql_list = "SELECT " KEY_COLUMNS
    " FROM eco_api_keys k WHERE k.user_id = ? "
    "ORDER BY k.created_at DESC, k.id DESC LIMIT ?";
static const char *const sql_revoke = "UPDATE eco_api_keys "
    "SET revoked_at = UTC_TIMESTAMP() WHERE id = ?";
/* The old key's expiry is brought forward to the grace's end, never back. */
static const char *const sql_rotated = "UPDATE eco_api_keys "
    "SET rotated_at = UTC_TIMESTAMP(), expires_at = "
    "LEAST(COALESCE(expires_at, UTC_TIMESTAMP() + INTERVAL ? SECOND), "
    "UTC_TIMESTAMP() + INTERVAL ? SECOND) WHERE id = ?";
static const char *const sql_lookup = "SELECT k.id, k.user_id, "
    "UNIX_TIMESTAMP(k.expires_at), k.revoked_at IS NOT NULL, "
    "u.plan_id, p.monthly_calls, p.hard_limit "
    "FROM eco_api_keys k JOIN eco_users u ON u.id = k.user_id "
    "JOIN eco_plans p ON p.id = u.plan_id WHERE k.key_hash = ?";
static const char *const sql_legacy = "SELECT id, key_hash "
    "FROM eco_api_keys WHERE key_format = 0 AND id > ? "
    "AND revoked_at IS NULL AND "
    "(expires_at IS NULL OR expires_at > UTC_TIMESTAMP()) ORDER BY id";

/*
 * The key's state as of now: "active", "rotating", "expired", "revoked".
 * Expired by either clock: the database's, which set the expiry of a key
 * rotated without grace to its own "now", or ours.
 */
const char *
key_state(const struct keyinfo *k, time_t now)
{
	if (k->revoked != 0)
		return "revoked";
	if (k->expired || (k->expires != 0 && k->expires <= now))
		return "expired";
	if (k->rotated != 0)
		return "rotating";
	return "active";
}

const char *
key_strerror(int rc)
{
	switch (rc) {
	case KEY_ERR_NOUSER:
		return "no such user";
	case KEY_ERR_NOKEY:
		return "no such key";
	case KEY_ERR_REVOKED:
		return "the key is revoked";
	case KEY_ERR_EXPIRED:
		return "the key has expired";
	case KEY_ERR_ROTATED:
		return "the key was rotated already: rotate its replacement";
	case KEY_ERR_LIMIT:
		return "the user holds as many live keys as allowed";
	case KEY_ERR_NOSECRET:
		return "key_secret (KEY_SECRET, 32 bytes or more) is not set";
	default:
		return "database error";
	}
}

/* Reads a row of KEY_COLUMNS. */
static void
key_fill(struct dbres *r, struct keyinfo *k)
{
	memset(k, 0, sizeof(*k));
	k->id = (unsigned long long)db_int(r, 0);
	strlcpy_(k->user_id, db_str(r, 1), sizeof(k->user_id));
	strlcpy_(k->prefix, db_str(r, 2), sizeof(k->prefix));
	strlcpy_(k->name, db_str(r, 3), sizeof(k->name));
	k->created = (time_t)db_int(r, 4);
	k->last_used = (time_t)db_int(r, 5);
	k->expires = (time_t)db_int(r, 6);
	k->revoked = (time_t)db_int(r, 7);
	k->rotated = (time_t)db_int(r, 8);
	k->expired = (int)db_int(r, 9);
	if (db_len(r, 10) == KEY_HASH_LEN)
		memcpy(k->hash, db_str(r, 10), KEY_HASH_LEN);
}

/*
 * Reads key id with sql (sql_get_lock: locking its row, in a transaction)
 * if owner is NULL or owns it. Returns 1 with *k, 0 or -1.
 */
static int
key_read(struct db *db, const char *sql, unsigned long long id,
    const char *owner, struct keyinfo *k)
{
	struct dbp	 p[1] = { DBP_I(id) };
	struct dbres	*r;
	int		 rc;

	if ((r = db_query(db, sql, p, 1)) == NULL)
		return -1;
	if ((rc = db_next(r)) == 1) {
		key_fill(r, k);
		if (owner != NULL && strcmp(owner, k->user_id) != 0)
			rc = 0;
	}
	db_done(r);
	return rc;
}

/*
 * Within a transaction: locks user's row, checks the live-key limit
 * (extra: live keys the change adds) and inserts a new key. Returns 0
 * with key and *k filled, or a negative enum key_err.
 */
static int
key_insert(struct db *db, const struct key_op *op, const char *user,
    const char *name, time_t expires, int extra, char key[KEY_LEN + 1],
    struct keyinfo *k)
{
	long long	 live;
	int		 rc;

	struct dbp u[1] = { DBP_S(user) };
	if ((rc = db_query_int(db, sql_user_lock, u, 1, &live)) != 1)
		return rc == 0 ? KEY_ERR_NOUSER : KEY_ERR_DB;
	if (op->max_live > 0 && extra > 0) {
		if (db_query_int(db, sql_live, u, 1, &live) == -1)
			return KEY_ERR_DB;
		if (live + extra > op->max_live)
			return KEY_ERR_LIMIT;
	}
	if (key_generate(op->secret, key) == -1)
		return KEY_ERR_DB;
	memset(k, 0, sizeof(*k));
	key_hash(key, k->hash);
	strlcpy_(k->prefix, key, sizeof(k->prefix));
	strlcpy_(k->user_id, user, sizeof(k->user_id));
	if (name != NULL)
		strlcpy_(k->name, name, sizeof(k->name));
	k->expires = expires;
	k->created = time(NULL);

	struct dbp p[5] = { DBP_S(user), DBP_B(k->hash, KEY_HASH_LEN),
	    DBP_S(k->prefix), DBP_SNULL(name),
	    expires ? DBP_I(expires) : DBP_NUL };
	if (db_exec_id(db, sql_insert, p, 5, &k->id) == -1)
		return KEY_ERR_DB;
	return 0;
}

/* Writes the audit row of action on the key of user; returns 0 or -1. */
static int
key_audit(struct db *db, const struct key_op *op, const char *action,
    const char *user, const char *detail)
{
	return audit_log(db, op->actor, action, user, detail, op->remote);
}

/*
 * Creates a key for user (name may be NULL; expires 0 for never), writes
 * it to key (shown once, never stored) and what is stored to *k.
 * Returns 0 or a negative enum key_err.
 */
int
key_create(struct db *db, const struct key_op *op, const char *user,
    const char *name, time_t expires, char key[KEY_LEN + 1],
    struct keyinfo *k)
{
	char	 detail[96];
	int	 rc;

	if (key_secret_problem(op->secret) != NULL)
		return KEY_ERR_NOSECRET;
	if (db_begin(db) == -1)
		return KEY_ERR_DB;
	if ((rc = key_insert(db, op, user, name, expires, 1, key, k)) != 0)
		goto fail;
	snprintf(detail, sizeof(detail), "{\"key_id\":%llu,\"prefix\":\"%s\"}",
	    k->id, k->prefix);
	rc = KEY_ERR_DB;
	if (key_audit(db, op, "key.create", user, detail) == -1 ||
	    db_commit(db) == -1)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	explicit_bzero(key, KEY_LEN + 1);
	return rc;
}

/*
 * Revokes key id (of op->owner, when set). Returns 0 with *k as it is
 * now, KEY_ERR_NOKEY, KEY_ERR_REVOKED or KEY_ERR_DB.
 */
int
key_revoke(struct db *db, const struct key_op *op, unsigned long long id,
    struct keyinfo *k)
{
	struct dbp	 p[1] = { DBP_I(id) };
	char		 detail[96];
	int		 rc;

	if (db_begin(db) == -1)
		return KEY_ERR_DB;
	if ((rc = key_read(db, sql_get_lock, id, op->owner, k)) != 1) {
		rc = rc == 0 ? KEY_ERR_NOKEY : KEY_ERR_DB;
		goto fail;
	}
	if (k->revoked != 0) {
		rc = KEY_ERR_REVOKED;
		goto fail;
	}
	snprintf(detail, sizeof(detail), "{\"key_id\":%llu,\"prefix\":\"%s\"}",
	    k->id, k->prefix);
	rc = KEY_ERR_DB;
	if (db_exec(db, sql_revoke, p, 1, NULL) == -1 ||
	    key_audit(db, op, "key.revoke", k->user_id, detail) == -1 ||
	    key_read(db, sql_get, id, NULL, k) != 1 ||
	    db_commit(db) == -1)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return rc;
}

/*
 * Replaces key id (of op->owner, when set) with a new key for the same
 * user, name and expiry; the old key keeps working for grace seconds
 * (its expiry is brought forward, never pushed back). With a grace, both
 * are live for a while and count against op->max_live. Returns 0 with the
 * new key, what is stored of it in *k and the old key as it is now in
 * *old, or a negative enum key_err.
 */
int
key_rotate(struct db *db, const struct key_op *op, unsigned long long id,
    long long grace, char key[KEY_LEN + 1], struct keyinfo *k,
    struct keyinfo *old)
{
	char		 detail[160];
	int		 rc;

	if (key_secret_problem(op->secret) != NULL)
		return KEY_ERR_NOSECRET;
	if (db_begin(db) == -1)
		return KEY_ERR_DB;
	rc = key_read(db, sql_get_lock, id, op->owner, old);
	if (rc != 1)
		rc = rc == 0 ? KEY_ERR_NOKEY : KEY_ERR_DB;
	else if (old->revoked != 0)
		rc = KEY_ERR_REVOKED;
	else if (old->expired)
		rc = KEY_ERR_EXPIRED;
	else if (old->rotated != 0)
		rc = KEY_ERR_ROTATED;
	else
		rc = key_insert(db, op, old->user_id, old->name[0] ?
		    old->name : NULL, old->expires, grace > 0, key, k);
	if (rc != 0)
		goto fail;
	snprintf(detail, sizeof(detail), "{\"key_id\":%llu,\"prefix\":\"%s\","
	    "\"new_key_id\":%llu,\"grace_seconds\":%lld}", old->id,
	    old->prefix, k->id, grace);
	rc = KEY_ERR_DB;
	struct dbp p[3] = { DBP_I(grace), DBP_I(grace), DBP_I(id) };
	if (db_exec(db, sql_rotated, p, 3, NULL) == -1 ||
	    key_audit(db, op, "key.rotate", old->user_id, detail) == -1 ||
	    key_read(db, sql_get, id, NULL, old) != 1 ||
	    db_commit(db) == -1)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	explicit_bzero(key, KEY_LEN + 1);
	return rc;
}

/* Calls cb for user's newest max keys, newest first. Returns 0 or -1. */
int
key_list(struct db *db, const char *user, long long max,
    int (*cb)(void *, const struct keyinfo *), void *arg)
{
	struct dbp	 p[2] = { DBP_S(user), DBP_I(max) };
	struct dbres	*r;
	struct keyinfo	 ki;
	int		 rc;

	if ((r = db_query(db, sql_list, p, 2)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1) {
		key_fill(r, &ki);
		if (cb(arg, &ki) != 0)
			break;
	}
	db_done(r);
	return rc == -1 ? -1 : 0;
}

/*
 * Looks a key up by its hash. Returns 1 with *k filled, 0 when no key has
 * that hash, -1 on a database error.
 */
int
key_lookup(struct db *db, const unsigned char hash[KEY_HASH_LEN],
    struct apikey *k)
{
	struct dbp	 p[1] = { DBP_B(hash, KEY_HASH_LEN) };
	struct dbres	*r;
	int		 rc;

	if ((r = db_query(db, sql_lookup, p, 1)) == NULL)
		return -1;
	if ((rc = db_next(r)) == 1) {
		k->id = (unsigned long long)db_int(r, 0);
		strlcpy_(k->user_id, db_str(r, 1), sizeof(k->user_id));
		k->expires = (time_t)db_int(r, 2);
		k->revoked = (int)db_int(r, 3);
		strlcpy_(k->plan, db_str(r, 4), sizeof(k->plan));
		k->limit = db_isnull(r, 5) ? -1 : db_int(r, 5);
		k->hard = (int)db_int(r, 6);
	}
	db_done(r);
	return rc;
}

/*
 * Calls cb(arg, hash, id) for each live key made before MACs whose id is
 * above after, in id order. Returns 0 or -1.
 */
int
key_legacy(struct db *db, unsigned long long after,
    void (*cb)(void *, const unsigned char *, unsigned long long), void *arg)
{
	struct dbp	 p[1] = { DBP_I(after) };
	struct dbres	*r;
	int		 rc;

	if ((r = db_query(db, sql_legacy, p, 1)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1)
		if (db_len(r, 1) == KEY_HASH_LEN)
			cb(arg, (const unsigned char *)db_str(r, 1),
			    (unsigned long long)db_int(r, 0));
	db_done(r);
	return rc == -1 ? -1 : 0;
}
