/*
 * Unit tests for the usage spool (lib/spool.c), with no database: the
 * event line format, appending to a segment, its header's offset, reading
 * and replaying from that offset, cut or corrupt lines; room reserved
 * before it is written (a cap, a full tmpfs); the directory and files a
 * worker trusts.
 */
#include "config.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define USER	"eco_usr_spooltest"

static char	 dir[256];

/* What a store callback was handed, and when it is to fail. */
struct seen {
	struct usage_event	 ev[64];
	size_t			 n;
	int			 calls;
	int			 fail_at;	/* the call that fails; 0 none */
};

static int
store(void *arg, const struct usage_event *ev, size_t n)
{
	struct seen	*s = arg;

	if (++s->calls == s->fail_at)
		return -1;
	ck_assert_uint_le(s->n + n, 64);
	memcpy(&s->ev[s->n], ev, n * sizeof(*ev));
	s->n += n;
	return 0;
}

/* spool_orphans' replay: everything, in chunks of 2. */
static int
replay(void *arg, struct spool_segment *s)
{
	return spool_read(s, SIZE_MAX, 2, 1, store, arg) == -1 ? -1 : 0;
}

static void
event_make(struct usage_event *ev, int n)
{
	memset(ev, 0, sizeof(*ev));
	memset(ev->id, n, EVENT_ID_LEN);
	strlcpy_(ev->user_id, USER, sizeof(ev->user_id));
	ev->key_id = 7;
	ev->ts_ms = 1700000000000LL + n;
	strlcpy_(ev->method, "GET", sizeof(ev->method));
	strlcpy_(ev->endpoint, "/api/secure/ping", sizeof(ev->endpoint));
	ev->status = 200;
	ev->latency_us = 100 + (unsigned int)n;
	ev->count = n % 2;
	ev->limit = n == 3 ? -1 : 100000;
}

/* A segment in dir with events 1..n appended, still held. */
static void
segment_make(struct spool_segment *s, unsigned long no, int n)
{
	struct usage_event	 ev;
	int			 i;

	ck_assert_int_eq(spool_create(dir, "wtest", no, 1LL << 30, s),
	    SPOOL_OK);
	for (i = 1; i <= n; i++) {
		event_make(&ev, i);
		ck_assert_int_eq(spool_append(s, &ev), 0);
	}
}

/* The first line of the file at path. */
static void
first_line(const char *path, char *line, size_t n)
{
	FILE	*f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, (int)n, f));
	fclose(f);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s/nexus-spool.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char	 cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(line_roundtrip)
{
	struct usage_event	 ev, back;
	char			 line[SPOOL_LINE_MAX], bad[SPOOL_LINE_MAX];
	int			 len;

	event_make(&ev, 3);
	len = spool_event_format(&ev, line, sizeof(line));
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(line[len - 1], '\n');
	line[len - 1] = '\0';
	strlcpy_(bad, line, sizeof(bad));
	ck_assert_int_eq(spool_event_parse(line, &back), 0);
	ck_assert_mem_eq(back.id, ev.id, EVENT_ID_LEN);
	ck_assert_str_eq(back.user_id, USER);
	ck_assert_uint_eq(back.key_id, 7);
	ck_assert_int_eq(back.ts_ms, ev.ts_ms);
	ck_assert_str_eq(back.endpoint, ev.endpoint);
	ck_assert_int_eq(back.status, 200);
	ck_assert_uint_eq(back.latency_us, 103);
	ck_assert_int_eq(back.count, 1);
	ck_assert_int_eq(back.limit, -1);

	/* The id is 32 hex digits, no more and no fewer; ten fields. */
	strlcpy_(line, bad, sizeof(line));
	line[31] = 'x';
	ck_assert_int_eq(spool_event_parse(line, &back), -1);
	strlcpy_(line, bad, sizeof(line));
	ck_assert_int_eq(spool_event_parse(line + 1, &back), -1);
	strlcpy_(line, bad, sizeof(line));
	*strrchr(line, '\t') = '\0';
	ck_assert_int_eq(spool_event_parse(line, &back), -1);
	strlcpy_(line, bad, sizeof(line));
	ck_assert_int_eq(spool_event_parse(line, &back), 0);
	/* Too small a buffer: no line at all. */
	ck_assert_int_eq(spool_event_format(&ev, line, 40), -1);
}
END_TEST

START_TEST(append_moves_the_header_per_chunk)
{
	struct spool_segment	 s;
	struct seen		 seen;
	char			 line[64], want[64];
	size_t			 after2;

	memset(&seen, 0, sizeof(seen));
	segment_make(&s, 1, 3);
	first_line(s.path, line, sizeof(line));
	ck_assert_str_eq(line, "#spool written=0000000000000020\n");
	ck_assert_uint_eq(spool_written(&s), SPOOL_HEADER_LEN);

	/* Whole chunks of 2 only: events 1 and 2, the header after them. */
	ck_assert_int_eq(spool_read(&s, s.off, 2, 0, store, &seen), 2);
	ck_assert_uint_eq(seen.n, 2);
	ck_assert_int_eq(seen.ev[1].ts_ms, 1700000000002LL);
	after2 = spool_written(&s);
	ck_assert_uint_gt(after2, SPOOL_HEADER_LEN);
	ck_assert_uint_lt(after2, s.off);
	snprintf(want, sizeof(want), "#spool written=%016zx\n", after2);
	first_line(s.path, line, sizeof(line));
	ck_assert_str_eq(line, want);

	/* The rest, from the header's offset: event 3 only. */
	ck_assert_int_eq(spool_read(&s, s.off, 2, 1, store, &seen), 1);
	ck_assert_uint_eq(seen.n, 3);
	ck_assert_int_eq(seen.ev[2].ts_ms, 1700000000003LL);
	ck_assert_uint_eq(spool_written(&s), s.off);
	ck_assert_int_eq(spool_read(&s, s.off, 2, 1, store, &seen), 0);
	spool_close(&s, 1);
	ck_assert_int_eq(access(s.path, F_OK), -1);
}
END_TEST

START_TEST(full_segment_refuses)
{
	struct spool_segment	 s;
	struct usage_event	 ev;
	size_t			 off;

	segment_make(&s, 1, 1);
	event_make(&ev, 2);
	s.off = SPOOL_SEGMENT_BYTES - 10;	/* as if nearly full */
	off = s.off;
	ck_assert_int_eq(spool_append(&s, &ev), -1);
	ck_assert_uint_eq(s.off, off);
	s.off = SPOOL_HEADER_LEN;
	spool_close(&s, 1);
}
END_TEST

/*
 * A segment whose worker is gone is replayed from its header's offset by
 * spool_orphans, and removed once stored; one still held is left alone;
 * one whose replay fails stays for the next try.
 */
START_TEST(orphan_replays_from_the_header)
{
	struct spool_segment	 s, held;
	struct seen		 seen;
	char			 path[sizeof(s.path)];

	memset(&seen, 0, sizeof(seen));
	segment_make(&s, 1, 5);
	seen.fail_at = 2;	/* events 1 and 2 stored, then a failure */
	ck_assert_int_eq(spool_read(&s, s.off, 2, 1, store, &seen), -1);
	ck_assert_uint_eq(seen.n, 2);
	spool_close(&s, 0);	/* the worker dies */
	strlcpy_(path, s.path, sizeof(path));
	segment_make(&held, 2, 1);	/* a live worker's */

	memset(&seen, 0, sizeof(seen));
	seen.fail_at = 1;
	ck_assert_int_eq(spool_orphans(dir, replay, &seen), -1);
	ck_assert_int_eq(access(path, F_OK), 0);

	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(spool_orphans(dir, replay, &seen), 1);
	ck_assert_uint_eq(seen.n, 3);
	ck_assert_int_eq(seen.ev[0].ts_ms, 1700000000003LL);
	ck_assert_int_eq(seen.ev[2].ts_ms, 1700000000005LL);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(access(held.path, F_OK), 0);
	spool_close(&held, 1);
}
END_TEST

/*
 * A corrupt line is skipped, a last line without its newline (cut
 * mid-copy) is not an event, and an unreadable header replays it all.
 */
START_TEST(cut_and_corrupt_lines)
{
	struct usage_event	 ev;
	struct seen		 seen;
	char			 path[300], text[2048], l1[SPOOL_LINE_MAX];
	char			 l2[SPOOL_LINE_MAX];
	int			 n1, n2;

	event_make(&ev, 1);
	n1 = spool_event_format(&ev, l1, sizeof(l1));
	event_make(&ev, 2);
	n2 = spool_event_format(&ev, l2, sizeof(l2));
	ck_assert(n1 > 0 && n2 > 0);
	snprintf(path, sizeof(path), "%s/orphan-000001.spool", dir);
	snprintf(text, sizeof(text), "#spool written=%016x\n%s"
	    "not an event\tat all\n%s%.*s", SPOOL_HEADER_LEN, l1, l2,
	    n1 - 1, l1);
	write_file(path, text);
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(spool_orphans(dir, replay, &seen), 1);
	ck_assert_uint_eq(seen.n, 2);
	ck_assert_int_eq(seen.ev[0].ts_ms, 1700000000001LL);
	ck_assert_int_eq(seen.ev[1].ts_ms, 1700000000002LL);

	/* An offset past any segment's size: the header is not believed. */
	snprintf(text, sizeof(text), "#spool written=%016x\n%s%s",
	    SPOOL_SEGMENT_BYTES + 1, l1, l2);
	write_file(path, text);
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(spool_orphans(dir, replay, &seen), 1);
	ck_assert_uint_eq(seen.n, 2);

	/* A line longer than any event is skipped whole. */
	memset(text, 'a', sizeof(text));
	snprintf(text, SPOOL_HEADER_LEN + 1, "#spool written=%016x\n",
	    SPOOL_HEADER_LEN);
	text[SPOOL_HEADER_LEN] = 'a';
	snprintf(text + 1500, sizeof(text) - 1500, "\n%s", l2);
	write_file(path, text);
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(spool_orphans(dir, replay, &seen), 1);
	ck_assert_uint_eq(seen.n, 1);
	ck_assert_int_eq(seen.ev[0].ts_ms, 1700000000002LL);
}
END_TEST

/* Appends event n until the segment's room is used; returns how many. */
static int
append_all(struct spool_segment *s, int n)
{
	struct usage_event	 ev;
	int			 i = 0;

	event_make(&ev, n);
	while (spool_append(s, &ev) == 0)
		i++;
	ck_assert_uint_le(s->off, s->room);
	ck_assert_uint_gt(s->off + SPOOL_LINE_MAX, s->room);
	return i;
}

static int
count(void *arg, const struct usage_event *ev, size_t n)
{
	*(size_t *)arg += n;
	return 0;
}

/*
 * Room comes a step at a time, as long as the directory's segments stay
 * within the cap; past it nothing is reserved, and no segment is made.
 */
START_TEST(room_within_the_cap)
{
	struct spool_segment	 s, t;
	size_t			 step, read = 0;
	long long		 cap;
	int			 n;

	ck_assert_int_eq(spool_create(dir, "wcap", 1, 1LL << 30, &s), SPOOL_OK);
	step = s.room;
	ck_assert_uint_ge(step, SPOOL_HEADER_LEN + SPOOL_LINE_MAX);
	ck_assert_uint_lt(step, SPOOL_SEGMENT_BYTES);
	ck_assert_int_ge(spool_size(dir), (long long)step);
	cap = 2 * (long long)step;

	n = append_all(&s, 1);
	ck_assert_int_eq(spool_reserve(&s, dir, cap, SPOOL_LINE_MAX), SPOOL_OK);
	ck_assert_uint_eq(s.room, 2 * step);
	ck_assert_int_ge(spool_size(dir), cap);
	n += append_all(&s, 2);
	ck_assert_int_eq(spool_reserve(&s, dir, cap, SPOOL_LINE_MAX),
	    SPOOL_NOSPACE);
	ck_assert_uint_eq(s.room, 2 * step);
	ck_assert_int_eq(spool_create(dir, "wcap", 2, cap, &t), SPOOL_NOSPACE);
	ck_assert_int_eq(t.fd, -1);
	ck_assert_int_eq(access(t.path, F_OK), -1);

	/* Every event appended is there; sealed, the file is what it holds. */
	ck_assert_int_eq(spool_read(&s, s.off, 64, 1, count, &read), n);
	ck_assert_uint_eq(read, (size_t)n);
	spool_seal(&s);
	ck_assert_int_le(spool_size(dir), ((long long)s.off + 4095) / 4096 *
	    4096);

	/* Near the end of a segment: full, the next one's business. */
	ck_assert_int_eq(spool_create(dir, "wcap", 3, 1LL << 30, &t), SPOOL_OK);
	t.off = SPOOL_SEGMENT_BYTES - 10;
	ck_assert_int_eq(spool_reserve(&t, dir, 1LL << 30, SPOOL_LINE_MAX),
	    SPOOL_FULL);
	t.off = SPOOL_HEADER_LEN;
	spool_close(&t, 1);
	spool_close(&s, 1);
}
END_TEST

/*
 * On a full filesystem a segment refuses room, never a write (which
 * would be a SIGBUS through the mapping); room is back with the space.
 * A tmpfs in a mount namespace of this test's own process.
 */
START_TEST(full_disk_refuses_room)
{
	struct spool_segment	 s, t;
	char			 filler[300], chunk[4096];
	size_t			 read = 0;
	int			 fd, n;

	if (unshare(CLONE_NEWNS) == -1 ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=512k") == -1) {
		fprintf(stderr, "SKIP full_disk_refuses_room: cannot mount a "
		    "tmpfs: %s\n", strerror(errno));
		return;
	}
	ck_assert_int_eq(spool_create(dir, "wfull", 1, 1LL << 30, &s),
	    SPOOL_OK);
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	ck_assert((fd = open(filler, O_WRONLY | O_CREAT, 0600)) != -1);
	memset(chunk, 'x', sizeof(chunk));
	while (write(fd, chunk, sizeof(chunk)) == sizeof(chunk))
		;
	close(fd);

	n = append_all(&s, 1);		/* what was reserved is written */
	ck_assert_int_eq(spool_reserve(&s, dir, 1LL << 30, SPOOL_LINE_MAX),
	    SPOOL_NOSPACE);
	ck_assert_int_eq(spool_create(dir, "wfull", 2, 1LL << 30, &t),
	    SPOOL_NOSPACE);
	ck_assert_int_eq(access(t.path, F_OK), -1);

	ck_assert_int_eq(unlink(filler), 0);
	ck_assert_int_eq(spool_reserve(&s, dir, 1LL << 30, SPOOL_LINE_MAX),
	    SPOOL_OK);
	n += append_all(&s, 2);
	ck_assert_int_eq(spool_read(&s, s.off, 64, 1, count, &read), n);
	spool_close(&s, 1);
	ck_assert_int_eq(umount(dir), 0);
}
END_TEST

/* Only a directory of ours that no one else may write is a spool. */
START_TEST(dir_ours_and_closed)
{
	char		 sub[300], file[300];
	struct stat	 st;

	snprintf(sub, sizeof(sub), "%s/spool", dir);
	ck_assert_int_eq(spool_dir_check(sub), 0);	/* made */
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(chmod(sub, 0770), 0);
	ck_assert_int_eq(spool_dir_check(sub), -1);
	ck_assert_int_eq(chmod(sub, 0703), 0);
	ck_assert_int_eq(spool_dir_check(sub), -1);
	ck_assert_int_eq(chmod(sub, 0750), 0);
	ck_assert_int_eq(spool_dir_check(sub), 0);
	snprintf(file, sizeof(file), "%s/file", dir);
	write_file(file, "x");
	ck_assert_int_eq(spool_dir_check(file), -1);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(sub, 65534, 65534), 0);
		ck_assert_int_eq(spool_dir_check(sub), -1);
	}
}
END_TEST

/*
 * Replay takes regular files of ours only, never through a symbolic
 * link: a link to a segment elsewhere, a FIFO, a directory and another
 * user's file are neither replayed nor touched.
 */
START_TEST(orphans_regular_files_of_ours)
{
	struct usage_event	 ev;
	struct seen		 seen;
	char			 line[SPOOL_LINE_MAX], text[1024], path[300];
	char			 target[300];

	event_make(&ev, 1);
	ck_assert_int_gt(spool_event_format(&ev, line, sizeof(line)), 0);
	snprintf(text, sizeof(text), "#spool written=%016x\n%s",
	    SPOOL_HEADER_LEN, line);
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	write_file(target, text);
	snprintf(path, sizeof(path), "%s/link.spool", dir);
	ck_assert_int_eq(symlink(target, path), 0);
	snprintf(path, sizeof(path), "%s/fifo.spool", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/dir.spool", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	if (geteuid() == 0) {
		snprintf(path, sizeof(path), "%s/theirs.spool", dir);
		write_file(path, text);
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
	}
	memset(&seen, 0, sizeof(seen));
	ck_assert_int_eq(spool_orphans(dir, replay, &seen), 0);
	ck_assert_uint_eq(seen.n, 0);
	ck_assert_int_eq(access(target, F_OK), 0);
	if (geteuid() == 0)
		ck_assert_int_eq(access(path, F_OK), 0);

	/* A segment of ours, beside them: replayed. */
	snprintf(path, sizeof(path), "%s/mine.spool", dir);
	write_file(path, text);
	ck_assert_int_eq(spool_orphans(dir, replay, &seen), 1);
	ck_assert_uint_eq(seen.n, 1);
	ck_assert_int_eq(access(path, F_OK), -1);

	/* A segment is never made through a link planted in its place. */
	struct spool_segment s;
	snprintf(path, sizeof(path), "%s/wlink-000001.spool", dir);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(spool_create(dir, "wlink", 1, 1LL << 30, &s),
	    SPOOL_ERR);
	ck_assert_int_eq(access(target, F_OK), 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("spool");
	TCase	*tc = tcase_create("segments");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, line_roundtrip);
	tcase_add_test(tc, append_moves_the_header_per_chunk);
	tcase_add_test(tc, full_segment_refuses);
	tcase_add_test(tc, orphan_replays_from_the_header);
	tcase_add_test(tc, cut_and_corrupt_lines);
	tcase_add_test(tc, room_within_the_cap);
	tcase_add_test(tc, full_disk_refuses_room);
	tcase_add_test(tc, dir_ours_and_closed);
	tcase_add_test(tc, orphans_regular_files_of_ours);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK);
}
