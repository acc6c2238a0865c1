/* The sample API-key route: what any protected endpoint looks like. */
#include "config.h"

#include "web.h"

/* GET /api/secure/ping */
void
api_ping(struct request *r)
{
	json_object	*o = json_object_new_object();
	char		 now[32];

	time_format((time_t)(r->start_us / 1000000), now, sizeof(now));
	json_object_object_add(o, "pong", json_object_new_boolean(1));
	json_object_object_add(o, "user", json_object_new_string(r->user_id));
	json_object_object_add(o, "plan", json_object_new_string(r->key.plan));
	json_object_object_add(o, "time", json_object_new_string(now));
	json_object_object_add(o, "overage",
	    json_object_new_boolean(r->quota.overage > 0));
	resp_json(r, 200, o);
}
