/* Test tokens made by hand (see tokens.h). Aborts on any failure. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "nexus.h"
#include "tokens.h"

static void
die(const char *what)
{
	fprintf(stderr, "tokens: %s failed\n", what);
	abort();
}

/* Returns the unpadded base64url of p[0..n-1] (RFC 7515 2). */
char *
b64url(const void *p, size_t n)
{
	static const char	 abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char	*s = p;
	char			*out = xmalloc(n * 4 / 3 + 4), *o = out;
	size_t			 i;

	for (i = 0; i + 2 < n; i += 3) {
		*o++ = abc[s[i] >> 2];
		*o++ = abc[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		*o++ = abc[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		*o++ = abc[s[i + 2] & 63];
	}
	if (n - i == 1) {
		*o++ = abc[s[i] >> 2];
		*o++ = abc[(s[i] & 3) << 4];
	} else if (n - i == 2) {
		*o++ = abc[s[i] >> 2];
		*o++ = abc[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		*o++ = abc[(s[i + 1] & 15) << 2];
	}
	*o = '\0';
	return out;
}

/* Signs in with a PEM private key; ES256 comes out as R || S (RFC 7518 3.4). */
static size_t
sign_pem(const char *alg, const void *key, size_t keylen, const char *in,
    unsigned char *sig, size_t sigsz)
{
	BIO		*bio = BIO_new_mem_buf(key, (int)keylen);
	EVP_PKEY	*pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	unsigned char	 der[1024];
	size_t		 n = sizeof(der);

	if (pk == NULL)
		die("PEM_read_bio_PrivateKey");
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, der, &n, (const unsigned char *)in,
	    strlen(in)) != 1)
		die("EVP_DigestSign");
	if (strcmp(alg, "ES256") == 0) {
		const unsigned char	*d = der;
		ECDSA_SIG		*es = d2i_ECDSA_SIG(NULL, &d, (long)n);
		const BIGNUM		*r, *s;

		if (es == NULL || sigsz < 64)
			die("d2i_ECDSA_SIG");
		ECDSA_SIG_get0(es, &r, &s);
		BN_bn2binpad(r, sig, 32);
		BN_bn2binpad(s, sig + 32, 32);
		ECDSA_SIG_free(es);
		n = 64;
	} else {
		if (n > sigsz)
			die("signature size");
		memcpy(sig, der, n);
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return n;
}

/*
 * Returns a compact JWS: base64url(header).base64url(claims).signature.
 * alg picks the signature: "HS256" (key is the secret), "RS256"/"ES256"
 * (key is a PEM private key), anything else an empty one. header NULL
 * means {"alg":alg,"typ":"JWT"}.
 */
char *
mint_token(const char *alg, const void *key, size_t keylen,
    const char *header, const char *claims)
{
	unsigned char	 sig[1024];
	unsigned int	 hl = 0;
	size_t		 sl = 0;
	char		 defhead[128], *h, *c, *in, *s, *tok;

	if (header == NULL) {
		snprintf(defhead, sizeof(defhead),
		    "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
		header = defhead;
	}
	h = b64url(header, strlen(header));
	c = b64url(claims, strlen(claims));
	xasprintf(&in, "%s.%s", h, c);
	if (strcmp(alg, "HS256") == 0) {
		if (HMAC(EVP_sha256(), key, (int)keylen,
		    (const unsigned char *)in, strlen(in), sig, &hl) == NULL)
			die("HMAC");
		sl = hl;
	} else if (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0)
		sl = sign_pem(alg, key, keylen, in, sig, sizeof(sig));
	s = b64url(sig, sl);
	xasprintf(&tok, "%s.%s", in, s);
	free(h);
	free(c);
	free(in);
	free(s);
	return tok;
}

static char *
pem_string(EVP_PKEY *pk, int private)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	char	*p, *out;
	long	 n;

	if ((private ? PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL,
	    NULL) : PEM_write_bio_PUBKEY(bio, pk)) != 1)
		die("PEM_write");
	n = BIO_get_mem_data(bio, &p);
	out = xmalloc((size_t)n + 1);
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	return out;
}

/* Makes a key pair, "RSA" (2048 bits) or "EC" (P-256), as PEM strings. */
void
mint_keypair(const char *type, char **priv, char **pub)
{
	EVP_PKEY	*pk;

	if (strcmp(type, "RSA") == 0)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (pk == NULL)
		die("EVP_PKEY_Q_keygen");
	*priv = pem_string(pk, 1);
	*pub = pem_string(pk, 0);
	EVP_PKEY_free(pk);
}
