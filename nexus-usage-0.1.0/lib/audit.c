/* The audit log: who did what to what, when and from where. */
#include "config.h"

#include <string.h>

#include "nexus.h"

/*
 * Records one action. detail is a JSON text or NULL; remote is the
 * client's address or NULL for command-line actions. Returns 0 or -1.
 */
int
audit_log(struct db *db, const char *actor, const char *action,
    const char *target, const char *detail, const char *remote)
{
	static const char	*sql = "INSERT INTO eco_audit_log "
	    "(at, actor, action, target, detail, remote_addr) "
	    "VALUES (UTC_TIMESTAMP(3), ?, ?, ?, ?, ?)";
	struct dbp		 p[5] = {
		DBP_SN(actor, strnlen(actor, 64)),
		DBP_SN(action, strnlen(action, 64)),
		target ? DBP_SN(target, strnlen(target, 128)) : DBP_NUL,
		DBP_SNULL(detail),
		remote ? DBP_SN(remote, strnlen(remote, 64)) : DBP_NUL,
	};

	if (db_exec(db, sql, p, 5, NULL) == -1) {
		log_warnx("audit %s %s: %s", actor, action, db_error(db));
		return -1;
	}
	return 0;
}
