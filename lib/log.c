/* Logging to stderr (nginx, systemd and cron all collect it), one line each. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nexus.h"

static const char	*log_name = "nexus";
static int		 log_verbose;

void
log_init(const char *name, const char *level)
{
	log_name = name;
	log_verbose = level != NULL && strcmp(level, "debug") == 0;
}

static void	 vlog(const char *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

static void
vlog(const char *level, const char *fmt, va_list ap)
{
	char	 line[1024];
	int	 n;

	n = snprintf(line, sizeof(line), "%s[%ld]: %s: ", log_name,
	    (long)getpid(), level);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("info", fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("warning", fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog("debug", fmt, ap);
	va_end(ap);
}
