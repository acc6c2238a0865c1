/*
 * The engine's usage pipeline: events, the spool and its writer, the
 * aggregator, the daily roll-up, and a user's own usage reports.
 * Included by nexus.h.
 */
#ifndef USAGE_H
#define USAGE_H

/*
 * usage.c: usage events, never lost and never counted twice. The request
 * path appends each to the spool; a thread of the worker writes them.
 */
#define EVENT_ID_LEN	16
#define ENDPOINT_MAX	128
#define METHOD_MAX	8
struct usage_event {
	unsigned char	 id[EVENT_ID_LEN];
	char		 user_id[USER_ID_MAX + 1];
	unsigned long long key_id;
	int64_t		 ts_ms;
	char		 method[METHOD_MAX + 1];
	char		 endpoint[ENDPOINT_MAX + 1];
	int		 status;
	unsigned int	 latency_us;
	int		 count;		/* the writer adds it to the period */
	long long	 limit;		/* the plan's, for overage; -1 none */
};
struct usage;
struct usage	*usage_start(const struct config *, struct counters *);
int		 usage_reserve(struct usage *);
int		 usage_record(struct usage *, const struct usage_event *);
void		 usage_stop(struct usage *);

/* spool.c: the usage spool's segment files, one event a line */
#define SPOOL_SEGMENT_BYTES	(16 * 1024 * 1024)	/* reserved as it fills */
#define SPOOL_HEADER_LEN	32	/* "#spool written=", 16 hex, newline */
#define SPOOL_LINE_MAX		512
enum spool_rc {
	SPOOL_OK = 0,
	SPOOL_ERR = -1,		/* logged */
	SPOOL_FULL = -2,	/* the segment is: on to the next */
	SPOOL_NOSPACE = -3	/* the disk is full or the spool at its cap */
};
struct spool_segment {
	int		 fd;		/* -1: none */
	unsigned long	 no;
	char		 path[PATH_MAX];
	char		*map;		/* while being appended to */
	size_t		 off;		/* end of what is appended */
	size_t		 room;		/* reserved on disk: off stays below */
};
int		 spool_event_format(const struct usage_event *, char *,
		    size_t);
int		 spool_event_parse(char *, struct usage_event *);
int		 spool_dir_check(const char *);
long long	 spool_size(const char *);
int		 spool_create(const char *, const char *, unsigned long,
		    long long, struct spool_segment *);
int		 spool_reserve(struct spool_segment *, const char *, long long,
		    size_t);
int		 spool_append(struct spool_segment *,
		    const struct usage_event *);
void		 spool_seal(struct spool_segment *);
void		 spool_close(struct spool_segment *, int);
size_t		 spool_written(const struct spool_segment *);
long long	 spool_read(struct spool_segment *, size_t, size_t, int,
		    int (*)(void *, const struct usage_event *, size_t),
		    void *);
int		 spool_orphans(const char *,
		    int (*)(void *, struct spool_segment *), void *);

/*
 * agg.c: the aggregator and its latency histogram, which both the roll-up
 * and the usage API (for days not rolled up) use.
 */
#define HIST_BUCKETS		240	/* latency histogram, see agg.c */
struct route_stats {
	char			 method[METHOD_MAX + 1];
	char			 endpoint[ENDPOINT_MAX + 1];
	unsigned long long	 calls;
	unsigned long long	 errors;	/* status >= 400 */
	unsigned long long	 lat_sum;	/* microseconds */
	unsigned int		 lat_max;
	unsigned long long	 hist[HIST_BUCKETS];
};
struct usage_agg {
	struct route_stats	*routes;
	size_t			 nroutes, cap;
	long			 last;		/* route of the last row */
	unsigned long long	 calls, errors, lat_sum;
	int			 keep;		/* keep every latency (exact p95) */
	unsigned int		*lat;
	size_t			 nlat, latcap;
};
unsigned int	 hist_bucket(unsigned int);
unsigned int	 hist_upper(unsigned int);
unsigned int	 hist_p95(const unsigned long long *, unsigned long long,
		    unsigned int);
size_t		 hist_encode(const unsigned long long *, unsigned char *,
		    size_t);
int		 hist_decode_add(const unsigned char *, size_t,
		    unsigned long long *);
void		 agg_init(struct usage_agg *, int);
void		 agg_free(struct usage_agg *);
void		 agg_add(struct usage_agg *, const char *, const char *,
		    long long, long long);
int		 agg_add_route(struct usage_agg *, const char *, const char *,
		    unsigned long long, unsigned long long, unsigned long long,
		    unsigned int, const unsigned char *, size_t);
long long	 agg_raw(struct db *, struct usage_agg *, const char *, time_t,
		    time_t);
unsigned int	 agg_p95(struct usage_agg *);
void		 agg_sort(struct usage_agg *);
unsigned long long avg_round(unsigned long long, unsigned long long);

/* rollup.c: the daily roll-up and raw-usage retention */
struct rollup_stats {
	long long	 days, users, rows;
	int64_t		 usec;
};
struct retention_stats {
	long long	 days, deleted, chunks, rerolled;
};
enum rollup_result { ROLLUP_DONE = 0, ROLLUP_PURGED = 1, ROLLUP_ERR = -1 };
int		 rollup_range(struct db *, time_t, time_t, time_t,
		    void (*)(time_t, int, const struct rollup_stats *, void *),
		    void *);
int		 retention_run(struct db *, long long, time_t,
		    struct retention_stats *);

/* usage_report.c: a user's own usage, for the usage API */
enum report_result { REPORT_OK = 0, REPORT_ERR_DB = -1, REPORT_NOUSER = -2 };
struct usage_plan {
	char		 id[PLAN_ID_MAX + 1];
	char		 name[65];
	long long	 monthly_calls;		/* -1: unlimited */
	int		 hard_limit;
	long long	 price_cents;
	long long	 overage_micros;	/* per call past monthly_calls */
};
struct usage_current {
	struct usage_plan plan;
	time_t		 period_start, period_end;
	long long	 calls;			/* eco_usage_records.api_calls */
	long long	 overage_calls;
};
struct usage_day {
	time_t			 day;
	unsigned long long	 calls, errors, avg_us, p95_us;
};
struct overage_period {
	time_t		 period;
	long long	 api_calls, overage_calls;
	long long	 billed_cents, pending_cents;	/* ledger: sent, other */
};
int		 usage_current(struct db *, const char *, time_t,
		    struct usage_current *);
int		 usage_plan_bills_overage(const struct usage_plan *);
int		 usage_history(struct db *, const char *, time_t, int,
		    struct usage_day *);
int		 usage_routes(struct db *, const char *, time_t, int,
		    struct usage_agg *);
int		 usage_overage(struct db *, const char *,
		    struct overage_period **);

#endif /* USAGE_H */
