/*
 * The usage spool: where a worker puts each usage event before the writer
 * (usage.c) stores it, so that a crash loses none. This file knows the
 * files and their format, not the database:
 *
 * A segment is a file of up to SPOOL_SEGMENT_BYTES, mapped MAP_SHARED
 * while it is appended to: an event is in the page cache as soon as it is
 * copied, so it survives the process being killed, and appending costs no
 * system call. Its disk space is reserved (posix_fallocate) SPOOL_STEP
 * bytes at a time before anything is copied there, within the spool's cap:
 * a full disk refuses a reservation, never a copy (which would be a
 * SIGBUS). Its first line, "#spool written=<16 hex digits>", says up to
 * which offset its events are stored; then comes one event a line,
 * tab-separated; the unwritten rest is zeros. A line without its newline
 * was cut off mid-copy and is not an event.
 *
 * Ownership is a flock(2) on the segment, held from its creation until it
 * is unlinked. A segment whose lock can be taken has lost its worker (a
 * SIGKILL, a crash): it is an orphan, for any worker to replay from its
 * header's offset. Only regular files of ours are replayed, never
 * through a symbolic link, and only from a directory that nobody else may
 * write (spool_dir_check): any line in a segment is taken as a call that
 * a user made.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nexus.h"

#define HEADER_TAG	"#spool written="
#define SPOOL_STEP	(64 * 1024)	/* reserved at a time */
#define EVENT_FIELDS	10

/* Event line: id user key ts method endpoint status latency count limit. */
int
spool_event_format(const struct usage_event *ev, char *line, size_t n)
{
	char	 id[EVENT_ID_LEN * 2 + 1];
	int	 len;

	hex_encode(ev->id, EVENT_ID_LEN, id);
	len = snprintf(line, n, "%s\t%s\t%llu\t%lld\t%s\t%s\t%d\t%u\t%d\t%lld\n",
	    id, ev->user_id, ev->key_id, (long long)ev->ts_ms, ev->method,
	    ev->endpoint, ev->status, ev->latency_us, ev->count, ev->limit);
	return len > 0 && (size_t)len < n ? len : -1;
}

/* Copies a field of printable ASCII, 1 to n - 1 characters. */
static int
field_copy(char *dst, size_t n, const char *src)
{
	const char	*p;

	if (*src == '\0' || strlen(src) >= n)
		return -1;
	for (p = src; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return -1;
	strlcpy_(dst, src, n);
	return 0;
}

/* Parses one spool line (without its newline). Returns 0 or -1. */
int
spool_event_parse(char *line, struct usage_event *ev)
{
	char		*f[EVENT_FIELDS], *save = NULL, *t;
	long long	 v;
	int		 n = 0;

	for (t = strtok_r(line, "\t", &save); t != NULL && n < EVENT_FIELDS;
	    t = strtok_r(NULL, "\t", &save))
		f[n++] = t;
	if (n != EVENT_FIELDS || t != NULL)
		return -1;
	memset(ev, 0, sizeof(*ev));
	if (strlen(f[0]) != EVENT_ID_LEN * 2 ||
	    hex_decode(f[0], EVENT_ID_LEN, ev->id) == -1 ||
	    !user_id_valid(f[1]) ||
	    field_copy(ev->user_id, sizeof(ev->user_id), f[1]) == -1 ||
	    field_copy(ev->method, sizeof(ev->method), f[4]) == -1 ||
	    field_copy(ev->endpoint, sizeof(ev->endpoint), f[5]) == -1)
		return -1;
	if (parse_int(f[2], 0, LLONG_MAX, &v) == -1)
		return -1;
	ev->key_id = (unsigned long long)v;
	if (parse_int(f[3], 0, LLONG_MAX, &v) == -1)
		return -1;
	ev->ts_ms = v;
	if (parse_int(f[6], 100, 599, &v) == -1)
		return -1;
	ev->status = (int)v;
	if (parse_int(f[7], 0, UINT_MAX, &v) == -1)
		return -1;
	ev->latency_us = (unsigned int)v;
	if (parse_int(f[8], 0, 1, &v) == -1)
		return -1;
	ev->count = (int)v;
	if (parse_int(f[9], -1, LLONG_MAX, &ev->limit) == -1)
		return -1;
	return 0;
}

/*
 * Where the segment is written up to, from its header. A header that
 * cannot be read (a worker killed while creating the file) means nothing
 * is known to be written: everything is replayed.
 */
size_t
spool_written(const struct spool_segment *s)
{
	char		 h[SPOOL_HEADER_LEN + 1];
	long long	 v;

	if (pread(s->fd, h, SPOOL_HEADER_LEN, 0) != SPOOL_HEADER_LEN ||
	    strncmp(h, HEADER_TAG, sizeof(HEADER_TAG) - 1) != 0 ||
	    h[SPOOL_HEADER_LEN - 1] != '\n')
		return SPOOL_HEADER_LEN;
	h[SPOOL_HEADER_LEN - 1] = '\0';
	v = strtoll(h + sizeof(HEADER_TAG) - 1, NULL, 16);
	return v > SPOOL_HEADER_LEN && v <= SPOOL_SEGMENT_BYTES ? (size_t)v :
	    SPOOL_HEADER_LEN;
}

static void
header_write(const struct spool_segment *s, size_t written)
{
	char	 h[SPOOL_HEADER_LEN + 1];

	snprintf(h, sizeof(h), HEADER_TAG "%016zx\n", written);
	if (pwrite(s->fd, h, SPOOL_HEADER_LEN, 0) != SPOOL_HEADER_LEN)
		log_warnx("%s: %s", s->path, strerror(errno));
}

/*
 * The bytes that the segments in dir take on disk, or -1 (logged) if it
 * cannot be read.
 */
long long
spool_size(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	long long	 n = 0;

	if ((d = opendir(dir)) == NULL) {
		log_warnx("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 6 && strcmp(de->d_name + len - 6, ".spool") == 0 &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			n += (long long)st.st_blocks * 512;
	}
	closedir(d);
	return n;
}

/*
 * Makes sure that len more bytes can be appended: reserves the next step
 * on disk if need be, as long as the segments of dir then take no more
 * than max bytes. Returns SPOOL_OK, SPOOL_FULL (the segment is), or
 * SPOOL_NOSPACE (the disk is full or the spool at its cap).
 */
int
spool_reserve(struct spool_segment *s, const char *dir, long long max,
    size_t len)
{
	size_t		 want;
	long long	 used;
	int		 e;

	if (s->off + len <= s->room)
		return SPOOL_OK;
	if (s->off + len > SPOOL_SEGMENT_BYTES)
		return SPOOL_FULL;
	want = s->room + SPOOL_STEP;
	while (want < s->off + len)
		want += SPOOL_STEP;
	if (want > SPOOL_SEGMENT_BYTES)
		want = SPOOL_SEGMENT_BYTES;
	if ((used = spool_size(dir)) == -1 ||
	    used + (long long)(want - s->room) > max)
		return SPOOL_NOSPACE;
	if ((e = posix_fallocate(s->fd, (off_t)s->room,
	    (off_t)(want - s->room))) != 0) {
		if (e != ENOSPC && e != EDQUOT)
			log_warnx("%s: %s", s->path, strerror(e));
		return SPOOL_NOSPACE;
	}
	s->room = want;
	return SPOOL_OK;
}

/*
 * Creates, locks and maps segment number no of tag in dir, with room for
 * its header and a line. Returns SPOOL_OK, SPOOL_NOSPACE (nothing is
 * left behind), or SPOOL_ERR (logged).
 */
int
spool_create(const char *dir, const char *tag, unsigned long no,
    long long max, struct spool_segment *s)
{
	char	 tmp[PATH_MAX];
	void	*map;
	int	 n, rc;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	n = snprintf(s->path, sizeof(s->path), "%s/%s-%06lu.spool", dir, tag,
	    no);
	if (n < 0 || (size_t)n >= sizeof(s->path) ||
	    snprintf(tmp, sizeof(tmp), "%s.new", s->path) >= (int)sizeof(tmp)) {
		log_warnx("%s: spool path too long", dir);
		return SPOOL_ERR;
	}
	/*
	 * Made and locked under a name that orphan scans pass over, then
	 * linked to its own (never over another file): a worker starting up
	 * must not take a segment that its worker is still making (mod_fcgid
	 * starts workers under traffic).
	 */
	s->fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (s->fd == -1) {
		if (errno == ENOSPC || errno == EDQUOT)
			return SPOOL_NOSPACE;
		log_warnx("%s: %s", tmp, strerror(errno));
		return SPOOL_ERR;
	}
	rc = SPOOL_ERR;
	/* Mapped whole: only what is reserved is ever touched. */
	if (flock(s->fd, LOCK_EX | LOCK_NB) == -1 ||
	    (rc = spool_reserve(s, dir, max, SPOOL_HEADER_LEN +
	    SPOOL_LINE_MAX)) != SPOOL_OK ||
	    (map = mmap(NULL, SPOOL_SEGMENT_BYTES, PROT_READ | PROT_WRITE,
	    MAP_SHARED, s->fd, 0)) == MAP_FAILED) {
		if (rc != SPOOL_NOSPACE) {
			log_warnx("%s: %s", tmp, strerror(errno));
			rc = SPOOL_ERR;
		}
		goto fail;
	}
	s->no = no;
	s->map = map;
	s->off = SPOOL_HEADER_LEN;
	header_write(s, SPOOL_HEADER_LEN);
	if (link(tmp, s->path) == -1) {
		log_warnx("%s: %s", s->path, strerror(errno));
		munmap(s->map, SPOOL_SEGMENT_BYTES);
		s->map = NULL;
		rc = SPOOL_ERR;
		goto fail;
	}
	unlink(tmp);
	return SPOOL_OK;
fail:
	unlink(tmp);
	close(s->fd);
	s->fd = -1;
	return rc;
}

/*
 * Appends ev to the segment being appended to. Returns 0, or -1 when the
 * room reserved for it is too small (nothing is appended).
 */
int
spool_append(struct spool_segment *s, const struct usage_event *ev)
{
	char	 line[SPOOL_LINE_MAX];
	int	 len;

	if ((len = spool_event_format(ev, line, sizeof(line))) == -1 ||
	    s->off + (size_t)len > s->room)
		return -1;
	/* A kill mid-copy leaves a line without its newline: not an event. */
	memcpy(s->map + s->off, line, (size_t)len);
	s->off += (size_t)len;
	return 0;
}

/* Done appending: unmap, and cut the file to what was appended. */
void
spool_seal(struct spool_segment *s)
{
	if (s->map == NULL)
		return;
	munmap(s->map, SPOOL_SEGMENT_BYTES);
	s->map = NULL;
	if (ftruncate(s->fd, (off_t)s->off) == -1)
		log_warnx("%s: %s", s->path, strerror(errno));
}

/*
 * Lets the segment go: removed (all its events are stored) or left for
 * another worker to replay. Unlinked before its lock goes, so that
 * nobody replays it meanwhile.
 */
void
spool_close(struct spool_segment *s, int remove)
{
	spool_seal(s);
	if (remove)
		unlink(s->path);
	close(s->fd);
	s->fd = -1;
}

/*
 * Hands the events of the segment from its header's offset up to end (or
 * its end of file, or the zero tail) to store() in chunks of chunk
 * events, moving the header past each chunk that store() returns 0 for.
 * With all unset, events short of a full chunk at the end are left for
 * later. Returns the number of events stored, or -1 when the segment
 * cannot be read or store() failed: the rest waits for another try.
 * Malformed lines (none are appended by this code) are logged and
 * skipped.
 */
long long
spool_read(struct spool_segment *s, size_t end, size_t chunk, int all,
    int (*store)(void *, const struct usage_event *, size_t), void *arg)
{
	struct usage_event	*ev = xcalloc(chunk, sizeof(*ev));
	char			 buf[65536], line[SPOOL_LINE_MAX];
	size_t			 nev = 0, ll = 0, off = spool_written(s), eol = off;
	ssize_t			 r, i;
	long long		 stored = -1, n = 0;
	int			 toolong = 0;

	while (off < end) {
		size_t want = end - off < sizeof(buf) ? end - off : sizeof(buf);

		if ((r = pread(s->fd, buf, want, (off_t)off)) == -1) {
			log_warnx("%s: %s", s->path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		for (i = 0; i < r; i++) {
			if (buf[i] == '\0') {	/* the unwritten, zero tail */
				end = off;
				break;
			}
			if (buf[i] != '\n') {
				if (ll + 1 < sizeof(line))
					line[ll++] = buf[i];
				else
					toolong = 1;
				continue;
			}
			line[ll] = '\0';
			eol = off + (size_t)i + 1;
			if (toolong || spool_event_parse(line, &ev[nev]) == -1)
				log_warnx("%s: skipping a malformed event",
				    s->path);
			else if (++nev == chunk) {
				if (store(arg, ev, nev) == -1)
					goto out;
				header_write(s, eol);
				n += (long long)nev;
				nev = 0;
			}
			ll = 0;
			toolong = 0;
		}
		off += (size_t)r;
	}
	/* A last line without its newline was cut off mid-copy: not an event. */
	if (nev > 0 && all) {
		if (store(arg, ev, nev) == -1)
			goto out;
		header_write(s, eol);
		n += (long long)nev;
	}
	stored = n;
out:
	free(ev);
	return stored;
}

/*
 * Makes dir (0700) if it is missing, and checks that it is a directory of
 * ours that no one else may write: whoever can put a file there can make
 * up calls for any user. Returns 0, or -1 (logged, saying why).
 */
int
spool_dir_check(const char *dir)
{
	struct stat	 st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warnx("spool_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1) {
		log_warnx("spool_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("spool_dir %s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_warnx("spool_dir %s belongs to uid %lu, not to this user "
		    "(uid %lu): chown it", dir, (unsigned long)st.st_uid,
		    (unsigned long)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_warnx("spool_dir %s may be written by others (mode %04o): "
		    "chmod 0750 it", dir, (unsigned int)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/*
 * Replays every segment in dir that no live worker holds: replay() gets
 * it open and locked, and the segment is removed when it returns 0.
 * Only regular files of ours are taken, never through a symbolic link.
 * Returns the number of segments replayed, or -1 if one could not be.
 */
int
spool_orphans(const char *dir, int (*replay)(void *, struct spool_segment *),
    void *arg)
{
	struct spool_segment	 s;
	DIR			*d;
	struct dirent		*de;
	struct stat		 st;
	int			 n = 0, rc = 0;

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 7 || strcmp(de->d_name + len - 6, ".spool") != 0)
			continue;
		memset(&s, 0, sizeof(s));
		snprintf(s.path, sizeof(s.path), "%s/%s", dir, de->d_name);
		if ((s.fd = open(s.path, O_RDWR | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC)) == -1) {
			if (errno == ELOOP)
				log_warnx("%s: a symbolic link: not replayed",
				    s.path);
			continue;
		}
		if (fstat(s.fd, &st) == -1 || !S_ISREG(st.st_mode) ||
		    st.st_uid != geteuid()) {
			log_warnx("%s: not a regular file of ours: not "
			    "replayed", s.path);
			close(s.fd);
			continue;
		}
		/* Held: its worker is alive. Gone: written meanwhile. */
		if (flock(s.fd, LOCK_EX | LOCK_NB) == -1 ||
		    fstat(s.fd, &st) == -1 || st.st_nlink == 0) {
			close(s.fd);
			continue;
		}
		if (replay(arg, &s) == 0) {
			log_info("replayed %s", de->d_name);
			spool_close(&s, 1);
			n++;
		} else {
			spool_close(&s, 0);
			rc = -1;
		}
	}
	closedir(d);
	return rc == -1 ? -1 : n;
}
