/*
 * Replays a corpus through a fuzz target without libFuzzer:
 *   fuzz_x [FILE|DIR ...]   (default: the target's seed corpus)
 * A crash or a sanitizer report fails it; otherwise it prints a count.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int	 replay(const char *);

static int
replay_file(const char *path)
{
	FILE		*f = fopen(path, "rb");
	unsigned char	*data = NULL;
	size_t		 len = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap)
			data = realloc(data, cap = cap ? cap * 2 : 4096);
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 1;
}

static int
replay(const char *path)
{
	struct stat	 st;
	DIR		*d;
	struct dirent	*de;
	char		 sub[4096];
	int		 n = 0, r;

	if (stat(path, &st) == -1) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if ((r = replay(sub)) < 0) {
			closedir(d);
			return -1;
		}
		n += r;
	}
	closedir(d);
	return n;
}

int
main(int argc, char *argv[])
{
	char	 dflt[4096], *name = basename(argv[0]);
	int	 i, n = 0, r;

	if (argc < 2) {
		/* fuzz_request -> tests/fuzz/corpus/request */
		snprintf(dflt, sizeof(dflt), "%s/%s", FUZZ_CORPUS,
		    strncmp(name, "fuzz_", 5) == 0 ? name + 5 : name);
		r = replay(dflt);
		n = r;
	} else
		for (i = 1; i < argc; i++) {
			if ((r = replay(argv[i])) < 0)
				break;
			n += r;
		}
	if (r < 0 || n == 0) {
		fprintf(stderr, "%s: no inputs replayed\n", name);
		return 1;
	}
	printf("%s: %d inputs replayed without a fault\n", name, n);
	return 0;
}
