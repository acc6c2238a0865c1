/* Health and liveness: the only routes that need no credentials. */
#include "config.h"

#include "web.h"

/*
 * GET /api/health: 200 when the database answers, 503 when it does not.
 * The worker itself stays up either way; db_ping() reconnects.
 */
void
api_health(struct request *r)
{
	json_object	*o = json_object_new_object();
	int		 up = db_ping(r->srv->db) == 0;

	json_object_object_add(o, "status",
	    json_object_new_string(up ? "ok" : "degraded"));
	json_object_object_add(o, "db",
	    json_object_new_string(up ? "ok" : "down"));
	json_object_object_add(o, "version",
	    json_object_new_string(PACKAGE_VERSION));
	resp_json(r, up ? 200 : 503, o);
}

/* GET /api/live: the worker answers; no database, no auth, no tracking. */
void
api_live(struct request *r)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_string("ok"));
	resp_json(r, 200, o);
}
