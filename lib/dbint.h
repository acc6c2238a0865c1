/*
 * The insides of a database connection, shared by db.c (the connection)
 * and dbstmt.c (its statements and results) only.
 */
#ifndef DBINT_H
#define DBINT_H

#define STMT_SLOTS	256	/* distinct statements a connection keeps */

struct slot {
	const char	*sql;
	MYSQL_STMT	*st;
};

struct db {
	const struct config	*cfg;
	MYSQL			*my;
	int			 wait_for;	/* a connect in progress: its events */
	int64_t			 connect_began;	/* mono_ms() */
	int64_t			 next_try;	/* no connect before (mono_ms()) */
	int			 down;		/* the last connect failed */
	int			 in_tx;
	int			 tx_always;	/* autocommit off, off the request path */
	unsigned int		 err;
	char			 errmsg[256];
	struct slot		 slots[STMT_SLOTS];
};

/* db.c */
void	 db_seterr(struct db *, unsigned int, const char *);
void	 db_fail(struct db *, unsigned int, const char *);
int	 db_connect(struct db *);

/* dbstmt.c */
void	 db_stmts_close(struct db *);

#endif /* DBINT_H */
