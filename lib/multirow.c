/*
 * Multi-row statements: "head row,row,..,row tail" prepared for a few
 * row counts, and a run of any number of rows through as few of them as
 * their sizes allow. The usage writer and the roll-up write this way.
 */
#include "config.h"

#include <string.h>

#include "nexus.h"

/* The statement for rows rows. */
static char *
multirow_sql(const struct multirow *m, size_t rows)
{
	size_t	 hl = strlen(m->head), rl = strlen(m->row);
	size_t	 tl = strlen(m->tail), i;
	char	*sql = xmalloc(hl + rows * (rl + 1) + tl), *p = sql;

	memcpy(p, m->head, hl);
	for (p += hl, i = 0; i < rows; i++, p += rl) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, m->row, rl);
	}
	memcpy(p, m->tail, tl + 1);
	return sql;
}

/*
 * Builds m's statements, once per process: for 1, 2, 4 .. max rows, and
 * for extra rows when extra is below max (so that a batch of that size
 * is one statement).
 */
void
multirow_build(struct multirow *m, size_t max, size_t extra)
{
	size_t	 n;

	if (m->nsql > 0)
		return;
	for (n = 1; n <= max && m->nsql + 2 <= MULTIROW_SIZES; n *= 2) {
		if (extra > n / 2 && extra < n)
			m->rows[m->nsql++] = extra;
		m->rows[m->nsql++] = n;
	}
	for (n = 0; n < m->nsql; n++)
		m->sql[n] = multirow_sql(m, m->rows[n]);
}

/*
 * Runs rows rows of m->ncol parameters each (p) through m's statements,
 * largest first, and sets *affected to the rows they affected in all.
 * Returns 0, or -1 at the first statement that fails.
 */
int
multirow_exec(struct db *db, const struct multirow *m, const struct dbp *p,
    size_t rows, unsigned long long *affected)
{
	unsigned long long	 a;
	size_t			 s;

	*affected = 0;
	while (rows > 0) {
		for (s = m->nsql - 1; m->rows[s] > rows; s--)
			;
		if (db_exec(db, m->sql[s], p, m->rows[s] * m->ncol, &a) == -1)
			return -1;
		*affected += a;
		p += m->rows[s] * m->ncol;
		rows -= m->rows[s];
	}
	return 0;
}
