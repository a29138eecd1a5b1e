/*
 * dplb-config-reference: writes the dplb.ini(5) man page. The build runs it
 * on docs/man/dplb.ini.5.in, replacing the line "@KEYS@" with the key
 * reference lib/control/config.c writes from the loader's own key table, and
 * "@VERSION@" with dplb's version, so the manual cannot drift from what
 * dplb accepts. Fails (and so does the build) when a key has no .doc.
 *
 *   dplb-config-reference TEMPLATE VERSION > dplb.ini.5
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/config_reference.h"

static void write_line(const char *line, const char *version, FILE *out)
{
	const char *at;

	while ((at = strstr(line, "@VERSION@")) != NULL) {
		fwrite(line, 1, (size_t)(at - line), out);
		fputs(version, out);
		line = at + strlen("@VERSION@");
	}
	fputs(line, out);
}

int main(int argc, char **argv)
{
	char *line = NULL;
	size_t size = 0;
	FILE *template;
	int rc = EXIT_SUCCESS;

	if (argc != 3) {
		fprintf(stderr, "usage: %s TEMPLATE VERSION\n", argv[0]);
		return 2;
	}
	template = fopen(argv[1], "r");
	if (template == NULL) {
		perror(argv[1]);
		return EXIT_FAILURE;
	}
	while (getline(&line, &size, template) != -1) {
		if (strcmp(line, "@KEYS@\n") != 0) {
			write_line(line, argv[2], stdout);
		} else if (dplb_config_write_reference(stdout) != 0) {
			fprintf(stderr,
				"%s: a key of lib/control/config.c's key_table has no .doc\n",
				argv[0]);
			rc = EXIT_FAILURE;
		}
	}
	free(line);
	fclose(template);
	if (fflush(stdout) != 0) {
		perror("stdout");
		rc = EXIT_FAILURE;
	}
	return rc;
}
