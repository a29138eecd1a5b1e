/*
 * Helpers shared by the unit tests that need DPDK (flow table, state,
 * worker): EAL start-up without hugepages or PCI, and snapshots built from
 * INI text through the real loader.
 *
 * Criterion forks a process per test, so each test's init fixture starts
 * its own EAL (with a file prefix unique to the process, so parallel runs
 * never share a runtime directory) and its fini fixture cleans it up.
 */
#ifndef DPLB_TEST_DPDK_TEST_H
#define DPLB_TEST_DPDK_TEST_H

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "control/config.h"
#include "control/state.h"

/* Start the EAL; vdev (e.g. "net_null0") adds one virtual device, or NULL. */
static inline void test_eal_init(const char *vdev)
{
	/* rte_eal_init keeps pointers into argv: static storage. */
	static char prefix[64];
	static char vdev_arg[64];
	static char *argv[16];
	int argc = 0;

	snprintf(prefix, sizeof(prefix), "dplb-unit-%d", (int)getpid());
	argv[argc++] = (char *)"test";
	argv[argc++] = (char *)"--no-huge";
	argv[argc++] = (char *)"-m";
	argv[argc++] = (char *)"256"; /* an ACL table is 64 MiB */
	argv[argc++] = (char *)"--no-pci";
	argv[argc++] = (char *)"--no-telemetry";
	argv[argc++] = (char *)"--no-shconf";
	argv[argc++] = (char *)"--file-prefix";
	argv[argc++] = prefix;
	argv[argc++] = (char *)"--log-level";
	argv[argc++] = (char *)"*:error";
	if (vdev != NULL) {
		snprintf(vdev_arg, sizeof(vdev_arg), "%s", vdev);
		argv[argc++] = (char *)"--vdev";
		argv[argc++] = vdev_arg;
	}
	argv[argc] = NULL;
	const int rc = rte_eal_init(argc, argv);
	cr_assert_geq(rc, 0, "rte_eal_init: %s", rte_strerror(rte_errno));
}

static inline void test_eal_fini(void)
{
	char runtime_dir[PATH_MAX];

	/* With --no-shconf the runtime directory stays empty; leave nothing
	 * behind per test process. */
	snprintf(runtime_dir, sizeof(runtime_dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(runtime_dir);
}

/* Load INI text through dplb_config_load (via a temporary file). */
static inline struct dplb_config *test_config_from_text(const char *text)
{
	char path[] = "/tmp/dplb-unit-config-XXXXXX";
	struct dplb_config *config = NULL;
	struct dplb_config_errors errs;
	const int fd = mkstemp(path);
	FILE *f;
	int rc;

	cr_assert_geq(fd, 0, "mkstemp");
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	cr_assert_geq(fputs(text, f), 0);
	cr_assert_eq(fclose(f), 0);
	rc = dplb_config_load(path, &config, &errs);
	unlink(path);
	cr_assert_eq(rc, 0, "config rejected (%d): %s\n%s", rc, errs.count ? errs.messages[0] : "?",
		     text);
	return config;
}

/* Build a snapshot from INI text with ids; the state owns the config. */
static inline struct dplb_state *test_state_from_text(struct dplb_identities *ids, const char *text,
						      uint64_t generation)
{
	struct dplb_state *state = NULL;
	char error[DPLB_ERROR_MAX];
	const int rc =
		dplb_state_build(test_config_from_text(text), ids, generation, &state, error);

	cr_assert_eq(rc, 0, "dplb_state_build: %d %s", rc, error);
	cr_assert_not_null(state);
	return state;
}

/* The VIP entry of the snapshot configured under name. */
static inline const struct dplb_vip_entry *test_vip_named(const struct dplb_state *state,
							  const char *name)
{
	for (uint32_t i = 0; i < state->vip_count; i++)
		if (strcmp(state->vips[i].config->name, name) == 0)
			return &state->vips[i];
	cr_assert_fail("no vip %s in the state", name);
	return NULL;
}

/* The stable id the snapshot gives the backend at address under vip. */
static inline uint32_t test_backend_id(const struct dplb_vip_entry *vip,
				       const struct dplb_state *state, uint32_t address)
{
	for (uint32_t i = 0; i < vip->backend_count; i++)
		if (state->backends[vip->backend_ids[i]].address == address)
			return vip->backend_ids[i];
	cr_assert_fail("vip %s has no backend %08x", vip->config->name, address);
	return UINT32_MAX;
}

#endif
