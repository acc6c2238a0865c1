/*
 * The usage spool out of room, end to end: a full spool filesystem (a
 * small tmpfs) and the spool_max_bytes cap while the database is down.
 * No worker dies, no call is answered 200 without its row, the calls
 * that cannot be recorded get 503 usage_unavailable before they are
 * served, and service comes back by itself once there is room.
 */
#include "config.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define PING	"/api/secure/ping"

static const char *const sql_has_event = "SELECT COUNT(*) FROM eco_api_usage "
    "WHERE user_id = ? AND event_id = UNHEX(?)";
static const char *const sql_rows_200 = "SELECT COUNT(*) FROM eco_api_usage "
    "WHERE user_id = ? AND status = 200";

static void
restart_workers(void)
{
	stack("workers-stop");
	stack("workers-start");
}

static struct http *
ping(const char *header)
{
	const char	*hdrs[2] = { header, NULL };

	return http_get(PING, hdrs);
}

/* A call refused for want of room says so, before it is served. */
static void
assert_usage_unavailable(struct http *r)
{
	char	 v[32];

	ck_assert_msg(r->status == 503, "status %ld: %s", r->status, r->body);
	ck_assert_str_eq(json_str(r->json, "error.code"), "usage_unavailable");
	ck_assert_msg(http_hdr(r, "Retry-After", v, sizeof(v)) != NULL,
	    "503 without Retry-After");
	ck_assert_msg(http_hdr(r, "X-Request-Id", v, sizeof(v)) == NULL,
	    "a refused call got an event id");
}

/* Every 200 has its row; the rest are 503 (none lost, no 502). */
static size_t
assert_200_stored(const char *user, const struct load_res *res, size_t n)
{
	size_t	 i, ok = 0;

	for (i = 0; i < n; i++) {
		ck_assert_msg(res[i].status == 200 || res[i].status == 503,
		    "call %zu: status %ld", i, res[i].status);
		if (res[i].status != 200)
			continue;
		struct dbp p[2] = { DBP_S(user), DBP_S(res[i].id) };
		ck_assert_msg(test_db_int(sql_has_event, p, 2) == 1,
		    "a 200 the client saw has no row: %s", res[i].id);
		ok++;
	}
	return ok;
}

/* Polls a ping until it answers 200; returns the seconds it took. */
static int
wait_served(const char *header, int secs)
{
	int	 i;

	for (i = 0; i < secs * 10; i++) {
		struct http *r = ping(header);
		long st = r->status;

		http_free(r);
		if (st == 200)
			return i / 10;
		usleep(100000);
	}
	ck_abort_msg("not served again within %d s", secs);
	return -1;
}

/* Bytes the files in dir take on disk. */
static long long
spool_bytes(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	long long	 n = 0;

	ck_assert_ptr_nonnull(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			n += (long long)st.st_blocks * 512;
	closedir(d);
	return n;
}

/* Fills the filesystem of path with the file path until it is full. */
static void
fill(const char *path)
{
	static char	 chunk[65536];
	size_t		 sz;
	int		 fd;

	ck_assert((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1);
	for (sz = sizeof(chunk); sz > 0; sz /= 2)
		while (write(fd, chunk, sz) == (ssize_t)sz)
			;
	ck_assert_int_eq(errno, ENOSPC);
	close(fd);
}

/*
 * A private mount namespace for this process and the workers it starts,
 * so that the tmpfs goes with them whatever happens. Returns 0, or -1
 * when mounting is impossible here.
 */
static int
tmpfs_mount(const char *dir, const char *size)
{
	char	 opt[64];

	snprintf(opt, sizeof(opt), "size=%s,mode=0700", size);
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mkdir(dir, 0700) == -1 ||
	    mount("tmpfs", dir, "tmpfs", 0, opt) == -1) {
		fprintf(stderr, "SKIP: cannot mount a tmpfs at %s: %s\n", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The spool's filesystem full. With the database up, written segments
 * are removed and give their room back; with it down, the room reserved
 * is used up and then calls are refused; once the disk has room again,
 * calls are served again by the same workers.
 */
START_TEST(full_disk_refuses_and_recovers)
{
	enum { N = 2000 };
	char		 dir[512], filler[600], *user, *key, *h;
	struct load_res	 warm[20], *up = xcalloc(N, sizeof(*up));
	struct load_res	*down = xcalloc(N, sizeof(*down));
	int		 pids[16];
	size_t		 nw, ok_up, ok, refused;
	struct http	*r;

	snprintf(dir, sizeof(dir), "%s/spool-tmpfs", getenv("NEXUS_TEST_DIR"));
	if (tmpfs_mount(dir, "1m") == -1)
		return;
	setenv("NEXUS_SPOOL_DIR", dir, 1);
	restart_workers();
	make_user("full-disk@example.com", "pro", &user, &key);
	xasprintf(&h, "X-API-Key: %s", key);
	load_run(PING, h, 20, 4, warm);		/* both workers know the key */
	ck_assert_uint_eq(load_count(warm, 20, 200), 20);
	nw = worker_pids(pids, 16);
	ck_assert_uint_ge(nw, 2);

	snprintf(filler, sizeof(filler), "%s/filler", dir);
	fill(filler);
	load_run(PING, h, N, 4, up);
	ok_up = load_count(up, N, 200);
	fprintf(stderr, "full disk, database up: %zu calls served, %zu "
	    "refused\n", ok_up, load_count(up, N, 503));
	assert_same_workers(pids, nw);
	ck_assert_msg(ok_up + load_count(up, N, 503) == N, "%zu 200s of %d",
	    ok_up, N);

	/* Nothing can be written away: the disk is all there is. */
	stack("db-stop");
	load_run(PING, h, N, 4, down);
	ok = load_count(down, N, 200);
	refused = load_count(down, N, 503);
	fprintf(stderr, "full disk, database down: %zu calls served, %zu "
	    "refused\n", ok, refused);
	assert_same_workers(pids, nw);
	ck_assert_msg(ok + refused == N, "%zu 200s and %zu 503s of %d",
	    ok, refused, N);
	ck_assert_msg(refused > 0, "a full disk refused nothing");
	r = ping(h);
	assert_usage_unavailable(r);
	http_free(r);

	/* Room again: served again, by the same workers. */
	ck_assert_int_eq(unlink(filler), 0);
	ck_assert_int_le(wait_served(h, 5), 2);
	assert_same_workers(pids, nw);

	stack("db-start");
	struct dbp p[1] = { DBP_S(user) };
	wait_db_int(sql_rows_200, p, 1, 20 + (long long)(ok_up + ok) + 1, 30);
	ck_assert_uint_eq(assert_200_stored(user, up, N), ok_up);
	ck_assert_uint_eq(assert_200_stored(user, down, N), ok);

	stack("workers-stop");
	unsetenv("NEXUS_SPOOL_DIR");
	ck_assert_int_eq(umount(dir), 0);
	stack("workers-start");
	free(up);
	free(down);
	free(h);
	free(user);
	free(key);
}
END_TEST

START_TEST(cap_while_db_down)
{
	enum { N = 4000, CAP = 262144, STEP = 65536 };
	char		 dir[512], *user, *key, *h;
	struct load_res	 warm[20], *res = xcalloc(N, sizeof(*res));
	int		 pids[16];
	size_t		 nw, ok, refused;
	long long	 used;

	snprintf(dir, sizeof(dir), "%s/spool", getenv("NEXUS_TEST_DIR"));
	setenv("NEXUS_SPOOL_MAX_BYTES", "262144", 1);
	restart_workers();
	make_user("spool-cap@example.com", "pro", &user, &key);
	xasprintf(&h, "X-API-Key: %s", key);
	load_run(PING, h, 20, 4, warm);
	ck_assert_uint_eq(load_count(warm, 20, 200), 20);
	nw = worker_pids(pids, 16);

	stack("db-stop");
	load_run(PING, h, N, 4, res);
	ok = load_count(res, N, 200);
	refused = load_count(res, N, 503);
	ck_assert_msg(ok + refused == N, "%zu 200s and %zu 503s of %d",
	    ok, refused, N);
	fprintf(stderr, "cap %d: %zu calls served, %zu refused, spool %lld "
	    "bytes\n", CAP, ok, refused, spool_bytes(dir));
	ck_assert_msg(refused > 0, "the spool grew past its cap: %lld bytes",
	    spool_bytes(dir));
	ck_assert_msg(ok > 0, "nothing served under the cap");
	assert_same_workers(pids, nw);
	/* Each worker may take one step past what the others left. */
	used = spool_bytes(dir);
	ck_assert_msg(used <= CAP + (long long)(nw - 1) * STEP,
	    "the spool takes %lld bytes, capped at %d", used, CAP);
	struct http *r = ping(h);
	assert_usage_unavailable(r);
	http_free(r);

	/* The backlog is written and removed: room again, by itself. */
	stack("db-start");
	struct dbp p[1] = { DBP_S(user) };
	ck_assert_int_eq(wait_db_int(sql_rows_200, p, 1, 20 + (long long)ok,
	    30), 20 + (long long)ok);
	ck_assert_int_le(wait_served(h, 15), 14);
	ck_assert_uint_eq(assert_200_stored(user, res, N), ok);
	assert_same_workers(pids, nw);

	unsetenv("NEXUS_SPOOL_MAX_BYTES");
	restart_workers();
	free(res);
	free(h);
	free(user);
	free(key);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("spool_full");
	TCase	*tc = tcase_create("out-of-room");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, cap_while_db_down);
	tcase_add_test(tc, full_disk_refuses_and_recovers);
	suite_add_tcase(s, tc);
	return itest_run(s);
}
