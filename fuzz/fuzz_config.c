/*
 * libFuzzer target: the INI loader. Any bytes are a configuration file
 * (a memfd, read through its /proc/self/fd path as dplb reads a file),
 * loaded by dplb_config_load. No DPDK: this is libdplb_core alone.
 *
 * What must hold, else the target aborts: a refused file leaves the output
 * alone and says at least one reason, each a terminated string; an accepted
 * one passes dplb_config_validate (the loader and the API apply the same
 * rules), its clone differs from it in nothing, and it can be printed and
 * diffed both ways against a fixed good configuration, as a reload does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "control/config.h"
#include "control/config_diff.h"

static const char good_text[] =
	"[dataplane]\nports = 0\naddress = 10.10.0.10\ngateway = 10.10.0.1\nprefix_length = 24\n"
	"flow_table_size = 4096\ntcp_timeout = 300\nudp_timeout = 30\nmtu = 1500\n\n"
	"[management]\nlisten = 127.0.0.1:8080\n\n"
	"[vip:web]\naddress = 10.10.0.100\nport = 80\nprotocol = tcp\nscheduler = maglev\n"
	"encap = ipip\nmaglev_size = 251\nhealth_check = http:/healthz\n"
	"backend = 10.10.0.11 weight=1\nbackend = 10.10.0.12 weight=2 health_port=8080\n"
	"backend = 10.10.0.13 weight=2 state=drain\n\n"
	"[vip:dns]\naddress = 10.10.0.101\nport = 53\nprotocol = udp\nscheduler = round-robin\n"
	"encap = gue\nmaglev_size = 251\nbackend = 10.10.0.21\nbackend = 10.10.0.22\n";

static int file = -1;
static char path[64];
static FILE *sink;
static struct dplb_config *good;

static __attribute__((noreturn)) void fail(const char *what)
{
	fprintf(stderr, "fuzz_config: %s\n", what);
	abort();
}

static void put_file(const uint8_t *data, size_t size)
{
	if (ftruncate(file, 0) != 0 || (size && pwrite(file, data, size, 0) != (ssize_t)size))
		fail("memfd write");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dplb_config_errors errs;

	(void)argc;
	(void)argv;
	file = memfd_create("dplb-fuzz-ini", MFD_CLOEXEC);
	sink = fopen("/dev/null", "w");
	if (file < 0 || sink == NULL)
		fail("memfd or /dev/null");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", file);
	put_file((const uint8_t *)good_text, sizeof(good_text) - 1);
	if (dplb_config_load(path, &good, &errs) != 0)
		fail(errs.count ? errs.messages[0] : "the good configuration is refused");
	return 0;
}

static void check_errors(const struct dplb_config_errors *errs)
{
	if (errs->count == 0)
		fail("refused without a reason");
	for (uint32_t i = 0; i < errs->count && i < 32; i++)
		if (memchr(errs->messages[i], '\0', DPLB_ERROR_MAX) == NULL)
			fail("an error message is not terminated");
}

static void diff(const struct dplb_config *before, const struct dplb_config *after)
{
	struct dplb_change_list list = { 0 };
	char keys[256];

	if (dplb_config_diff(before, after, &list) != 0)
		fail("diff: out of memory");
	for (uint32_t i = 0; i < list.count; i++)
		if (dplb_change_kind_name(list.items[i].kind) == NULL ||
		    memchr(list.items[i].fields, '\0', sizeof(list.items[i].fields)) == NULL)
			fail("a change without a name or with unterminated fields");
	dplb_change_list_free(&list);
	dplb_config_diff_needs_restart(before, after, keys, sizeof(keys));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dplb_config *config = NULL, *clone;
	struct dplb_config_errors errs;
	struct dplb_change_list same = { 0 };
	char keys[256];
	int rc;

	put_file(data, size);
	rc = dplb_config_load(path, &config, &errs);
	if (rc != 0) {
		if (config != NULL)
			fail("a refused file set the output");
		if (rc == -EINVAL)
			check_errors(&errs);
		return 0;
	}
	if (dplb_config_validate(config, &errs) != 0)
		fail(errs.count ? errs.messages[0] : "a loaded configuration does not validate");
	dplb_config_print(config, sink);

	clone = dplb_config_clone(config);
	if (clone == NULL)
		fail("clone: out of memory");
	if (dplb_config_diff(config, clone, &same) != 0 || same.count != 0)
		fail("a clone differs from its original");
	if (dplb_config_diff_needs_restart(config, clone, keys, sizeof(keys)) != 0)
		fail("a clone needs a restart");
	dplb_change_list_free(&same);
	dplb_config_free(clone);

	diff(good, config);
	diff(config, good);
	dplb_config_free(config);
	return 0;
}
