/*
 * Key management for the signed-in user (AUTH_USER): GET and POST
 * /api/keys, POST /api/keys/{id}/rotate, DELETE /api/keys/{id}.
 *
 * A user reaches only their own keys: another user's key, an unknown id
 * and a malformed one get the same 404. The whole key is in the answer
 * that makes it and nowhere else; the database keeps its hash. Every
 * change is audited with the user as actor (keys.c, in the change's
 * transaction). A revoked or rotated key is named to the host's workers
 * (shm.c), which drop it from their caches at once; other hosts' workers
 * ask again within key_cache_ttl, which the answers state.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "web.h"

#define KEYS_LIST_MAX	1000		/* newest first */
#define GRACE_MAX	(7 * 86400)
#define GRACE_DEFAULT	86400

static const struct body_field create_fields[] = {
	{ "name",		BODY_STR,	0, 0 },
	{ "expires_at",		BODY_STR,	0, 0 },
};
#define CREATE_NAME	0
#define CREATE_EXPIRES	1
#define NCREATE		(sizeof(create_fields) / sizeof(create_fields[0]))

static const struct body_field rotate_fields[] = {
	{ "grace_seconds",	BODY_INT,	0, GRACE_MAX },
};
#define NROTATE		(sizeof(rotate_fields) / sizeof(rotate_fields[0]))

static json_object *
key_json(const struct keyinfo *k, time_t now)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_uint64(k->id));
	json_object_object_add(o, "prefix", json_object_new_string(k->prefix));
	json_object_object_add(o, "name", k->name[0] != '\0' ?
	    json_object_new_string(k->name) : NULL);
	json_object_object_add(o, "created_at", json_time(k->created));
	json_object_object_add(o, "last_used_at", json_time(k->last_used));
	json_object_object_add(o, "expires_at", json_time(k->expires));
	json_object_object_add(o, "rotated_at", json_time(k->rotated));
	json_object_object_add(o, "revoked_at", json_time(k->revoked));
	json_object_object_add(o, "state",
	    json_object_new_string(key_state(k, now)));
	return o;
}

/* The rules a user changes their own keys under. */
static void
key_op_user(struct request *r, struct key_op *op)
{
	memset(op, 0, sizeof(*op));
	op->secret = r->srv->cfg->key_secret;
	op->actor = r->user_id;
	op->owner = r->user_id;
	op->remote = r->remote;
	op->max_live = r->srv->cfg->max_keys_per_user;
}

/*
 * The {id} of the path: a key id in canonical decimal, else 0, which no
 * key has (and which gets the same 404 as an unknown key).
 */
static unsigned long long
key_id_param(const struct request *r)
{
	const char	*s = req_path_param(r, "id");
	long long	 id;
	size_t		 i;

	if (s == NULL || s[0] == '0')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	if (parse_int(s, 1, INT64_MAX, &id) == -1)
		return 0;
	return (unsigned long long)id;
}

static void
key_unavailable(struct request *r)
{
	log_warnx("keys: %s", db_error(r->srv->db));
	resp_error(r, 503, "unavailable", "database unavailable");
}

/* Answers a failed change (a negative enum key_err). */
static void
key_failed(struct request *r, int rc, int rotating)
{
	const struct config	*cfg = r->srv->cfg;

	switch (rc) {
	case KEY_ERR_NOKEY:
		resp_error(r, 404, "not_found", "no such key");
		break;
	case KEY_ERR_NOUSER:
		resp_error(r, 404, "not_found", "no such user");
		break;
	case KEY_ERR_REVOKED:
		resp_error(r, 409, "key_revoked", "the key is revoked");
		break;
	case KEY_ERR_EXPIRED:
		resp_error(r, 409, "key_expired", "the key has expired");
		break;
	case KEY_ERR_ROTATED:
		resp_error(r, 409, "key_rotated", "the key was rotated "
		    "already and stops at the end of its grace period; "
		    "rotate the key that replaced it");
		break;
	case KEY_ERR_LIMIT:
		resp_error(r, 409, "too_many_keys", "you hold %lld live keys, "
		    "the most allowed: revoke one first%s",
		    cfg->max_keys_per_user, rotating ?
		    ", or rotate with grace_seconds 0" : "");
		break;
	case KEY_ERR_NOSECRET:
		log_warnx("keys: %s: no key can be made",
		    key_secret_problem(cfg->key_secret));
		resp_error(r, 500, "internal",
		    "this server is not configured to make keys");
		break;
	default:
		key_unavailable(r);
		break;
	}
}

/* This host's workers look the key up again at its next use. */
static void
key_changed(struct request *r, const struct keyinfo *k)
{
	if (r->srv->shm != NULL)
		shm_keys_changed(r->srv->shm, k->hash);
}

struct key_list {
	json_object	*arr;
	time_t		 now;
	long long	 live;
};

static int
key_list_add(void *arg, const struct keyinfo *k)
{
	struct key_list	*l = arg;
	const char	*state = key_state(k, l->now);

	l->live += strcmp(state, "active") == 0 ||
	    strcmp(state, "rotating") == 0;
	json_object_array_add(l->arr, key_json(k, l->now));
	return 0;
}

/* GET /api/keys: the user's keys, newest first, in every state. */
void
api_keys_list(struct request *r)
{
	const struct config	*cfg = r->srv->cfg;
	struct key_list		 l;
	json_object		*o;

	l.arr = json_object_new_array();
	l.now = time(NULL);
	l.live = 0;
	if (key_list(r->srv->db, r->user_id, KEYS_LIST_MAX, key_list_add,
	    &l) == -1) {
		json_object_put(l.arr);
		key_unavailable(r);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "keys", l.arr);
	json_object_object_add(o, "live_keys", json_object_new_int64(l.live));
	json_object_object_add(o, "max_keys",
	    json_object_new_int64(cfg->max_keys_per_user));
	json_object_object_add(o, "key_cache_ttl",
	    json_object_new_int64(cfg->key_cache_ttl));
	resp_json(r, 200, o);
}

/*
 * Reads expires_at, "YYYY-MM-DD" (the key stops at the start of that UTC
 * day), into *t. Returns 0, or -1 after answering 400.
 */
static int
expiry_param(struct request *r, const struct body_value *v, time_t *t)
{
	const char	*s = v->s, *why;
	size_t		 i;

	for (i = 0; i < 10 && v->len == 10; i++)
		if ((i == 4 || i == 7) ? s[i] != '-' :
		    (s[i] < '0' || s[i] > '9'))
			break;
	if (i < 10 || time_parse_date(s, t) == -1) {
		resp_error(r, 400, "invalid_parameter",
		    "expires_at must be a date, YYYY-MM-DD (UTC)");
		return -1;
	}
	if ((why = key_expiry_problem(*t, time(NULL))) != NULL) {
		resp_error(r, 400, "invalid_parameter", "expires_at %s", why);
		return -1;
	}
	return 0;
}

/* POST /api/keys {"name": "...", "expires_at": "YYYY-MM-DD"}: 201. */
void
api_keys_create(struct request *r)
{
	struct body_value	 v[NCREATE];
	struct key_op		 op;
	struct keyinfo		 k;
	json_object		*o;
	const char		*why;
	char			 key[KEY_LEN + 1];
	time_t			 expires = 0;
	int			 rc;

	if (req_body(r, create_fields, NCREATE, v) == -1)
		return;
	if (v[CREATE_NAME].set && (why = key_name_problem(v[CREATE_NAME].s,
	    v[CREATE_NAME].len)) != NULL) {
		resp_error(r, 400, "invalid_parameter", "name %s", why);
		goto out;
	}
	if (v[CREATE_EXPIRES].set &&
	    expiry_param(r, &v[CREATE_EXPIRES], &expires) == -1)
		goto out;
	key_op_user(r, &op);
	if ((rc = key_create(r->srv->db, &op, r->user_id,
	    v[CREATE_NAME].set ? v[CREATE_NAME].s : NULL, expires, key,
	    &k)) != 0) {
		key_failed(r, rc, 0);
		goto out;
	}
	o = key_json(&k, time(NULL));
	json_object_object_add(o, "key", json_object_new_string(key));
	explicit_bzero(key, sizeof(key));
	resp_json(r, 201, o);
out:
	body_free(v, NCREATE);
}

/*
 * POST /api/keys/{id}/rotate {"grace_seconds": N}: 201 with the new key;
 * the old one works N more seconds (0 to 7 days, a day if not given).
 */
void
api_keys_rotate(struct request *r)
{
	struct body_value	 v[NROTATE];
	unsigned long long	 id = key_id_param(r);
	long long		 grace;
	struct key_op		 op;
	struct keyinfo		 k, old;
	json_object		*o;
	char			 key[KEY_LEN + 1];
	int			 rc;

	if (id == 0) {
		key_failed(r, KEY_ERR_NOKEY, 1);
		return;
	}
	if (req_body(r, rotate_fields, NROTATE, v) == -1)
		return;
	grace = v[0].set ? v[0].i : GRACE_DEFAULT;
	body_free(v, NROTATE);
	key_op_user(r, &op);
	if ((rc = key_rotate(r->srv->db, &op, id, grace, key, &k,
	    &old)) != 0) {
		key_failed(r, rc, 1);
		return;
	}
	key_changed(r, &old);
	o = key_json(&k, time(NULL));
	json_object_object_add(o, "key", json_object_new_string(key));
	explicit_bzero(key, sizeof(key));
	json_object_object_add(o, "grace_seconds", json_object_new_int64(grace));
	json_object_object_add(o, "replaced", key_json(&old, time(NULL)));
	resp_json(r, 201, o);
}

/* DELETE /api/keys/{id}: revokes; 200 with the key and where it holds. */
void
api_keys_revoke(struct request *r)
{
	const struct config	*cfg = r->srv->cfg;
	unsigned long long	 id = key_id_param(r);
	struct key_op		 op;
	struct keyinfo		 k;
	json_object		*o;
	char			 msg[160];
	int			 rc;

	if (id == 0) {
		key_failed(r, KEY_ERR_NOKEY, 0);
		return;
	}
	key_op_user(r, &op);
	if ((rc = key_revoke(r->srv->db, &op, id, &k)) != 0) {
		key_failed(r, rc, 0);
		return;
	}
	key_changed(r, &k);
	o = key_json(&k, time(NULL));
	json_object_object_add(o, "key_cache_ttl",
	    json_object_new_int64(cfg->key_cache_ttl));
	snprintf(msg, sizeof(msg), "the key is refused at once by this host "
	    "and by every host within %lld seconds", cfg->key_cache_ttl);
	json_object_object_add(o, "message", json_object_new_string(msg));
	resp_json(r, 200, o);
}
