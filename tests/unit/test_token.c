/*
 * Unit tests for lib/token.c: every way a JWT is refused, with tokens made
 * by hand (tests/tokens.c) and by libjwt itself.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jwt.h>

#include "itest.h"
#include "tokens.h"

#define SECRET	"unit-test-secret-0123456789abcdef-0123"
#define SUB	"eco_usr_AAAAbbbbCCCCddddEEEEffff"
#define NOW	1760000000LL
#define LEEWAY	30

static struct config	 cfg;
static char		 dir[] = "/tmp/nexus-token.XXXXXX";
static char		*rsa_priv, *rsa_pub, *ec_priv, *ec_pub;
static char		 rsa_path[256], ec_path[256];

static void
write_file(const char *path, const char *s)
{
	FILE	*f = fopen(path, "w");

	ck_assert(f != NULL);
	fputs(s, f);
	fclose(f);
}

static void
setup_keys(void)
{
	ck_assert(mkdtemp(dir) != NULL);
	mint_keypair("RSA", &rsa_priv, &rsa_pub);
	mint_keypair("EC", &ec_priv, &ec_pub);
	snprintf(rsa_path, sizeof(rsa_path), "%s/rsa.pub", dir);
	snprintf(ec_path, sizeof(ec_path), "%s/ec.pub", dir);
	write_file(rsa_path, rsa_pub);
	write_file(ec_path, ec_pub);
}

static void
teardown_keys(void)
{
	unlink(rsa_path);
	unlink(ec_path);
	rmdir(dir);
}

/* HS256 with SECRET, no iss/aud, 30 s leeway. */
static void
setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.jwt_alg = "HS256";
	cfg.jwt_secret = SECRET;
	cfg.jwt_leeway = LEEWAY;
}

static int
verify(const char *tok)
{
	char	 sub[USER_ID_MAX + 1] = "";

	return token_verify(&cfg, tok, (time_t)NOW, sub, sizeof(sub));
}

/* Mints an HS256 token with SECRET and checks its verdict. */
static void
check_hs(const char *claims, int want)
{
	char	*t = mint_token("HS256", SECRET, strlen(SECRET), NULL, claims);
	int	 rc = verify(t);

	ck_assert_msg(rc == want, "%s: got %d (%s), want %d (%s)", claims, rc,
	    token_strerror(rc), want, token_strerror(want));
	free(t);
}

static char *
claims_exp(long long exp)
{
	char	*c;

	xasprintf(&c, "{\"sub\":\"%s\",\"exp\":%lld}", SUB, exp);
	return c;
}

START_TEST(hs256_accepted)
{
	char	 sub[USER_ID_MAX + 1];
	char	*c = claims_exp(NOW + 60);
	char	*t = mint_token("HS256", SECRET, strlen(SECRET), NULL, c);

	ck_assert_int_eq(token_verify(&cfg, t, (time_t)NOW, sub, sizeof(sub)),
	    TOKEN_OK);
	ck_assert_str_eq(sub, SUB);
	free(t);
	free(c);
	/* A header without typ, and extra claims, are fine. */
	t = mint_token("HS256", SECRET, strlen(SECRET), "{\"alg\":\"HS256\"}",
	    "{\"sub\":\"" SUB "\",\"exp\":1760000100,\"role\":\"authenticated\","
	    "\"iat\":1759990000}");
	ck_assert_int_eq(verify(t), TOKEN_OK);
	free(t);
}
END_TEST

START_TEST(hs256_made_by_libjwt)
{
	jwt_t	*j;
	char	*t;

	ck_assert_int_eq(jwt_new(&j), 0);
	jwt_add_grant(j, "sub", SUB);
	jwt_add_grant_int(j, "exp", (long)NOW + 60);
	ck_assert_int_eq(jwt_set_alg(j, JWT_ALG_HS256,
	    (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
	t = jwt_encode_str(j);
	ck_assert_int_eq(verify(t), TOKEN_OK);
	free(t);

	/* libjwt's own unsigned token. */
	ck_assert_int_eq(jwt_set_alg(j, JWT_ALG_NONE, NULL, 0), 0);
	t = jwt_encode_str(j);
	ck_assert_int_eq(verify(t), TOKEN_ALG);
	free(t);
	jwt_free(j);
}
END_TEST

START_TEST(alg_none_refused)
{
	static const char *const heads[] = {
		"{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
		"{\"alg\":\"none\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS256\",\"alg\":\"none\"}",	/* duplicate member */
	};
	char	*c = claims_exp(NOW + 60), *t, *sig;
	size_t	 i;

	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		t = mint_token("none", NULL, 0, heads[i], c);
		ck_assert_msg(verify(t) == TOKEN_ALG, "%s", heads[i]);
		free(t);
	}
	/* alg none carrying a valid HS256 signature of its own bytes. */
	t = mint_token("HS256", SECRET, strlen(SECRET), "{\"alg\":\"none\"}", c);
	ck_assert_int_eq(verify(t), TOKEN_ALG);
	free(t);
	/* A real HS256 token with its signature stripped. */
	t = mint_token("HS256", SECRET, strlen(SECRET), NULL, c);
	sig = strrchr(t, '.');
	sig[1] = '\0';
	ck_assert_int_eq(verify(t), TOKEN_SIGNATURE);
	free(t);
	free(c);
}
END_TEST

START_TEST(alg_other_refused)
{
	static const char *const heads[] = {
		"{\"typ\":\"JWT\"}", "{\"alg\":\"hs256\"}", "{\"alg\":\"HS512\"}",
		"{\"alg\":\"HS384\"}", "{\"alg\":\"RS256\"}", "{\"alg\":\"ES256\"}",
		"{\"alg\":256}", "{\"alg\":null}", "{\"alg\":[\"HS256\"]}",
	};
	char	*c = claims_exp(NOW + 60), *t;
	size_t	 i;

	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		t = mint_token("HS256", SECRET, strlen(SECRET), heads[i], c);
		ck_assert_msg(verify(t) == TOKEN_ALG, "%s", heads[i]);
		free(t);
	}
	free(c);
}
END_TEST

/* RFC 8725 2.1: the RS256 public key used as an HS256 secret. */
START_TEST(alg_confusion_rs256_hs256)
{
	char	*c = claims_exp(NOW + 60), *t;

	cfg.jwt_alg = "RS256";
	cfg.jwt_secret = NULL;
	cfg.jwt_public_key_file = rsa_path;
	t = mint_token("RS256", rsa_priv, strlen(rsa_priv), NULL, c);
	ck_assert_int_eq(verify(t), TOKEN_OK);
	free(t);
	t = mint_token("HS256", rsa_pub, strlen(rsa_pub), NULL, c);
	ck_assert_int_eq(verify(t), TOKEN_ALG);
	free(t);
	/* The same, with the header claiming RS256 over an HMAC. */
	t = mint_token("HS256", rsa_pub, strlen(rsa_pub),
	    "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", c);
	ck_assert_int_eq(verify(t), TOKEN_SIGNATURE);
	free(t);

	/* And the other way: an RS256 token against an HS256 config. */
	setup();
	t = mint_token("RS256", rsa_priv, strlen(rsa_priv), NULL, c);
	ck_assert_int_eq(verify(t), TOKEN_ALG);
	free(t);
	free(c);
}
END_TEST

START_TEST(es256_accepted_and_checked)
{
	char	*c = claims_exp(NOW + 60), *t, *other_priv, *other_pub;

	cfg.jwt_alg = "ES256";
	cfg.jwt_secret = NULL;
	cfg.jwt_public_key_file = ec_path;
	t = mint_token("ES256", ec_priv, strlen(ec_priv), NULL, c);
	ck_assert_int_eq(verify(t), TOKEN_OK);
	free(t);
	/* Signed by another key. */
	mint_keypair("EC", &other_priv, &other_pub);
	t = mint_token("ES256", other_priv, strlen(other_priv), NULL, c);
	ck_assert_int_eq(verify(t), TOKEN_SIGNATURE);
	free(t);
	/* RS256 and HS256 tokens against an ES256 config. */
	t = mint_token("RS256", rsa_priv, strlen(rsa_priv), NULL, c);
	ck_assert_int_eq(verify(t), TOKEN_ALG);
	free(t);
	t = mint_token("HS256", ec_pub, strlen(ec_pub), NULL, c);
	ck_assert_int_eq(verify(t), TOKEN_ALG);
	free(t);
	free(other_priv);
	free(other_pub);
	free(c);
}
END_TEST

START_TEST(bad_signature)
{
	static const char other[] = "{\"sub\":"
	    "\"eco_usr_ZZZZZZZZZZZZZZZZZZZZZZZZ\",\"exp\":1760000060}";
	char	*c = claims_exp(NOW + 60), *t, *t2, *forged, *body;
	size_t	 n;

	/* Another secret. */
	t = mint_token("HS256", SECRET "x", strlen(SECRET) + 1, NULL, c);
	ck_assert_int_eq(verify(t), TOKEN_SIGNATURE);
	free(t);
	/* One signature character changed. */
	t = mint_token("HS256", SECRET, strlen(SECRET), NULL, c);
	n = strlen(t);
	t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(verify(t), TOKEN_SIGNATURE);
	free(t);
	/* Claims swapped under a valid signature (another user). */
	t = mint_token("HS256", SECRET, strlen(SECRET), NULL, c);
	body = b64url(other, strlen(other));
	t2 = strchr(t, '.');
	*t2 = '\0';
	xasprintf(&forged, "%s.%s%s", t, body, strrchr(t2 + 1, '.'));
	ck_assert_int_eq(verify(forged), TOKEN_SIGNATURE);
	free(forged);
	free(body);
	free(t);
	free(c);
}
END_TEST

START_TEST(exp_checked)
{
	char	*c;

	check_hs("{\"sub\":\"" SUB "\"}", TOKEN_NO_EXP);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":\"1760000060\"}", TOKEN_NO_EXP);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":null}", TOKEN_NO_EXP);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":true}", TOKEN_NO_EXP);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1e300}", TOKEN_NO_EXP);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060.5}", TOKEN_OK);
	/* Long past; past but within the leeway; at the leeway's edge. */
	check_hs((c = claims_exp(NOW - 3600)), TOKEN_EXPIRED);
	free(c);
	check_hs((c = claims_exp(NOW - LEEWAY + 1)), TOKEN_OK);
	free(c);
	check_hs((c = claims_exp(NOW - LEEWAY)), TOKEN_EXPIRED);
	free(c);
	check_hs((c = claims_exp(0)), TOKEN_EXPIRED);
	free(c);
	check_hs((c = claims_exp(-5)), TOKEN_EXPIRED);
	free(c);
	/* No leeway: expired the second exp is reached. */
	cfg.jwt_leeway = 0;
	check_hs((c = claims_exp(NOW)), TOKEN_EXPIRED);
	free(c);
	check_hs((c = claims_exp(NOW + 1)), TOKEN_OK);
	free(c);
}
END_TEST

START_TEST(nbf_checked)
{
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760003600,"
	    "\"nbf\":1760000600}", TOKEN_NOT_YET);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760003600,"
	    "\"nbf\":1760000031}", TOKEN_NOT_YET);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760003600,"
	    "\"nbf\":1760000030}", TOKEN_OK);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760003600,"
	    "\"nbf\":1759990000}", TOKEN_OK);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760003600,"
	    "\"nbf\":\"soon\"}", TOKEN_NOT_YET);
}
END_TEST

START_TEST(iss_checked)
{
	/* Not configured: any issuer, or none. */
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,\"iss\":\"x\"}",
	    TOKEN_OK);
	cfg.jwt_issuer = "https://auth.example.com/auth/v1";
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,"
	    "\"iss\":\"https://auth.example.com/auth/v1\"}", TOKEN_OK);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060}", TOKEN_ISSUER);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,"
	    "\"iss\":\"https://evil.example.com/auth/v1\"}", TOKEN_ISSUER);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,"
	    "\"iss\":\"https://auth.example.com/auth/v1/\"}", TOKEN_ISSUER);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,"
	    "\"iss\":[\"https://auth.example.com/auth/v1\"]}", TOKEN_ISSUER);
}
END_TEST

START_TEST(aud_checked)
{
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,\"aud\":\"x\"}",
	    TOKEN_OK);
	cfg.jwt_audience = "authenticated";
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,"
	    "\"aud\":\"authenticated\"}", TOKEN_OK);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,"
	    "\"aud\":[\"other\",\"authenticated\"]}", TOKEN_OK);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060}", TOKEN_AUDIENCE);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,"
	    "\"aud\":\"anon\"}", TOKEN_AUDIENCE);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,"
	    "\"aud\":[\"anon\",\"service\"]}", TOKEN_AUDIENCE);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,\"aud\":[]}",
	    TOKEN_AUDIENCE);
	check_hs("{\"sub\":\"" SUB "\",\"exp\":1760000060,\"aud\":1}",
	    TOKEN_AUDIENCE);
}
END_TEST

START_TEST(sub_checked)
{
	check_hs("{\"exp\":1760000060}", TOKEN_SUBJECT);
	check_hs("{\"sub\":42,\"exp\":1760000060}", TOKEN_SUBJECT);
	check_hs("{\"sub\":\"\",\"exp\":1760000060}", TOKEN_SUBJECT);
	check_hs("{\"sub\":\"8f1c2a3b-uuid\",\"exp\":1760000060}",
	    TOKEN_SUBJECT);
	check_hs("{\"sub\":\"eco_usr_a'b\",\"exp\":1760000060}", TOKEN_SUBJECT);
	check_hs("{\"sub\":\"eco_usr_0123456789012345678901234567890123456789\","
	    "\"exp\":1760000060}", TOKEN_SUBJECT);
}
END_TEST

START_TEST(header_checked)
{
	char	*c = claims_exp(NOW + 60), *t;

	t = mint_token("HS256", SECRET, strlen(SECRET),
	    "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", c);
	ck_assert_int_eq(verify(t), TOKEN_MALFORMED);
	free(t);
	t = mint_token("HS256", SECRET, strlen(SECRET),
	    "{\"alg\":\"HS256\",\"typ\":\"JWE\"}", c);
	ck_assert_int_eq(verify(t), TOKEN_MALFORMED);
	free(t);
	t = mint_token("HS256", SECRET, strlen(SECRET),
	    "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", c);
	ck_assert_int_eq(verify(t), TOKEN_OK);
	free(t);
	free(c);
}
END_TEST

START_TEST(garbage_refused)
{
	static const char *const bad[] = {
		"", "abc", "a.b", "a.b.c.d", "...", "..",
		"eyJhbGciOiJIUzI1NiJ9..sig",
		"!!!.eyJ9.c2ln",
		"eyJhbGciOiJIUzI1NiJ9=.e30.c2ln",		/* padding */
		"eyJhbGciOiJIUzI1NiJ9 .e30.c2ln",
		"eyJhbGciOiJIUzI1NiJ9.e30.c2ln\n",
		"bm90IGpzb24.e30.c2ln",			/* "not json" */
		"WyJIUzI1NiJd.e30.c2ln",			/* ["HS256"] */
		"eyJhbGciOiJIUzI1NiJ9.WzFd.c2ln",		/* claims [1] */
		"eyJhbGciOiJIUzI1NiJ9.e30gLy8.c2ln",		/* "{} //" */
		"eyJhbGciOiJIUzI1NiJ9x.e30.c2ln",		/* bad length */
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(verify(bad[i]) == TOKEN_MALFORMED, "\"%s\": %s",
		    bad[i], token_strerror(verify(bad[i])));
}
END_TEST

START_TEST(overlong_refused)
{
	char	*t = xmalloc(TOKEN_MAX + 2), *c, *pad;

	memset(t, 'A', TOKEN_MAX + 1);
	t[TOKEN_MAX + 1] = '\0';
	ck_assert_int_eq(verify(t), TOKEN_TOO_LONG);
	free(t);
	/* A well-formed, correctly signed token that is simply too big. */
	pad = xmalloc(TOKEN_MAX);
	memset(pad, 'x', TOKEN_MAX - 1);
	pad[TOKEN_MAX - 1] = '\0';
	xasprintf(&c, "{\"sub\":\"" SUB "\",\"exp\":1760000060,\"p\":\"%s\"}",
	    pad);
	check_hs(c, TOKEN_TOO_LONG);
	free(c);
	free(pad);
}
END_TEST

START_TEST(config_errors)
{
	char	*c = claims_exp(NOW + 60), *t, path[300];

	t = mint_token("HS256", "short", 5, NULL, c);
	cfg.jwt_secret = "short";
	ck_assert_int_eq(verify(t), TOKEN_CONFIG);
	cfg.jwt_secret = NULL;
	ck_assert_int_eq(verify(t), TOKEN_CONFIG);
	free(t);
	cfg.jwt_alg = "none";
	t = mint_token("none", NULL, 0, "{\"alg\":\"none\"}", c);
	ck_assert_int_eq(verify(t), TOKEN_CONFIG);
	free(t);
	cfg.jwt_alg = "HS512";
	ck_assert_int_eq(token_init(&cfg), -1);

	/* RS256 without a key, with a missing one, with an EC key. */
	cfg.jwt_alg = "RS256";
	t = mint_token("RS256", rsa_priv, strlen(rsa_priv), NULL, c);
	ck_assert_int_eq(verify(t), TOKEN_CONFIG);
	snprintf(path, sizeof(path), "%s/missing.pub", dir);
	cfg.jwt_public_key_file = path;
	ck_assert_int_eq(verify(t), TOKEN_CONFIG);
	cfg.jwt_public_key_file = ec_path;
	ck_assert_int_eq(verify(t), TOKEN_CONFIG);
	/* A private key is not a public key file. */
	snprintf(path, sizeof(path), "%s/rsa.priv", dir);
	write_file(path, rsa_priv);
	cfg.jwt_public_key_file = path;
	ck_assert_int_eq(verify(t), TOKEN_CONFIG);
	unlink(path);
	cfg.jwt_public_key_file = rsa_path;
	ck_assert_int_eq(verify(t), TOKEN_OK);
	free(t);
	free(c);
}
END_TEST

static Suite *
token_suite(void)
{
	Suite	*s = suite_create("token");
	TCase	*tc = tcase_create("verify");

	tcase_add_unchecked_fixture(tc, setup_keys, teardown_keys);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, hs256_accepted);
	tcase_add_test(tc, hs256_made_by_libjwt);
	tcase_add_test(tc, alg_none_refused);
	tcase_add_test(tc, alg_other_refused);
	tcase_add_test(tc, alg_confusion_rs256_hs256);
	tcase_add_test(tc, es256_accepted_and_checked);
	tcase_add_test(tc, bad_signature);
	tcase_add_test(tc, exp_checked);
	tcase_add_test(tc, nbf_checked);
	tcase_add_test(tc, iss_checked);
	tcase_add_test(tc, aud_checked);
	tcase_add_test(tc, sub_checked);
	tcase_add_test(tc, header_checked);
	tcase_add_test(tc, garbage_refused);
	tcase_add_test(tc, overlong_refused);
	tcase_add_test(tc, config_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	log_init("test_token", "error");
	/* One process: the keys made once are shared by every test. */
	return check_run(token_suite(), CK_NOFORK);
}
