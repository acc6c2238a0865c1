/*
 * gen_usage: writes synthetic raw usage rows (eco_api_usage) as tab-
 * separated lines for LOAD DATA LOCAL INFILE, sorted by primary key
 * (user_id, ts) so that InnoDB appends instead of splitting pages.
 *
 *   gen_usage [-u users] [-n rows] [-b busiest_rows] [-f from] [-t to]
 *             [-s seed] > rows.tsv
 *
 * Users are eco_usr_bench0000.. (0000 is the busiest, with -b rows); the
 * other rows are spread evenly over the rest. Times are spread evenly over
 * [from, to) (epoch seconds; default the 90 UTC days ending now), with
 * millisecond jitter. Routes, statuses and latencies follow fixed weights.
 * Columns: user_id, ts, event_id (hex), key_id, method, endpoint, status,
 * latency_us.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct {
	const char	*method, *path;
	int		 weight;	/* per 100 */
} routes[] = {
	{ "GET",    "/api/secure/ping",		40 },
	{ "GET",    "/api/v1/items",		20 },
	{ "POST",   "/api/v1/items",		10 },
	{ "GET",    "/api/v1/items/:id",	10 },
	{ "GET",    "/api/v1/search",		10 },
	{ "POST",   "/api/v1/upload",		5 },
	{ "DELETE", "/api/v1/items/:id",	3 },
	{ "GET",    "/api/v1/reports",		2 },
};

static uint64_t	 rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
usage(void)
{
	fprintf(stderr, "usage: gen_usage [-u users] [-n rows] [-b busiest] "
	    "[-f from] [-t to] [-s seed]\n");
	exit(2);
}

static long long
num(const char *s)
{
	char		*end;
	long long	 v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0)
		usage();
	return v;
}

int
main(int argc, char *argv[])
{
	long long	 users = 1000, rows = 10000000, busiest = 1000000;
	long long	 to = (long long)time(NULL), from = -1, u, i, n, span_ms;
	char		 line[512], day[16];
	static char	 out[1 << 20];
	size_t		 o = 0, r;
	int		 ch, w, len;
	long long	 cur_day = -1;

	while ((ch = getopt(argc, argv, "u:n:b:f:t:s:")) != -1) {
		switch (ch) {
		case 'u': users = num(optarg); break;
		case 'n': rows = num(optarg); break;
		case 'b': busiest = num(optarg); break;
		case 'f': from = num(optarg); break;
		case 't': to = num(optarg); break;
		case 's': rng ^= (uint64_t)num(optarg) * 0x2545f4914f6cdd1dULL;
			break;
		default: usage();
		}
	}
	if (from < 0)
		from = to - to % 86400 - 89 * 86400;
	if (users < 2 || busiest > rows || from >= to)
		usage();
	span_ms = (to - from) * 1000;
	for (u = 0; u < users; u++) {
		n = u == 0 ? busiest : (rows - busiest) / (users - 1) +
		    (u - 1 < (rows - busiest) % (users - 1));
		for (i = 0; i < n; i++) {
			/* Evenly spread, jittered within each slot: sorted. */
			long long ms = from * 1000 + (long long)(((__int128)span_ms *
			    i + (__int128)(next() % 1000) * span_ms / 1000) / n);
			long long sec = ms / 1000, d = sec / 86400;
			uint64_t x = next(), y = next();
			int pick = (int)(x % 100), st, lat;
			unsigned s = (unsigned)(sec % 86400);

			for (r = 0, w = 0; r < sizeof(routes) / sizeof(routes[0]);
			    r++)
				if (pick < (w += routes[r].weight))
					break;
			st = (x >> 8) % 100;
			st = st < 96 ? 200 : st < 98 ? 404 : st < 99 ? 500 : 429;
			lat = 150 + (int)((x >> 16) % 1200) +
			    (int)((x >> 32) % 600) * (int)(r + 1);
			if ((x >> 48) % 100 == 0)	/* a slow tail */
				lat += (int)((x >> 40) % 200000);
			if (d != cur_day) {
				time_t t = (time_t)(d * 86400);
				struct tm tm;

				gmtime_r(&t, &tm);
				strftime(day, sizeof(day), "%Y-%m-%d", &tm);
				cur_day = d;
			}
			len = snprintf(line, sizeof(line),
			    "eco_usr_bench%04lld\t%s %02u:%02u:%02u.%03lld\t"
			    "%016llx%016llx\t%lld\t%s\t%s\t%d\t%d\n", u, day,
			    s / 3600, s / 60 % 60, s % 60, ms % 1000,
			    (unsigned long long)x, (unsigned long long)y, u + 1,
			    routes[r].method, routes[r].path, st, lat);
			if (o + (size_t)len > sizeof(out)) {
				fwrite(out, 1, o, stdout);
				o = 0;
			}
			memcpy(out + o, line, (size_t)len);
			o += (size_t)len;
		}
	}
	fwrite(out, 1, o, stdout);
	return ferror(stdout) ? 1 : 0;
}
