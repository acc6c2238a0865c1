/*
 * Trusted proxies (trusted_proxies: IPv4 and IPv6 addresses and CIDRs)
 * and the client address behind them.
 *
 * A proxy appends the address it took a request from to X-Forwarded-For,
 * so only the entries that trusted proxies appended can be believed: the
 * client is the rightmost entry that is not a trusted proxy, read from
 * the right while every hop so far was trusted. Whatever lies to its
 * left, the client wrote. Without a trusted proxy in front (REMOTE_ADDR
 * not in the list), X-Forwarded-For is not read at all.
 *
 * Addresses are kept as 16 bytes, IPv4 as IPv4-mapped IPv6 (RFC 4291
 * 2.5.5.2), so that one comparison serves both families.
 */
#include "config.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"

struct proxy_net {
	unsigned char	 addr[16];
	unsigned int	 bits;		/* prefix length, of 128 */
};

struct proxies {
	struct proxy_net *net;
	size_t		 n;
};

static const unsigned char v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Parses len bytes of s as a bare address. Returns 4 (IPv4), 6 or -1. */
static int
addr_parse(const char *s, size_t len, unsigned char out[16])
{
	char	 a[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(a))
		return -1;
	memcpy(a, s, len);
	a[len] = '\0';
	if (inet_pton(AF_INET, a, out + 12) == 1) {
		memcpy(out, v4mapped, sizeof(v4mapped));
		return 4;
	}
	return inet_pton(AF_INET6, a, out) == 1 ? 6 : -1;
}

static void
addr_format(const unsigned char a[16], char *out, size_t n)
{
	if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0)
		inet_ntop(AF_INET, a + 12, out, (socklen_t)n);
	else
		inet_ntop(AF_INET6, a, out, (socklen_t)n);
}

static int
net_has(const struct proxy_net *net, const unsigned char a[16])
{
	unsigned int	 full = net->bits / 8, rest = net->bits % 8;

	if (memcmp(net->addr, a, full) != 0)
		return 0;
	return rest == 0 ||
	    ((net->addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0;
}

static int
proxies_has(const struct proxies *p, const unsigned char a[16])
{
	size_t	 i;

	for (i = 0; i < p->n; i++)
		if (net_has(&p->net[i], a))
			return 1;
	return 0;
}

/* Parses one "address" or "address/bits" of len bytes. Returns 0 or -1. */
static int
net_parse(const char *s, size_t len, struct proxy_net *net)
{
	const char	*slash = memchr(s, '/', len);
	char		 num[4];
	long long	 bits;
	size_t		 alen = slash != NULL ? (size_t)(slash - s) : len, i;
	int		 fam;

	memset(net, 0, sizeof(*net));
	if ((fam = addr_parse(s, alen, net->addr)) == -1)
		return -1;
	net->bits = 128;
	if (slash == NULL)
		return 0;
	if (len - alen - 1 == 0 || len - alen - 1 >= sizeof(num))
		return -1;
	memcpy(num, slash + 1, len - alen - 1);
	num[len - alen - 1] = '\0';
	if (parse_int(num, 0, fam == 4 ? 32 : 128, &bits) == -1)
		return -1;
	net->bits = (unsigned int)bits + (fam == 4 ? 96 : 0);
	/* Bits past the prefix say nothing: clear them. */
	for (i = 0; i < 16; i++) {
		unsigned int keep = net->bits > i * 8 ? net->bits - i * 8 : 0;

		if (keep < 8)
			net->addr[i] &= (unsigned char)(0xff << (8 - keep));
	}
	return 0;
}

/*
 * Parses a list of addresses and CIDRs separated by commas or spaces
 * ("10.0.0.0/8, 192.0.2.7 2001:db8::/32"). Returns the list (an empty
 * one trusts nobody), or NULL with what is wrong in err.
 */
struct proxies *
proxies_parse(const char *list, char *err, size_t errlen)
{
	struct proxies	*p = xcalloc(1, sizeof(*p));
	const char	*s = list;
	size_t		 len;

	for (;;) {
		s += strspn(s, ", \t");
		if (*s == '\0')
			break;
		len = strcspn(s, ", \t");
		p->net = xrealloc(p->net, (p->n + 1) * sizeof(*p->net));
		if (net_parse(s, len, &p->net[p->n]) == -1) {
			snprintf(err, errlen, "\"%.*s\" is not an IPv4 or IPv6 "
			    "address or CIDR", len > 64 ? 64 : (int)len, s);
			proxies_free(p);
			return NULL;
		}
		p->n++;
		s += len;
	}
	return p;
}

void
proxies_free(struct proxies *p)
{
	if (p == NULL)
		return;
	free(p->net);
	free(p);
}

/* Returns 1 when addr (a bare address) is a trusted proxy, else 0. */
int
proxies_match(const struct proxies *p, const char *addr)
{
	unsigned char	 a[16];

	return p != NULL && addr_parse(addr, strlen(addr), a) != -1 &&
	    proxies_has(p, a);
}

/*
 * The client of a request from remote (REMOTE_ADDR) that carried the
 * X-Forwarded-For fields xff[0..n-1], in order (several fields are one
 * list, RFC 9110 5.3). Walking the list from the right, each entry is
 * believed as long as the hop that gave it was trusted: the first entry
 * that is not a trusted proxy is the client; an entry that is not a bare
 * address ends the walk at the hop that gave it. Returns remote itself,
 * or out (size out_len, INET6_ADDRSTRLEN is enough) holding the client.
 */
const char *
proxies_client(const struct proxies *p, const char *remote,
    const char *const *xff, size_t n, char *out, size_t out_len)
{
	unsigned char	 a[16], last[16];
	const char	*f, *s, *e;
	size_t		 len;
	int		 from_remote = 1;

	if (p == NULL || p->n == 0 || n == 0 || !proxies_match(p, remote))
		return remote;
	while (n-- > 0) {
		f = xff[n];
		for (e = f + strlen(f);; e = s - 1) {
			/* The entry from s to e, trimmed of blanks. */
			for (s = e; s > f && s[-1] != ','; s--)
				;
			len = (size_t)(e - s);
			while (len > 0 && (s[len - 1] == ' ' ||
			    s[len - 1] == '\t'))
				len--;
			while (len > 0 && (*s == ' ' || *s == '\t')) {
				s++;
				len--;
			}
			if (len > 0) {		/* empty entries are allowed */
				if (addr_parse(s, len, a) == -1)
					goto done;
				memcpy(last, a, sizeof(last));
				from_remote = 0;
				if (!proxies_has(p, a))
					goto done;
			}
			for (s = e; s > f && s[-1] != ','; s--)
				;
			if (s == f)
				break;
		}
	}
done:
	if (from_remote)
		return remote;
	addr_format(last, out, out_len);
	return out;
}
