/*
 * Schema migrations: db/NNN_name.sql, applied in order, each recorded in
 * schema_migrations. Statements are separated by a ';' that ends a line.
 * DDL commits implicitly in MySQL, so a migration cut off half way is
 * simply applied again: every statement in db/ is written to be safe to
 * repeat (IF NOT EXISTS, INSERT IGNORE).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"

#define MIGRATION_MAX	(1024 * 1024)

static int
namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
migrate_applied(struct db *db, int version)
{
	static const char	*sql =
	    "SELECT 1 FROM schema_migrations WHERE version = ?";
	struct dbp		 p[1] = { DBP_I(version) };
	struct dbres		*r;
	int			 rc;

	if ((r = db_query(db, sql, p, 1)) == NULL)
		return -1;
	rc = db_next(r);
	db_done(r);
	return rc;
}

static int
migrate_file(struct db *db, const char *path)
{
	FILE		*f;
	struct buf	 stmt;
	char		 line[8192];
	int		 rc = -1;

	buf_init(&stmt, MIGRATION_MAX);
	if ((f = fopen(path, "r")) == NULL) {
		log_warnx("%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
		    line[n - 1] == ' '))
			line[--n] = '\0';
		if (strncmp(line, "--", 2) == 0 || n == 0)
			continue;
		if (buf_add(&stmt, line, n) == -1 ||
		    buf_add(&stmt, "\n", 1) == -1) {
			log_warnx("%s: a statement longer than %d bytes", path,
			    MIGRATION_MAX);
			goto out;
		}
		if (line[n - 1] == ';') {
			if (db_raw(db, stmt.data) == -1) {
				log_warnx("%s: %s", path, db_error(db));
				goto out;
			}
			buf_reset(&stmt);
		}
	}
	if (stmt.len > 0 && db_raw(db, stmt.data) == -1) {
		log_warnx("%s: %s", path, db_error(db));
		goto out;
	}
	rc = 0;
out:
	fclose(f);
	buf_free(&stmt);
	return rc;
}

/*
 * Applies every migration of dir not yet recorded, under a server lock so
 * that two migrators never interleave. Calls done(version, name) for each
 * one applied. Returns the number applied, or -1.
 */
int
migrate_apply(struct db *db, const char *dir, void (*done)(int, const char *))
{
	static const char	*record = "INSERT INTO schema_migrations "
	    "(version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP())";
	DIR			*d;
	struct dirent		*de;
	char			**names = NULL, path[4096];
	size_t			 n = 0, i;
	long long		 version;
	int			 applied = 0, rc = -1, got;

	if ((d = opendir(dir)) == NULL) {
		log_warnx("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 8 || strcmp(de->d_name + len - 4, ".sql") != 0)
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), namecmp);

	if ((got = db_lock(db, "nexus_migrate", 30)) != 1) {
		log_warnx("migrate: %s", got == 0 ?
		    "another migration holds the lock" : db_error(db));
		goto out;
	}
	if (db_raw(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version INT NOT NULL PRIMARY KEY,"
	    " name VARCHAR(255) NOT NULL,"
	    " applied_at DATETIME NOT NULL"
	    ") ENGINE=InnoDB") == -1)
		goto unlock;
	for (i = 0; i < n; i++) {
		char num[4] = { names[i][0], names[i][1], names[i][2], '\0' };

		if (parse_int(num, 1, 999, &version) == -1 ||
		    names[i][3] != '_') {
			log_warnx("migrate: %s: not NNN_name.sql", names[i]);
			goto unlock;
		}
		if ((got = migrate_applied(db, (int)version)) == -1)
			goto unlock;
		if (got == 1)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (migrate_file(db, path) == -1)
			goto unlock;
		struct dbp p[2] = { DBP_I(version), DBP_S(names[i]) };
		if (db_exec(db, record, p, 2, NULL) == -1)
			goto unlock;
		if (done != NULL)
			done((int)version, names[i]);
		applied++;
	}
	rc = applied;
unlock:
	if (rc == -1)
		log_warnx("migrate: %s", db_error(db));
	db_unlock(db, "nexus_migrate");
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}
