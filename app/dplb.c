/*
 * dplb: the daemon. Parses the command line (EAL arguments, then `--`, then
 * dplb's own; without `--`, only dplb's own), loads the configuration,
 * starts the data plane, and runs the management loop on the main lcore until SIGINT or SIGTERM. Everything it
 * does is in libdplb; this file only sets up and launches.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>

#include "api/api_server.h"
#include "api/stats.h"
#include "api/telemetry.h"
#include "common/log.h"
#include "control/announce.h"
#include "control/config.h"
#include "control/context.h"
#include "control/control.h"
#include "control/dataplane.h"
#include "control/exception_path.h"
#include "control/management.h"
#include "control/state_builder.h"
#include "health/health.h"

#define MANAGEMENT_PERIOD_MS 10
/* While frames pass through the exception path, the loop waits less: the
 * workers' frames for the kernel wake nothing up. */
#define EXCEPTION_PERIOD_MS 1

/* The stop signal last received (SIGTERM drains first), 0 for none. */
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_stop_signal(int signo)
{
	stop_requested = signo;
}

static void on_reload_signal(int signo)
{
	(void)signo;
	reload_requested = 1;
}

static void usage(FILE *out, const char *program)
{
	fprintf(out,
		"Usage: %s [EAL options] -- [-c] FILE        run\n"
		"       %s [--] --check-config [-c] FILE    validate FILE, start nothing\n"
		"       %s [--] --help | --version\n"
		"\n"
		"Arguments before \"--\" are DPDK's EAL options, those after it dplb's own.\n"
		"Without \"--\" every argument is dplb's own, which is enough for the\n"
		"commands that start no EAL (--check-config, --help, --version).\n"
		"\n"
		"  -c, --config FILE   the INI configuration (see dplb.ini(5)); FILE may\n"
		"                      also be given alone, without -c\n"
		"      --check-config  validate FILE, print what it defines or every error,\n"
		"                      and exit 0 (valid) or 1 (invalid); starts nothing\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n"
		"\n"
		"The main lcore manages (reloads, stats) and sleeps between tasks; every other\n"
		"lcore is a worker with one RX and one TX queue on each port. Signals: SIGHUP\n"
		"re-reads the configuration; SIGINT/SIGTERM stop and print a summary. The HTTP\n"
		"API listens on [management] listen (default 127.0.0.1:8080): docs/api.md.\n",
		program, program, program);
}

struct options {
	const char *config_path;
	bool check_only;
};

/* Parses dplb's own arguments (argv[0] is the program name). Returns -1 to
 * go on, else an exit status. */
static int parse_options(int argc, char **argv, struct options *options)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			options->config_path = optarg;
			break;
		case 'k':
			options->check_only = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return EXIT_SUCCESS;
		case 'V':
			printf("dplb %s\n", DPLB_VERSION);
			return EXIT_SUCCESS;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	/* One file alone is the configuration: dplb --check-config FILE. */
	if (optind < argc && options->config_path == NULL)
		options->config_path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "dplb: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (options->config_path == NULL) {
		fprintf(stderr, "dplb: no configuration given (-c FILE)\n");
		usage(stderr, argv[0]);
		return 2;
	}
	return -1;
}

/* Splits the command line at "--": EAL options before it, dplb's after.
 * Without "--" every argument is dplb's own, and only what needs no EAL
 * (--check-config, --help, --version) may be asked for. Returns -1 to go
 * on, with *eal_argc the number of arguments for rte_eal_init (0 for
 * none), else an exit status. */
static int parse_command_line(int argc, char **argv, struct options *options, int *eal_argc)
{
	int separator = 0, rc;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			separator = i;
			break;
		}
	if (separator == 0) {
		rc = parse_options(argc, argv, options);
		if (rc < 0 && !options->check_only) {
			fprintf(stderr,
				"dplb: running needs \"--\" after the EAL options: "
				"%s [EAL options] -- -c FILE\n",
				argv[0]);
			return 2;
		}
		*eal_argc = 0;
		return rc;
	}
	argv[separator] = argv[0];
	rc = parse_options(argc - separator, argv + separator, options);
	argv[separator] = "--";
	*eal_argc = separator;
	return rc;
}

/* The answer to a file that does not load, before anything runs. */
static void print_errors(const struct dplb_config_errors *errs)
{
	for (uint32_t i = 0; i < errs->count && i < RTE_DIM(errs->messages); i++)
		fprintf(stderr, "%s\n", errs->messages[i]);
	if (errs->dropped)
		fprintf(stderr, "... and %u more errors\n", errs->dropped);
}

static void install_signal_handlers(void)
{
	struct sigaction stop = { .sa_handler = on_stop_signal };
	struct sigaction reload = { .sa_handler = on_reload_signal };

	sigemptyset(&stop.sa_mask);
	sigemptyset(&reload.sa_mask);
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGHUP, &reload, NULL);
	/* A log reader or a client that went away is an error to count, not
	 * a reason to die: writes to it fail with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Whether the management loop should end now, given the stop signal
 * received (if any). A graceful stop (SIGTERM with announce_table) first
 * withdraws every route and goes on forwarding for drain_seconds, while
 * the routers move their flows to other instances; a second signal, or
 * SIGINT, ends it at once. *drain_end_ms is 0 until a drain starts.
 */
static bool time_to_stop(struct dplb_context *ctx, uint64_t *drain_end_ms)
{
	const struct dplb_config *config = dplb_current_state(ctx->publisher)->config;
	const int signo = stop_requested;

	if (*drain_end_ms != 0)
		return signo != 0 || monotonic_ms() >= *drain_end_ms;
	if (signo == 0)
		return false;
	if (signo != SIGTERM || config->announce_table == 0 || config->drain_seconds == 0)
		return true;
	stop_requested = 0;
	const uint32_t withdrawn = dplb_announce_withdraw_all(ctx);

	*drain_end_ms = monotonic_ms() + (uint64_t)config->drain_seconds * 1000;
	DPLB_LOG(NOTICE,
		 "SIGTERM: %u routes withdrawn; forwarding for %u s more (drain_seconds) "
		 "before stopping; another signal stops at once",
		 withdrawn, config->drain_seconds);
	return false;
}

/* The management lcore: bounded slices of work, then sleep, never spin.
 * The sleep ends early when an HTTP client is waiting for an answer, a
 * health check answers, a snapshot's tables are built or the kernel sends
 * a frame on the exception path. */
static void management_loop(struct dplb_context *ctx, struct dplb_api *api)
{
	/* A SIGHUP's reload, which may end in a later round's tick. */
	struct dplb_control_result reload = { 0 };
	uint64_t drain_end_ms = 0;

	for (;;) {
		pthread_mutex_lock(&ctx->management_lock);
		const bool stop = time_to_stop(ctx, &drain_end_ms);

		pthread_mutex_unlock(&ctx->management_lock);
		if (stop)
			break;
		int fds[DPLB_API_WAIT_MAX_FDS] = { dplb_health_fd(ctx->health),
						   dplb_state_builder_fd(ctx->builder) };
		const unsigned int fd_count =
			2 + dplb_exception_path_fds(ctx->exception, fds + 2, RTE_DIM(fds) - 2);

		pthread_mutex_lock(&ctx->management_lock);
		/* First: it may end a change, letting the next one go on. */
		dplb_management_tick(ctx);
		if (reload_requested && !dplb_control_busy(ctx)) {
			reload_requested = 0;
			dplb_control_result_free(&reload);
			/* As POST /reload: the same checks, log lines and counters. */
			dplb_control_reload(ctx, &reload);
		}
		dplb_api_poll(api);
		pthread_mutex_unlock(&ctx->management_lock);
		dplb_api_wait(api, fds, fd_count,
			      dplb_exception_path_busy(ctx->exception) ? EXCEPTION_PERIOD_MS
								       : MANAGEMENT_PERIOD_MS);
	}
	/* Whatever ends dplb, the routers hear of it before it stops forwarding. */
	pthread_mutex_lock(&ctx->management_lock);
	dplb_announce_withdraw_all(ctx);
	pthread_mutex_unlock(&ctx->management_lock);
	dplb_state_builder_free(ctx->builder);
	ctx->builder = NULL;
	dplb_control_result_free(&reload);
}

int main(int argc, char **argv)
{
	struct options options = { 0 };
	struct dplb_config_errors errs;
	struct dplb_config *config;
	static struct dplb_context ctx = { .management_lock = PTHREAD_MUTEX_INITIALIZER };
	char error[DPLB_ERROR_MAX];
	struct dplb_api *api;
	int eal_argc, rc;

	rc = parse_command_line(argc, argv, &options, &eal_argc);
	if (rc >= 0)
		return rc;

	rc = dplb_config_load(options.config_path, &config, &errs);
	if (rc != 0) {
		print_errors(&errs);
		return EXIT_FAILURE;
	}
	if (options.check_only) {
		dplb_config_print(config, stdout);
		printf("%s: configuration is valid\n", options.config_path);
		dplb_config_free(config);
		return EXIT_SUCCESS;
	}

	/* From here on every message is a log line (EAL's too), and none
	 * may block: see log.c. */
	rc = dplb_log_open();
	if (rc != 0)
		fprintf(stderr,
			"dplb: warning: cannot set up non-blocking logging (%s): log "
			"writes may block\n",
			strerror(-rc));
	rc = rte_eal_init(eal_argc, argv);
	if (rc < 0) {
		DPLB_LOG(ERR, "EAL initialisation failed: %s", rte_strerror(rte_errno));
		dplb_config_free(config);
		dplb_log_close();
		return EXIT_FAILURE;
	}
	install_signal_handlers();
	rc = dplb_start(&ctx, options.config_path, config);
	/* The API's socket before the workers: see dplb_launch_workers. */
	api = rc == 0 ? dplb_api_start(&ctx, error) : NULL;
	if (rc == 0 && api == NULL)
		DPLB_LOG(ERR, "management endpoint: %s", error);
	if (api != NULL) {
		rc = dplb_launch_workers(&ctx);
		if (rc != 0) {
			DPLB_LOG(ERR, "cannot launch the workers: %s", rte_strerror(-rc));
			dplb_api_stop(api);
			api = NULL;
		}
	}
	if (api == NULL) {
		dplb_stop_workers(&ctx);
		dplb_release(&ctx);
		rte_eal_cleanup();
		dplb_log_close();
		return EXIT_FAILURE;
	}
	dplb_telemetry_register(&ctx);
	/* From now on snapshots' tables are built off the management loop. */
	ctx.builder = dplb_state_builder_create();
	if (ctx.builder == NULL)
		DPLB_LOG(WARNING,
			 "warning: cannot make the snapshot builder (%s): big tables will "
			 "stop the API while they are built",
			 strerror(errno));
	DPLB_LOG(NOTICE, "version %s: running with %u workers on %u ports; state generation %lu",
		 DPLB_VERSION, ctx.worker_count, ctx.port_count, (unsigned long)ctx.generation);

	management_loop(&ctx, api);

	dplb_api_stop(api);
	dplb_stop_workers(&ctx);
	dplb_print_summary(&ctx, stdout);
	fflush(stdout);
	/* A telemetry request now finds everything released, never half of it. */
	pthread_mutex_lock(&ctx.management_lock);
	dplb_release(&ctx);
	pthread_mutex_unlock(&ctx.management_lock);
	rte_eal_cleanup();
	dplb_log_close();
	return EXIT_SUCCESS;
}
