/*
 * Reconciliation: are these ledger rows already at Stripe? Stripe forgets
 * an Idempotency-Key after 24 hours, so a row left pending that long (or
 * one whose key Stripe says was used with other parameters) is looked for
 * among its customer's invoice items, by the tag its item carries
 * (metadata nexus_ledger, see ledger_tag), before it is sent again.
 *
 * This file only asks and answers; the overage run records the verdicts.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexus.h"
#include "billing.h"

/* A customer's rows, and what their listed items say of each. */
struct match {
	struct ledger_row	**rows;
	size_t			 n;
	char			(*found)[STRIPE_ID_MAX + 1];
	long long		*amount;
};

static int
match_item(void *arg, const struct stripe_listed *it)
{
	struct match	*m = arg;
	const char	*tag = stripe_listed_meta(it, "nexus_ledger");
	char		 want[128];
	size_t		 i;

	if (tag == NULL)
		return 0;
	for (i = 0; i < m->n; i++) {
		ledger_tag(m->rows[i], want, sizeof(want));
		if (strcmp(tag, want) == 0 && m->found[i][0] == '\0') {
			strlcpy_(m->found[i], it->id, sizeof(m->found[i]));
			m->amount[i] = it->amount;
		}
	}
	return 0;
}

/* Lists the items of rows[0..n-1]'s one customer and judges each row. */
static void
reconcile_customer(struct stripe *s, struct ledger_row **rows, size_t n,
    void (*cb)(void *, struct ledger_row *, const struct reconciled *),
    void *arg)
{
	struct reconciled	 v;
	struct match		 m = { rows, n, NULL, NULL };
	char			 err[256];
	size_t			 i;

	m.found = xcalloc(n, sizeof(*m.found));
	m.amount = xcalloc(n, sizeof(*m.amount));
	if (rows[0]->customer[0] == '\0')
		snprintf(err, sizeof(err), "row has no customer");
	else if (stripe_invoice_items_list(s, rows[0]->customer, match_item,
	    &m, err, sizeof(err)) == 0)
		err[0] = '\0';
	for (i = 0; i < n; i++) {
		memset(&v, 0, sizeof(v));
		v.item_id = m.found[i];
		if (err[0] != '\0') {
			v.verdict = RECONCILE_UNKNOWN;
			snprintf(v.why, sizeof(v.why), "reconcile: %s", err);
		} else if (m.found[i][0] != '\0' &&
		    m.amount[i] != rows[i]->cents) {
			v.verdict = RECONCILE_DIFFERS;
			snprintf(v.why, sizeof(v.why), "reconcile: %s has "
			    "amount %lld, the ledger %lld", m.found[i],
			    m.amount[i], rows[i]->cents);
		} else
			v.verdict = m.found[i][0] != '\0' ? RECONCILE_FOUND :
			    RECONCILE_ABSENT;
		cb(arg, rows[i], &v);
	}
	free(m.found);
	free(m.amount);
}

static int
custcmp(const void *a, const void *b)
{
	const struct ledger_row	*x = *(struct ledger_row *const *)a;
	const struct ledger_row	*y = *(struct ledger_row *const *)b;
	int			 c = strcmp(x->customer, y->customer);

	return c != 0 ? c : x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Looks for each of rows[0..n-1] among its customer's invoice items (one
 * listing per customer; rows is sorted by customer) and calls cb with
 * the verdict, which is valid during the call only.
 */
void
reconcile_rows(struct stripe *s, struct ledger_row **rows, size_t n,
    void (*cb)(void *, struct ledger_row *, const struct reconciled *),
    void *arg)
{
	size_t	 i, j;

	qsort(rows, n, sizeof(*rows), custcmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n &&
		    strcmp(rows[j]->customer, rows[i]->customer) == 0; j++)
			;
		reconcile_customer(s, rows + i, j - i, cb, arg);
	}
}
