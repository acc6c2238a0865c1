/*
 * API keys: "nx_live_" and 43 base62 characters (256 bits from the
 * kernel's CSPRNG). Only SHA-256 of the whole key is stored, with the
 * first KEY_DISPLAY characters for people to recognise it by.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include <openssl/sha.h>

#include "nexus.h"

static const char *const sql_insert = "INSERT INTO eco_api_keys "
    "(user_id, key_hash, prefix, name, created_at, expires_at) "
    "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(), FROM_UNIXTIME(?))";
static const char *const sql_lookup = "SELECT k.id, k.user_id, "
    "UNIX_TIMESTAMP(k.expires_at), k.revoked_at IS NOT NULL, "
    "u.plan_id, p.monthly_calls, p.hard_limit "
    "FROM eco_api_keys k JOIN eco_users u ON u.id = k.user_id "
    "JOIN eco_plans p ON p.id = u.plan_id WHERE k.key_hash = ?";
static const char *const sql_list = "SELECT id, prefix, name, "
    "UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(last_used_at), "
    "UNIX_TIMESTAMP(expires_at), UNIX_TIMESTAMP(revoked_at) "
    "FROM eco_api_keys WHERE user_id = ? ORDER BY created_at, id";
static const char *const sql_get = "SELECT user_id, name, "
    "UNIX_TIMESTAMP(expires_at), revoked_at IS NOT NULL "
    "FROM eco_api_keys WHERE id = ?";
static const char *const sql_revoke = "UPDATE eco_api_keys "
    "SET revoked_at = UTC_TIMESTAMP() WHERE id = ? AND revoked_at IS NULL";
static const char *const sql_expire = "UPDATE eco_api_keys "
    "SET expires_at = FROM_UNIXTIME(?) WHERE id = ?";

/* Returns 1 when s has the shape of a key: the prefix and 43 base62. */
int
key_format_valid(const char *s)
{
	size_t	 i;

	if (strncmp(s, KEY_PREFIX, sizeof(KEY_PREFIX) - 1) != 0)
		return 0;
	s += sizeof(KEY_PREFIX) - 1;
	for (i = 0; i < KEY_RANDOM; i++)
		if (!isalnum((unsigned char)s[i]))
			return 0;
	return s[KEY_RANDOM] == '\0';
}

void
key_hash(const char *key, unsigned char out[KEY_HASH_LEN])
{
	SHA256((const unsigned char *)key, strlen(key), out);
}

/*
 * Creates a key for user (name may be NULL; expires 0 for never), writes
 * it to key (shown once, never stored) and its id to *id.
 * Returns 0, KEY_ERR_NOUSER or KEY_ERR_DB.
 */
int
key_create(struct db *db, const char *user, const char *name, time_t expires,
    char key[KEY_LEN + 1], unsigned long long *id)
{
	unsigned char	 hash[KEY_HASH_LEN];
	char		 prefix[KEY_DISPLAY + 1];
	struct user	 u;
	int		 rc;

	if ((rc = user_get(db, user, &u)) != USER_OK)
		return rc == USER_ERR_NOUSER ? KEY_ERR_NOUSER : KEY_ERR_DB;
	memcpy(key, KEY_PREFIX, sizeof(KEY_PREFIX) - 1);
	if (random_base62(key + sizeof(KEY_PREFIX) - 1, KEY_RANDOM) == -1)
		return KEY_ERR_DB;
	key_hash(key, hash);
	strlcpy_(prefix, key, sizeof(prefix));

	struct dbp p[5] = { DBP_S(user), DBP_B(hash, sizeof(hash)),
	    DBP_S(prefix), DBP_SNULL(name),
	    expires ? DBP_I(expires) : DBP_NUL };
	if (db_exec_id(db, sql_insert, p, 5, id) == -1)
		return KEY_ERR_DB;
	return 0;
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

/* Calls cb for each of user's keys, oldest first. Returns 0 or -1. */
int
key_list(struct db *db, const char *user,
    int (*cb)(void *, const struct keyinfo *), void *arg)
{
	struct dbp	 p[1] = { DBP_S(user) };
	struct dbres	*r;
	struct keyinfo	 ki;
	int		 rc;

	if ((r = db_query(db, sql_list, p, 1)) == NULL)
		return -1;
	while ((rc = db_next(r)) == 1) {
		memset(&ki, 0, sizeof(ki));
		ki.id = (unsigned long long)db_int(r, 0);
		strlcpy_(ki.prefix, db_str(r, 1), sizeof(ki.prefix));
		strlcpy_(ki.name, db_str(r, 2), sizeof(ki.name));
		ki.created = (time_t)db_int(r, 3);
		ki.last_used = (time_t)db_int(r, 4);
		ki.expires = (time_t)db_int(r, 5);
		ki.revoked = (time_t)db_int(r, 6);
		if (cb(arg, &ki) != 0)
			break;
	}
	db_done(r);
	return rc == -1 ? -1 : 0;
}

/* Returns 1 with the key's owner, name and expiry, 0 if none, -1 error. */
static int
key_get(struct db *db, unsigned long long id, char *user, size_t usz,
    char *name, size_t nsz, time_t *expires, int *revoked)
{
	struct dbp	 p[1] = { DBP_I(id) };
	struct dbres	*r;
	int		 rc;

	if ((r = db_query(db, sql_get, p, 1)) == NULL)
		return -1;
	if ((rc = db_next(r)) == 1) {
		strlcpy_(user, db_str(r, 0), usz);
		strlcpy_(name, db_str(r, 1), nsz);
		*expires = (time_t)db_int(r, 2);
		*revoked = (int)db_int(r, 3);
	}
	db_done(r);
	return rc;
}

/* Revokes key id. Returns 0, KEY_ERR_NOKEY (no such live key) or KEY_ERR_DB. */
int
key_revoke(struct db *db, unsigned long long id)
{
	struct dbp		 p[1] = { DBP_I(id) };
	unsigned long long	 n;

	if (db_exec(db, sql_revoke, p, 1, &n) == -1)
		return KEY_ERR_DB;
	return n == 1 ? 0 : KEY_ERR_NOKEY;
}

/*
 * Replaces key id with a new key for the same user and name; the old key
 * keeps working for grace seconds (its expiry is brought forward, never
 * pushed back). Returns 0 with the new key, or a negative enum key_err.
 */
int
key_rotate(struct db *db, unsigned long long id, long long grace,
    char key[KEY_LEN + 1], unsigned long long *newid)
{
	char		 user[USER_ID_MAX + 1], name[KEY_NAME_MAX + 1];
	time_t		 expires, until = time(NULL) + grace;
	int		 revoked, rc;

	if ((rc = key_get(db, id, user, sizeof(user), name, sizeof(name),
	    &expires, &revoked)) != 1)
		return rc == 0 ? KEY_ERR_NOKEY : KEY_ERR_DB;
	if (revoked)
		return KEY_ERR_REVOKED;
	if (db_begin(db) == -1)
		return KEY_ERR_DB;
	if ((rc = key_create(db, user, name[0] ? name : NULL, expires, key,
	    newid)) != 0)
		goto fail;
	if (expires == 0 || until < expires) {
		struct dbp p[2] = { DBP_I(until), DBP_I(id) };
		if (db_exec(db, sql_expire, p, 2, NULL) == -1) {
			rc = KEY_ERR_DB;
			goto fail;
		}
	}
	if (db_commit(db) == -1)
		return KEY_ERR_DB;
	return 0;
fail:
	db_rollback(db);
	return rc;
}
