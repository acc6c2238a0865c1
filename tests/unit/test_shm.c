/* Unit tests for lib/shm.c, the host's shared region: no services. */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

static char	 dir[] = "/tmp/nexus-shm-test.XXXXXX";

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strlcpy_(dir, "/tmp/nexus-shm-test.XXXXXX", sizeof(dir));
}

START_TEST(named_region_is_shared_across_processes)
{
	struct shm	*a = shm_open_host(dir), *b;
	uint64_t	 g;
	pid_t		 pid;
	int		 status;

	ck_assert_ptr_nonnull(a);
	ck_assert(shm_named(a));
	g = shm_keys_generation(a);
	if ((pid = fork()) == 0) {
		struct shm *c = shm_open_host(dir);

		if (c == NULL)
			_exit(1);
		shm_keys_bump(c);
		shm_count(c, 3, 5);
		shm_close(c);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	ck_assert_uint_eq(shm_keys_generation(a), g + 1);
	ck_assert_uint_eq(shm_counter(a, 3), 5);
	/* A second open in the same process sees the same region. */
	b = shm_open_host(dir);
	ck_assert_ptr_nonnull(b);
	shm_count(b, 3, 1);
	ck_assert_uint_eq(shm_counter(a, 3), 6);
	ck_assert_uint_eq(shm_counter(a, SHM_COUNTERS), 0);
	shm_close(b);
	shm_close(a);
}
END_TEST

START_TEST(private_region_is_not_shared)
{
	struct shm	*a = shm_open_host(NULL), *b = shm_open_host(NULL);

	ck_assert_ptr_nonnull(a);
	ck_assert(!shm_named(a));
	shm_keys_bump(a);
	ck_assert_uint_eq(shm_keys_generation(a), 1);
	ck_assert_uint_eq(shm_keys_generation(b), 0);
	shm_close(a);
	shm_close(b);
}
END_TEST

START_TEST(a_link_or_foreign_file_is_refused)
{
	char	 path[256], target[256];

	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	snprintf(path, sizeof(path), "%s/nexus-v2.shm", dir);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_ptr_null(shm_open_host(dir));
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_ptr_null(shm_open_host(dir));
}
END_TEST

/* nexusctl's way in: the workers' region if there is one, never a new one. */
START_TEST(existing_region_only)
{
	struct shm	*a, *b;
	struct stat	 st;
	char		 path[256];
	FILE		*f;

	snprintf(path, sizeof(path), "%s/nexus-v2.shm", dir);
	ck_assert_ptr_null(shm_open_existing(dir));
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_ptr_null(shm_open_existing(NULL));
	ck_assert_ptr_nonnull(a = shm_open_host(dir));
	ck_assert_ptr_nonnull(b = shm_open_existing(dir));
	shm_keys_bump(b);
	ck_assert_uint_eq(shm_keys_generation(a), 1);
	shm_close(b);
	shm_close(a);
	/* A file of another layout is left alone. */
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("not a region", f);
	fclose(f);
	ck_assert_ptr_null(shm_open_existing(dir));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 12);
}
END_TEST

static void
collect(void *arg, uint64_t key)
{
	uint64_t	*got = arg;

	got[++got[0]] = key;
}

/* Key changes: which keys, in order; all of them when it cannot tell. */
START_TEST(key_changes_name_their_keys)
{
	struct shm	*a = shm_open_host(dir), *b = shm_open_host(dir);
	unsigned char	 h[3][KEY_HASH_LEN];
	uint64_t	 pos = 0, got[SHM_KEY_CHANGES + 1], w;
	int		 i;

	for (i = 0; i < 3; i++)
		memset(h[i], 0x11 * (i + 1), sizeof(h[i]));
	ck_assert_int_eq(shm_keys_since(b, &pos, collect, got), 0);
	shm_keys_changed(a, h[0]);
	shm_keys_changed(a, h[2]);
	got[0] = 0;
	ck_assert_int_eq(shm_keys_since(b, &pos, collect, got), 0);
	ck_assert_uint_eq(got[0], 2);
	memcpy(&w, h[0], 8);
	ck_assert_uint_eq(got[1], w);
	memcpy(&w, h[2], 8);
	ck_assert_uint_eq(got[2], w);
	ck_assert_uint_eq(pos, 2);
	ck_assert_uint_eq(shm_keys_generation(b), 2);
	/* Nothing new: nothing called. */
	got[0] = 0;
	ck_assert_int_eq(shm_keys_since(b, &pos, collect, got), 0);
	ck_assert_uint_eq(got[0], 0);
	/* A change of every key. */
	shm_keys_changed(a, h[1]);
	shm_keys_bump(a);
	ck_assert_int_eq(shm_keys_since(b, &pos, collect, got), -1);
	ck_assert_uint_eq(pos, 4);
	/* Too far behind to know which. */
	for (i = 0; i < SHM_KEY_CHANGES / 2 + 1; i++)
		shm_keys_changed(a, h[i % 3]);
	got[0] = 0;
	ck_assert_int_eq(shm_keys_since(b, &pos, collect, got), -1);
	ck_assert_uint_eq(got[0], 0);
	ck_assert_uint_eq(pos, shm_keys_generation(a));
	/* Past the ring's end, in step. */
	for (i = 0; i < 3 * SHM_KEY_CHANGES; i++) {
		shm_keys_changed(a, h[i % 3]);
		got[0] = 0;
		ck_assert_int_eq(shm_keys_since(b, &pos, collect, got), 0);
		ck_assert_uint_eq(got[0], 1);
	}
	shm_close(a);
	shm_close(b);
}
END_TEST

START_TEST(refusal_marks_match_user_period_and_limit)
{
	struct shm	*s = shm_open_host(dir);
	time_t		 oct = 1759276800, nov = 1761955200;

	ck_assert(!shm_is_refused(s, "eco_usr_a", oct, 1000));
	shm_mark_refused(s, "eco_usr_a", oct, 1000);
	ck_assert(shm_is_refused(s, "eco_usr_a", oct, 1000));
	ck_assert(!shm_is_refused(s, "eco_usr_a", nov, 1000));
	ck_assert(!shm_is_refused(s, "eco_usr_a", oct, 100000));
	ck_assert(!shm_is_refused(s, "eco_usr_b", oct, 1000));
	shm_mark_clear(s, "eco_usr_b");		/* not its slot's user */
	ck_assert(shm_is_refused(s, "eco_usr_a", oct, 1000));
	shm_mark_clear(s, "eco_usr_a");
	ck_assert(!shm_is_refused(s, "eco_usr_a", oct, 1000));
	shm_close(s);
}
END_TEST

START_TEST(buckets_refill_at_their_rate)
{
	struct shm	*s = shm_open_host(dir);
	int64_t		 t = 5000000, retry = 0;
	int		 i;

	/* 10 a second, bursts of 3. */
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(shm_bucket_take(s, "admin:x", 10, 3, t, NULL), 1);
	ck_assert_int_eq(shm_bucket_take(s, "admin:x", 10, 3, t, &retry), 0);
	ck_assert_int_eq(retry, 100);
	ck_assert_int_eq(shm_bucket_take(s, "admin:x", 10, 3, t + 50, &retry),
	    0);
	ck_assert_int_eq(retry, 50);
	ck_assert_int_eq(shm_bucket_take(s, "admin:x", 10, 3, t + 100, NULL),
	    1);
	/* Another name has its own bucket; a long pause refills to burst. */
	ck_assert_int_eq(shm_bucket_take(s, "admin:y", 10, 3, t + 100, NULL),
	    1);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(shm_bucket_take(s, "admin:x", 10, 3,
		    t + 60000, NULL), 1);
	ck_assert_int_eq(shm_bucket_take(s, "admin:x", 10, 3, t + 60000,
	    NULL), 0);
	/* Across the 32-bit millisecond wrap. */
	t = 0xFFFFFFF0LL;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(shm_bucket_take(s, "admin:z", 1, 3, t, NULL), 1);
	ck_assert_int_eq(shm_bucket_take(s, "admin:z", 1, 3, t + 999, NULL), 0);
	ck_assert_int_eq(shm_bucket_take(s, "admin:z", 1, 3, t + 1000, NULL), 1);
	shm_close(s);
}
END_TEST

START_TEST(routes_count_statuses_and_latencies)
{
	struct shm		*s = shm_open_host(dir);
	struct shm_route_stats	 st;

	shm_route_observe(s, 2, 200, 400);
	shm_route_observe(s, 2, 429, 1000);
	shm_route_observe(s, 2, 503, 9000000);
	shm_route_observe(s, SHM_ROUTES, 200, 1);	/* ignored */
	shm_route_read(s, 2, &st);
	ck_assert_uint_eq(st.status[2], 1);
	ck_assert_uint_eq(st.status[4], 1);
	ck_assert_uint_eq(st.status[5], 1);
	ck_assert_uint_eq(st.latency[0], 1);		/* <= 500 us */
	ck_assert_uint_eq(st.latency[1], 1);		/* <= 1 ms */
	ck_assert_uint_eq(st.latency[SHM_LATENCY_BUCKETS], 1);	/* +Inf */
	ck_assert_uint_eq(st.latency_sum_us, 9001400);
	shm_close(s);
}
END_TEST

static void
gauges_sum(void *arg, int pid, const int64_t *g)
{
	*(int64_t *)arg += g[1];
}

START_TEST(worker_gauges_are_per_live_process)
{
	struct shm	*s = shm_open_host(dir);
	int64_t		 sum = 0;
	pid_t		 pid;
	int		 status, fds[2];
	char		 c;

	ck_assert_int_eq(shm_worker_join(s), 0);
	shm_gauge_set(s, 1, 7);
	ck_assert_int_eq(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		struct shm *t = shm_open_host(dir);

		close(fds[0]);
		if (t == NULL || shm_worker_join(t) == -1)
			_exit(1);
		shm_gauge_set(t, 1, 5);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	shm_workers_each(s, gauges_sum, &sum);
	ck_assert_int_eq(sum, 12);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	sum = 0;
	shm_workers_each(s, gauges_sum, &sum);	/* the dead one is skipped */
	ck_assert_int_eq(sum, 7);
	shm_close(s);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("shm");
	TCase	*tc = tcase_create("shm");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, named_region_is_shared_across_processes);
	tcase_add_test(tc, private_region_is_not_shared);
	tcase_add_test(tc, a_link_or_foreign_file_is_refused);
	tcase_add_test(tc, existing_region_only);
	tcase_add_test(tc, key_changes_name_their_keys);
	tcase_add_test(tc, refusal_marks_match_user_period_and_limit);
	tcase_add_test(tc, buckets_refill_at_their_rate);
	tcase_add_test(tc, routes_count_statuses_and_latencies);
	tcase_add_test(tc, worker_gauges_are_per_live_process);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
