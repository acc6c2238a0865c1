/*
 * Small helpers every layer uses: memory, bounded parsing, time,
 * randomness, hashing and capped buffers.
 */
#include "config.h"

#include <sys/random.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"

static void
oom(void)
{
	fputs("nexus: out of memory\n", stderr);
	abort();
}

void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		oom();
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if ((p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size)) == NULL)
		oom();
	return p;
}

void *
xrealloc(void *ptr, size_t n)
{
	void	*p;

	if ((p = realloc(ptr, n == 0 ? 1 : n)) == NULL)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		oom();
	return p;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return n;
}

/* Copies at most size-1 bytes and terminates; returns strlen(src). */
size_t
strlcpy_(char *dst, const char *src, size_t size)
{
	size_t	 len = strlen(src);

	if (size > 0) {
		size_t n = len >= size ? size - 1 : len;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

/*
 * Parses a whole decimal integer within [min, max] (OpenBSD strtonum).
 * Returns 0 and sets *out, or -1 for empty, trailing junk or out of range.
 */
int
parse_int(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s == '\0' || *s == ' ' || *s == '+')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * Decodes one UTF-8 character of s (n > 0 bytes left) into *cp. Returns
 * its length, or 0 when it is not shortest-form UTF-8 of a Unicode scalar
 * value (RFC 3629).
 */
size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t		 len, i;
	uint32_t	 c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Compares two secrets in time that depends only on their lengths. */
int
ct_equal(const char *a, const char *b)
{
	size_t		 la = strlen(a), lb = strlen(b), i;
	unsigned char	 d = la != lb;

	for (i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[lb ? i % lb : 0];
	return d == 0;
}

int
random_bytes(void *p, size_t n)
{
	unsigned char	*c = p;
	ssize_t		 r;

	while (n > 0) {
		if ((r = getrandom(c, n, 0)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Fills dst[0..n-1] with uniform base62 characters and terminates it. */
int
random_base62(char *dst, size_t n)
{
	static const char	 abc[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	unsigned char		 r[64];
	size_t			 i = 0, j;

	while (i < n) {
		if (random_bytes(r, sizeof(r)) == -1)
			return -1;
		/* 248 = 4 * 62: reject the rest so every character is uniform. */
		for (j = 0; j < sizeof(r) && i < n; j++)
			if (r[j] < 248)
				dst[i++] = abc[r[j] % 62];
	}
	dst[n] = '\0';
	return 0;
}

void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/*
 * Decodes the 2n hex digits at in (either case) into n bytes at out.
 * Returns 0, or -1 at the first character that is not a hex digit.
 */
int
hex_decode(const char *in, size_t n, unsigned char *out)
{
	size_t	 i;
	int	 j, d[2];

	for (i = 0; i < n; i++) {
		for (j = 0; j < 2; j++) {
			char c = in[2 * i + j];

			if (c >= '0' && c <= '9')
				d[j] = c - '0';
			else if (c >= 'a' && c <= 'f')
				d[j] = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				d[j] = c - 'A' + 10;
			else
				return -1;
		}
		out[i] = (unsigned char)(d[0] << 4 | d[1]);
	}
	return 0;
}

/* Billing periods are calendar months in UTC. */
time_t
period_start(time_t t)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	return timegm(&tm);
}

/* Returns the first second of the next period. */
time_t
period_end(time_t t)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	tm.tm_mday = 1;
	tm.tm_mon++;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	return timegm(&tm);
}

time_t
day_start(time_t t)
{
	return t - (t % DAY_SECONDS + DAY_SECONDS) % DAY_SECONDS;
}

/* Parses "YYYY-MM-DD" as a UTC midnight. Returns 0, or -1 if malformed. */
int
time_parse_date(const char *s, time_t *out)
{
	struct tm	 tm;
	int		 y, m, d;
	char		 tail;

	if (strlen(s) != 10 ||
	    sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
		return -1;
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	*out = timegm(&tm);
	gmtime_r(out, &tm);
	if (tm.tm_mday != d)	/* 2025-02-30 */
		return -1;
	return 0;
}

/* RFC 3339 UTC, "2025-10-01T00:00:00Z". */
void
time_format(time_t t, char *dst, size_t n)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(dst, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
time_format_date(time_t t, char *dst, size_t n)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(dst, n, "%Y-%m-%d", &tm);
}

int64_t
now_usec(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Milliseconds on the monotonic clock: for intervals, never for dates. */
int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a, 64 bits: for spreading keys over table slots, not for secrets. */
uint64_t
fnv1a(const void *p, size_t n)
{
	const unsigned char	*c = p;
	uint64_t		 h = 14695981039346656037ULL;

	while (n-- > 0)
		h = (h ^ *c++) * 1099511628211ULL;
	return h;
}

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

/* Returns 0, or -1 (leaving the buffer as it was) past the cap. */
int
buf_add(struct buf *b, const void *p, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	 small[256], *p = small;
	int	 n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(small)) {
		va_start(ap, fmt);
		n = vasprintf(&p, fmt, ap);
		va_end(ap);
		if (n < 0)
			oom();
	}
	rc = buf_add(b, p, (size_t)n);
	if (p != small)
		free(p);
	return rc;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
