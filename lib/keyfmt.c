/*
 * What an API key looks like, checked without the database: its shape,
 * its MAC, and the name and expiry a key may be given.
 *
 * A key is "nx_live_", 32 base62 from the kernel's CSPRNG and 11 base62
 * holding the first 64 bits of HMAC-SHA256(key_secret, the 40 characters
 * before them). A worker refuses a key whose MAC fails at the cost of one
 * HMAC, so a flood of made-up keys never reaches the database; keys made
 * before MACs (43 random characters) are known to the workers by their
 * hashes instead (keycache.c). Changing key_secret invalidates every key
 * made under the old one.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "nexus.h"

static const char base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Returns 1 when s has the shape of a key: the prefix and 43 base62. */
int
key_format_valid(const char *s)
{
	size_t	 i;

	if (strncmp(s, KEY_PREFIX, sizeof(KEY_PREFIX) - 1) != 0)
		return 0;
	s += sizeof(KEY_PREFIX) - 1;
	for (i = 0; i < KEY_BODY; i++)
		if (!isalnum((unsigned char)s[i]))
			return 0;
	return s[KEY_BODY] == '\0';
}

void
key_hash(const char *key, unsigned char out[KEY_HASH_LEN])
{
	SHA256((const unsigned char *)key, strlen(key), out);
}

/* Says why secret cannot make keys, or NULL when it can. */
const char *
key_secret_problem(const char *secret)
{
	if (secret == NULL)
		return "key_secret (KEY_SECRET) is not set";
	if (strlen(secret) < KEY_SECRET_MIN)
		return "key_secret (KEY_SECRET) is shorter than 32 bytes";
	return NULL;
}

/* Writes the MAC of the key's first KEY_LEN - KEY_MAC characters. */
static void
key_mac(const char *secret, const char *key, char mac[KEY_MAC])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	uint64_t	 v = 0;
	int		 i;

	HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)key, KEY_LEN - KEY_MAC, md, &mdlen);
	for (i = 0; i < 8; i++)
		v = v << 8 | md[i];
	/* 62^11 > 2^64: eleven digits hold any 64 bits. */
	for (i = KEY_MAC - 1; i >= 0; i--) {
		mac[i] = base62[v % 62];
		v /= 62;
	}
}

/* Makes a new key under secret. Returns 0, or -1 without randomness. */
int
key_generate(const char *secret, char key[KEY_LEN + 1])
{
	memcpy(key, KEY_PREFIX, sizeof(KEY_PREFIX) - 1);
	if (random_base62(key + sizeof(KEY_PREFIX) - 1, KEY_RANDOM) == -1)
		return -1;
	key_mac(secret, key, key + KEY_LEN - KEY_MAC);
	key[KEY_LEN] = '\0';
	return 0;
}

/* Returns 1 when the well-formed key carries its MAC under secret. */
int
key_mac_valid(const char *secret, const char *key)
{
	char	 mac[KEY_MAC];

	key_mac(secret, key, mac);
	return CRYPTO_memcmp(mac, key + KEY_LEN - KEY_MAC, KEY_MAC) == 0;
}

/*
 * Says what is wrong with a key's name (len bytes), or NULL; the answer
 * follows the field's name ("name must be ..."). It must be
 * UTF-8 of 1 to KEY_NAME_MAX characters, none of them a control
 * character (C0, DEL, C1), which a page or a terminal would act on.
 */
const char *
key_name_problem(const char *name, size_t len)
{
	const unsigned char	*s = (const unsigned char *)name;
	size_t			 i = 0, n, chars = 0;
	uint32_t		 cp;

	if (len == 0 || len > KEY_NAME_BYTES)
		return "must be 1 to 100 characters";
	while (i < len) {
		if ((n = utf8_decode(s + i, len - i, &cp)) == 0)
			return "is not valid UTF-8";
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return "must not contain control characters";
		i += n;
		chars++;
	}
	if (chars > KEY_NAME_MAX)
		return "must be 1 to 100 characters";
	return NULL;
}

/*
 * Says what is wrong with an expiry (the first second of a UTC day) as of
 * now, or NULL; the answer follows the field's name. UNIX_TIMESTAMP() and FROM_UNIXTIME() stop at 2038-01-19
 * on MariaDB before 11.5: nothing later is stored.
 */
const char *
key_expiry_problem(time_t t, time_t now)
{
	if (t <= now)
		return "must be a date after today (UTC)";
	if (t - now > (time_t)KEY_EXPIRY_DAYS * DAY_SECONDS)
		return "must be within 10 years";
	if ((long long)t > INT32_MAX)
		return "must be before 2038-01-19";
	return NULL;
}
