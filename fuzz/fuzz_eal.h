/*
 * EAL start-up for the fuzz targets that need DPDK (packet, api), called
 * once from LLVMFuzzerInitialize: no hugepages, no PCI, no telemetry, no
 * shared config, and the virtual devices the target asks for.
 *
 * libFuzzer ignores every argument that starts with "--", so those are the
 * EAL's: scripts/fuzz passes "--file-prefix=NAME --no-huge"; anything the
 * command line does not say gets a default here (a file prefix unique to
 * the process), so a crashing input replays with just `TARGET FILE`.
 */
#ifndef DPLB_FUZZ_EAL_H
#define DPLB_FUZZ_EAL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "control/config.h"

#define FUZZ_EAL_MAX_ARGS 32

static inline bool fuzz_eal_has(int argc, char **argv, const char *option)
{
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], option, strlen(option)) == 0)
			return true;
	return false;
}

/* Start the EAL with vdevs (NULL-terminated, may be empty); exits on failure. */
static inline void fuzz_eal_init(const char *name, int argc, char **argv, const char *const *vdevs)
{
	/* rte_eal_init keeps pointers into its argv: static storage. */
	static char prefix[64];
	static char *eal[FUZZ_EAL_MAX_ARGS];
	int n = 0;

	eal[n++] = (char *)name;
	if (!fuzz_eal_has(argc, argv, "--file-prefix")) {
		snprintf(prefix, sizeof(prefix), "--file-prefix=dplb-fuzz-%d", (int)getpid());
		eal[n++] = prefix;
	}
	if (!fuzz_eal_has(argc, argv, "--no-huge"))
		eal[n++] = (char *)"--no-huge";
	eal[n++] = (char *)"-m";
	eal[n++] = (char *)"128";
	eal[n++] = (char *)"--no-pci";
	eal[n++] = (char *)"--no-telemetry";
	eal[n++] = (char *)"--no-shconf";
	eal[n++] = (char *)"-l";
	eal[n++] = (char *)"0";
	if (!fuzz_eal_has(argc, argv, "--log-level"))
		eal[n++] = (char *)"--log-level=*:error";
	for (const char *const *v = vdevs; *v != NULL && n < FUZZ_EAL_MAX_ARGS - 2; v++) {
		eal[n++] = (char *)"--vdev";
		eal[n++] = (char *)*v;
	}
	for (int i = 1; i < argc && n < FUZZ_EAL_MAX_ARGS - 1; i++)
		if (strncmp(argv[i], "--", 2) == 0)
			eal[n++] = argv[i];
	eal[n] = NULL;
	if (rte_eal_init(n, eal) < 0) {
		fprintf(stderr, "%s: rte_eal_init: %s\n", name, rte_strerror(rte_errno));
		exit(1);
	}
}

/* INI text to a configuration through the real loader (a memfd stands for
 * the file); exits when the text is refused: the fixtures must be good. */
static inline struct dplb_config *fuzz_config_from_text(const char *text)
{
	char path[64];
	struct dplb_config *config = NULL;
	struct dplb_config_errors errs;
	const int fd = memfd_create("dplb-fuzz-config", MFD_CLOEXEC);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror("fuzz config");
		exit(1);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (dplb_config_load(path, &config, &errs) != 0) {
		fprintf(stderr, "fuzz config refused: %s\n", errs.count ? errs.messages[0] : "?");
		exit(1);
	}
	close(fd);
	return config;
}

#endif
