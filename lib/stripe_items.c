/*
 * Stripe's invoice items (https://stripe.com/docs/api/invoiceitems), the
 * only calls we make: creating them, each with its Idempotency-Key, and
 * listing a customer's. stripe.c runs the requests.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "nexus.h"
#include "billing.h"

#define STRIPE_LIST_PAGE	100		/* Stripe's largest page */
#define STRIPE_LIST_PAGES	1000		/* 100,000 items at most */

/*
 * Returns 1 when v is an object id as Stripe gives them: a string of
 * letters, digits and '_' that fits STRIPE_ID_MAX. A null, a number or
 * anything else in its place means the answer cannot be trusted.
 */
int
stripe_id_valid(json_object *v)
{
	const char	*s;
	size_t		 i;

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return 0;
	s = json_object_get_string(v);
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return i > 0 && i <= STRIPE_ID_MAX;
}

/* The POST /v1/invoiceitems call that creates it. */
static struct stripe_call *
item_call(struct stripe *s, const struct stripe_item *it, void *udata)
{
	struct stripe_call	*c;
	char			 num[32], key[64];
	size_t			 i;

	c = stripe_call_new(s, "/v1/invoiceitems", it->idempotency_key, udata);
	snprintf(num, sizeof(num), "%lld", it->amount);
	stripe_call_form(c, "customer", it->customer);
	stripe_call_form(c, "amount", num);
	stripe_call_form(c, "currency", it->currency);
	stripe_call_form(c, "description", it->description);
	if (it->period_start != 0) {
		snprintf(num, sizeof(num), "%lld", (long long)it->period_start);
		stripe_call_form(c, "period[start]", num);
		snprintf(num, sizeof(num), "%lld", (long long)it->period_end);
		stripe_call_form(c, "period[end]", num);
	}
	for (i = 0; i < it->nmeta && i < STRIPE_META_MAX; i++) {
		snprintf(key, sizeof(key), "metadata[%s]", it->meta[i].key);
		stripe_call_form(c, key, it->meta[i].val);
	}
	return c;
}

struct create_many {
	int		(*next)(void *, struct stripe_item *, void **);
	void		(*done)(void *, void *, const struct stripe_result *);
	void		*arg;
	struct stripe	*s;
};

static struct stripe_call *
many_next(void *arg)
{
	struct create_many	*m = arg;
	struct stripe_item	 it;
	void			*udata = NULL;

	memset(&it, 0, sizeof(it));
	if (m->next(m->arg, &it, &udata) != 1)
		return NULL;
	return item_call(m->s, &it, udata);
}

static void
many_done(void *arg, struct stripe_call *c, const struct stripe_result *res)
{
	struct create_many	*m = arg;

	m->done(m->arg, stripe_call_udata(c), res);
	json_object_put(res->obj);
	stripe_call_free(c);
}

/*
 * Creates invoice items concurrently, paced to stripe_rate: next() fills
 * the next item (returns 1, or 0 when there are no more) and a pointer
 * handed back to done() with its final result. Items are started in the
 * order next() gives them; results come back as they finish.
 */
void
stripe_invoice_items_create(struct stripe *s,
    int (*next)(void *, struct stripe_item *, void **),
    void (*done)(void *, void *, const struct stripe_result *), void *arg)
{
	struct create_many	 m = { next, done, arg, s };

	stripe_run(s, many_next, many_done, &m);
}

/* One list page's call, and its answer. */
struct list_one {
	struct stripe_call	*call;
	struct stripe_result	 res;
};

static struct stripe_call *
list_next(void *arg)
{
	struct list_one		*l = arg;
	struct stripe_call	*c = l->call;

	l->call = NULL;
	return c;
}

static void
list_done(void *arg, struct stripe_call *c, const struct stripe_result *res)
{
	struct list_one	*l = arg;

	l->res = *res;
	stripe_call_free(c);
}

/* Returns an item's metadata value for key, or NULL. */
const char *
stripe_listed_meta(const struct stripe_listed *it, const char *key)
{
	json_object	*md, *v;

	if (!json_object_object_get_ex((json_object *)it->obj, "metadata",
	    &md) || !json_object_object_get_ex(md, key, &v))
		return NULL;
	return json_object_get_string(v);
}

/*
 * Walks a customer's invoice items, newest first (GET /v1/invoiceitems,
 * following has_more), calling cb for each until it returns non-zero.
 * Returns 0 when the walk ended normally or by cb, -1 on failure with
 * what went wrong in err.
 */
int
stripe_invoice_items_list(struct stripe *s, const char *customer,
    int (*cb)(void *, const struct stripe_listed *), void *arg,
    char *err, size_t errlen)
{
	struct list_one	 l;
	struct buf	 q;
	json_object	*o, *data, *more, *v, *id;
	char		 after[STRIPE_ID_MAX + 1] = "";
	size_t		 i, n;
	int		 page, rc = -1, stop = 0;

	snprintf(err, errlen, "no answer");
	buf_init(&q, 1024);
	for (page = 0; page < STRIPE_LIST_PAGES && !stop; page++) {
		buf_reset(&q);
		if (buf_addstr(&q, "/v1/invoiceitems?") == -1 ||
		    stripe_form_add(&q, "customer", customer) == -1 ||
		    buf_printf(&q, "&limit=%d", STRIPE_LIST_PAGE) == -1 ||
		    (after[0] != '\0' &&
		    stripe_form_add(&q, "starting_after", after) == -1)) {
			snprintf(err, errlen, "customer id too long");
			goto out;
		}
		memset(&l, 0, sizeof(l));
		l.call = stripe_call_new(s, q.data, NULL, NULL);
		stripe_run(s, list_next, list_done, &l);
		o = l.res.obj;
		if (l.res.outcome != STRIPE_OK ||
		    !json_object_object_get_ex(o, "data", &data) ||
		    !json_object_is_type(data, json_type_array)) {
			snprintf(err, errlen, "%s", l.res.error[0] != '\0' ?
			    l.res.error : "unreadable list");
			json_object_put(o);
			goto out;
		}
		n = json_object_array_length(data);
		for (i = 0; i < n && !stop; i++) {
			struct stripe_listed it;

			/*
			 * An item we cannot name could be the one we look
			 * for: the walk fails rather than miss it (and bill
			 * it twice).
			 */
			v = json_object_array_get_idx(data, i);
			if (!json_object_object_get_ex(v, "id", &id) ||
			    !stripe_id_valid(id)) {
				snprintf(err, errlen, "a listed item has no "
				    "valid id");
				json_object_put(o);
				goto out;
			}
			it.id = json_object_get_string(id);
			it.amount = json_object_object_get_ex(v, "amount",
			    &id) ? json_object_get_int64(id) : 0;
			it.obj = v;
			snprintf(after, sizeof(after), "%s", it.id);
			stop = cb(arg, &it) != 0;
		}
		if (!json_object_object_get_ex(o, "has_more", &more) ||
		    !json_object_get_boolean(more) || n == 0)
			stop = 1;
		json_object_put(o);
	}
	rc = stop ? 0 : -1;
	if (!stop)
		snprintf(err, errlen, "more than %d pages", STRIPE_LIST_PAGES);
out:
	buf_free(&q);
	return rc;
}
