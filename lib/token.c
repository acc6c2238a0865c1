/*
 * JWT verification for the user and admin APIs (RFC 7519, RFC 7515,
 * RFC 8725 "JWT Best Current Practices").
 *
 * libjwt 1.10 checks a signature with whatever algorithm the token's own
 * header names (and with no key, none at all) and checks no claim. So the
 * algorithm is pinned by configuration and checked here twice: in the
 * header before libjwt sees the token, and in what libjwt decoded after
 * (a header with two "alg" members could be read one way by json-c and
 * another by libjwt's jansson). Claims are read here from the payload the
 * signature covers: exp (required), nbf, iss and aud, with jwt_leeway
 * seconds of clock leeway.
 *
 * The public key file is read once per process (and again only if the
 * configured path or algorithm changes). Workers verify tokens on one thread only.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "nexus.h"

#define TOKEN_PART_MAX	4096	/* decoded header or payload */
#define PEM_MAX		16384
#define HMAC_KEY_MIN	32	/* RFC 7518 3.2: at least the hash size */
#define RSA_BITS_MIN	2048	/* RFC 7518 3.3 */

static const struct token_alg {
	const char	*name;
	jwt_alg_t	 alg;
	int		 pkey;		/* EVP_PKEY_* of the public key, 0: HMAC */
	int		 bits;		/* minimum key size */
} algs[] = {
	{ "HS256", JWT_ALG_HS256, 0, 0 },
	{ "RS256", JWT_ALG_RS256, EVP_PKEY_RSA, RSA_BITS_MIN },
	{ "ES256", JWT_ALG_ES256, EVP_PKEY_EC, 256 },
};

static const char *const reasons[] = {
	[TOKEN_OK] = "token accepted",
	[TOKEN_MALFORMED] = "token is malformed",
	[TOKEN_TOO_LONG] = "token is too long",
	[TOKEN_ALG] = "token algorithm is not accepted",
	[TOKEN_SIGNATURE] = "token signature is invalid",
	[TOKEN_NO_EXP] = "token has no valid exp claim",
	[TOKEN_EXPIRED] = "token has expired",
	[TOKEN_NOT_YET] = "token is not valid yet (nbf)",
	[TOKEN_ISSUER] = "token issuer is not accepted",
	[TOKEN_AUDIENCE] = "token audience is not accepted",
	[TOKEN_SUBJECT] = "token has no valid sub claim",
	[TOKEN_CONFIG] = "token verification is not configured",
};

/* The public key, as read from jwt_public_key_file. */
static struct {
	const struct token_alg *alg;
	char		*path;
	unsigned char	*pem;
	int		 len;
} pubkey;

const char *
token_strerror(int rc)
{
	if (rc < 0 || (size_t)rc >= sizeof(reasons) / sizeof(reasons[0]))
		return "token is invalid";
	return reasons[rc];
}

static const struct token_alg *
token_alg(const struct config *cfg)
{
	size_t	 i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (cfg->jwt_alg != NULL && strcmp(cfg->jwt_alg, algs[i].name) == 0)
			return &algs[i];
	return NULL;
}

/* Checks that pem holds a public key of the algorithm's type and size. */
static int
key_check(const struct token_alg *a, const unsigned char *pem, int len,
    const char *path)
{
	BIO		*bio;
	EVP_PKEY	*pk;
	int		 rc = -1;

	if ((bio = BIO_new_mem_buf(pem, len)) == NULL)
		return -1;
	if ((pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL)
		log_warnx("%s: not a PEM public key", path);
	else if (EVP_PKEY_get_base_id(pk) != a->pkey)
		log_warnx("%s: not a%s key", path,
		    a->pkey == EVP_PKEY_RSA ? "n RSA" : " P-256");
	else if (EVP_PKEY_get_bits(pk) < a->bits ||
	    (a->pkey == EVP_PKEY_EC && EVP_PKEY_get_bits(pk) != a->bits))
		log_warnx("%s: %d-bit key, %s needs %d", path,
		    EVP_PKEY_get_bits(pk), a->name, a->bits);
	else
		rc = 0;
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return rc;
}

/* Reads and checks the public key file unless it is already loaded. */
static int
key_load(const struct config *cfg, const struct token_alg *a)
{
	const char	*path = cfg->jwt_public_key_file;
	unsigned char	*pem = NULL;
	FILE		*f;
	size_t		 n;

	if (path == NULL) {
		log_warnx("jwt_alg %s needs jwt_public_key_file", a->name);
		return -1;
	}
	if (pubkey.path != NULL && pubkey.alg == a &&
	    strcmp(pubkey.path, path) == 0)
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		log_warnx("%s: %s", path, strerror(errno));
		return -1;
	}
	pem = xmalloc(PEM_MAX + 1);
	n = fread(pem, 1, PEM_MAX + 1, f);
	fclose(f);
	if (n == 0 || n > PEM_MAX) {
		log_warnx("%s: empty or larger than %d bytes", path, PEM_MAX);
		goto fail;
	}
	pem[n] = '\0';
	if (key_check(a, pem, (int)n, path) == -1)
		goto fail;
	free(pubkey.path);
	free(pubkey.pem);
	pubkey.alg = a;
	pubkey.path = xstrdup(path);
	pubkey.pem = pem;
	pubkey.len = (int)n;
	return 0;
fail:
	free(pem);
	return -1;
}

/*
 * Loads what verification needs (the public key, or checks the secret).
 * Workers call it at start so that a bad key shows in the log at once.
 * Returns 0, or -1 after logging what is wrong.
 */
int
token_init(const struct config *cfg)
{
	const struct token_alg	*a;

	if ((a = token_alg(cfg)) == NULL) {
		log_warnx("jwt_alg %s is not supported (HS256, RS256, ES256)",
		    cfg->jwt_alg ? cfg->jwt_alg : "(unset)");
		return -1;
	}
	if (a->pkey != 0)
		return key_load(cfg, a);
	if (cfg->jwt_secret == NULL || strlen(cfg->jwt_secret) < HMAC_KEY_MIN) {
		log_warnx("jwt_secret must be at least %d bytes for HS256",
		    HMAC_KEY_MIN);
		return -1;
	}
	return 0;
}

/*
 * Decodes unpadded base64url (RFC 7515 2) of s[0..n-1] into out (size
 * outsz). Returns the decoded length, or -1 for a bad character, length or
 * overflow.
 */
static long
b64url_decode(const char *s, size_t n, unsigned char *out, size_t outsz)
{
	unsigned int	 acc = 0, bits = 0;
	size_t		 i, o = 0;
	int		 v;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outsz)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return (long)o;
}

/* Decodes one base64url JSON object; returns it or NULL. */
static json_object *
part_decode(const char *s, size_t n)
{
	unsigned char	 buf[TOKEN_PART_MAX];
	json_tokener	*tok;
	json_object	*o;
	long		 len;

	if ((len = b64url_decode(s, n, buf, sizeof(buf))) <= 0)
		return NULL;
	if (memchr(buf, '\0', (size_t)len) != NULL)
		return NULL;
	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
	if (o != NULL && (json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != (size_t)len ||
	    !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* Reads a NumericDate claim (RFC 7519 2). Returns 1, 0 if absent, -1 bad. */
static int
claim_time(json_object *claims, const char *name, long long *out)
{
	json_object	*v;
	double		 d;

	if (!json_object_object_get_ex(claims, name, &v))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 1;
	}
	if (json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
		if (!(d >= -1e15 && d <= 1e15))	/* also NaN */
			return -1;
		*out = (long long)d - (d < (long long)d);
		return 1;
	}
	return -1;
}

/* aud may be one string or an array of strings (RFC 7519 4.1.3). */
static int
audience_ok(json_object *claims, const char *want)
{
	json_object	*v, *e;
	size_t		 i, n;

	if (!json_object_object_get_ex(claims, "aud", &v))
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strcmp(json_object_get_string(v), want) == 0;
	if (!json_object_is_type(v, json_type_array))
		return 0;
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(v, i);
		if (json_object_is_type(e, json_type_string) &&
		    strcmp(json_object_get_string(e), want) == 0)
			return 1;
	}
	return 0;
}

static int
claims_check(const struct config *cfg, json_object *claims, time_t now,
    char *sub, size_t subsz)
{
	json_object	*v;
	long long	 exp, nbf, leeway = cfg->jwt_leeway;
	const char	*s;

	if (claim_time(claims, "exp", &exp) != 1)
		return TOKEN_NO_EXP;
	/* exp: now must be before it; nbf: now must not be before it. */
	if ((long long)now - leeway >= exp)
		return TOKEN_EXPIRED;
	switch (claim_time(claims, "nbf", &nbf)) {
	case -1:
		return TOKEN_NOT_YET;
	case 1:
		if ((long long)now + leeway < nbf)
			return TOKEN_NOT_YET;
		break;
	}
	if (cfg->jwt_issuer != NULL &&
	    (!json_object_object_get_ex(claims, "iss", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), cfg->jwt_issuer) != 0))
		return TOKEN_ISSUER;
	if (cfg->jwt_audience != NULL && !audience_ok(claims, cfg->jwt_audience))
		return TOKEN_AUDIENCE;
	if (!json_object_object_get_ex(claims, "sub", &v) ||
	    !json_object_is_type(v, json_type_string))
		return TOKEN_SUBJECT;
	s = json_object_get_string(v);
	if (!user_id_valid(s) || strlcpy_(sub, s, subsz) >= subsz)
		return TOKEN_SUBJECT;
	return TOKEN_OK;
}

/* Checks the protected header: the pinned alg, a JWT typ, no crit. */
static int
header_check(const struct token_alg *a, json_object *head)
{
	json_object	*v;

	if (!json_object_object_get_ex(head, "alg", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), a->name) != 0)
		return TOKEN_ALG;
	if (json_object_object_get_ex(head, "typ", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	    strcasecmp(json_object_get_string(v), "JWT") != 0))
		return TOKEN_MALFORMED;
	/* RFC 7515 4.1.11: we understand no extension, so none may be crit. */
	if (json_object_object_get_ex(head, "crit", NULL))
		return TOKEN_MALFORMED;
	return TOKEN_OK;
}

/*
 * Verifies a compact JWS token at time now. On TOKEN_OK copies its sub
 * (a user id) into sub. Returns an enum token_result; token_strerror()
 * says what it means.
 */
int
token_verify(const struct config *cfg, const char *token, time_t now,
    char *sub, size_t subsz)
{
	const struct token_alg	*a;
	const unsigned char	*key;
	json_object		*head = NULL, *claims = NULL;
	jwt_t			*jwt = NULL;
	const char		*dot1, *dot2;
	size_t			 len, i;
	int			 keylen, rc;

	if (token_init(cfg) == -1)
		return TOKEN_CONFIG;
	a = token_alg(cfg);
	if ((len = strnlen(token, TOKEN_MAX + 1)) > TOKEN_MAX)
		return TOKEN_TOO_LONG;
	for (i = 0; i < len; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_.", token[i]) == NULL)
			return TOKEN_MALFORMED;
	if ((dot1 = strchr(token, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL || strchr(dot2 + 1, '.'))
		return TOKEN_MALFORMED;
	if ((head = part_decode(token, (size_t)(dot1 - token))) == NULL ||
	    (claims = part_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1))) == NULL) {
		rc = TOKEN_MALFORMED;
		goto out;
	}
	if ((rc = header_check(a, head)) != TOKEN_OK)
		goto out;
	if (dot2[1] == '\0') {
		rc = TOKEN_SIGNATURE;
		goto out;
	}
	if (a->pkey == 0) {
		key = (const unsigned char *)cfg->jwt_secret;
		keylen = (int)strlen(cfg->jwt_secret);
	} else {
		key = pubkey.pem;
		keylen = pubkey.len;
	}
	/* Never without a key: libjwt would then skip the signature. */
	if (jwt_decode(&jwt, token, key, keylen) != 0 || jwt == NULL) {
		rc = TOKEN_SIGNATURE;
		goto out;
	}
	if (jwt_get_alg(jwt) != a->alg) {
		rc = TOKEN_ALG;
		goto out;
	}
	rc = claims_check(cfg, claims, now, sub, subsz);
out:
	if (jwt != NULL)
		jwt_free(jwt);
	json_object_put(head);
	json_object_put(claims);
	return rc;
}

/*
 * Issues an HS256 token for user, valid ttl seconds from now, with the
 * configured issuer and audience: for operators and the dev stack (in
 * production the identity provider issues them). Returns a string to
 * free(), or NULL when HS256 with a secret is not what is configured.
 */
char *
token_issue(const struct config *cfg, const char *user, long long ttl,
    time_t now)
{
	jwt_t	*jwt = NULL;
	char	*out = NULL;

	if (cfg->jwt_alg == NULL || strcmp(cfg->jwt_alg, "HS256") != 0 ||
	    cfg->jwt_secret == NULL || strlen(cfg->jwt_secret) < HMAC_KEY_MIN)
		return NULL;
	if (jwt_new(&jwt) != 0)
		return NULL;
	if (jwt_add_grant(jwt, "sub", user) != 0 ||
	    jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)(now + ttl)) != 0 ||
	    (cfg->jwt_issuer != NULL &&
	    jwt_add_grant(jwt, "iss", cfg->jwt_issuer) != 0) ||
	    (cfg->jwt_audience != NULL &&
	    jwt_add_grant(jwt, "aud", cfg->jwt_audience) != 0) ||
	    jwt_set_alg(jwt, JWT_ALG_HS256,
	    (const unsigned char *)cfg->jwt_secret,
	    (int)strlen(cfg->jwt_secret)) != 0)
		goto out;
	out = jwt_encode_str(jwt);
out:
	jwt_free(jwt);
	return out;
}
