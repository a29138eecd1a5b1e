/*
 * Building snapshots' scheduler tables on a thread of their own.
 *
 * Why a thread, and not slices of work resumed by each management tick (as
 * Redis rehashes): the slow part is several loops (Maglev's fill, by
 * replay or by heap, the pass turning slots into backend ids, the WRR
 * sequence), each of which would have to become a resumable state machine,
 * a second copy of code whose whole point is to be deterministic. On a
 * thread the very code a blocking build runs makes the table, so the
 * snapshot is the same byte for byte by construction, however the build
 * is scheduled.
 *
 * The thread is a plain pthread, not an lcore: it calls nothing of DPDK
 * (dplb_state_build_tables allocates with malloc, and the snapshot is freed
 * with free), so it needs no rte_thread_register. It is created by the
 * management lcore, so it inherits that lcore's CPU set (EAL pins the main
 * thread) and never takes a worker's core; on that core it runs at a
 * lower priority (nice + BUILDER_NICE), so the management loop, which
 * sleeps most of the time, gets the core back as soon as it wakes. It
 * blocks every signal: SIGHUP and SIGINT go to the management loop, whose
 * wait they cut short.
 *
 * One thread per build, created and joined: builds come with changes,
 * reloads and health transitions, and a thread costs tens of microseconds.
 * The thread touches nothing but the snapshot it was given, which no one
 * else may touch until dplb_state_builder_poll hands it back: nothing is
 * freed under it, and it needs no lock. Its end is published with a
 * release store and an eventfd write, and pthread_join orders everything
 * it wrote before what the management lcore reads.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "control/state_builder.h"

/* How much less the builder counts than the management loop on their core. */
#define BUILDER_NICE 10

struct dplb_state_builder {
	int fd;	       /* eventfd, written when a build ends */
	bool busy;     /* management lcore only */
	bool finished; /* written by the thread (release), read with acquire */
	pthread_t thread;
	struct dplb_state *state;
	dplb_state_built_fn *done;
	void *arg;
	int rc;
	char error[DPLB_ERROR_MAX];
};

static void *build(void *arg)
{
	struct dplb_state_builder *builder = arg;
	const uint64_t one = 1;

	/* Per thread on Linux; failing to lower it only costs latency. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), BUILDER_NICE);
	builder->rc = dplb_state_build_tables(builder->state, builder->error);
	__atomic_store_n(&builder->finished, true, __ATOMIC_RELEASE);
	/* A full counter (never, at one write per build) still wakes the loop. */
	if (write(builder->fd, &one, sizeof(one)) < 0)
		return NULL;
	return NULL;
}

struct dplb_state_builder *dplb_state_builder_create(void)
{
	struct dplb_state_builder *builder = calloc(1, sizeof(*builder));

	if (builder == NULL)
		return NULL;
	builder->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (builder->fd < 0) {
		free(builder);
		return NULL;
	}
	return builder;
}

int dplb_state_builder_fd(const struct dplb_state_builder *builder)
{
	return builder != NULL ? builder->fd : -1;
}

bool dplb_state_builder_busy(const struct dplb_state_builder *builder)
{
	return builder != NULL && builder->busy;
}

int dplb_state_builder_start(struct dplb_state_builder *builder, struct dplb_state *state,
			     dplb_state_built_fn *done, void *arg)
{
	sigset_t all, before;
	int rc;

	if (builder->busy)
		return -EBUSY;
	builder->state = state;
	builder->done = done;
	builder->arg = arg;
	builder->rc = 0;
	builder->error[0] = '\0';
	builder->finished = false;
	/* The new thread inherits the mask in force when it is created. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &before);
	rc = pthread_create(&builder->thread, NULL, build, builder);
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	if (rc != 0)
		return -rc;
	pthread_setname_np(builder->thread, "dplb-build");
	builder->busy = true;
	return 0;
}

/* Join the finished thread and hand its snapshot over. */
static void hand_over(struct dplb_state_builder *builder)
{
	struct dplb_state *state = builder->state;
	dplb_state_built_fn *done = builder->done;
	void *arg = builder->arg;
	char error[DPLB_ERROR_MAX];
	uint64_t count;
	int rc;

	pthread_join(builder->thread, NULL);
	if (read(builder->fd, &count, sizeof(count)) < 0)
		count = 0; /* nothing to take: already taken, or not yet written */
	rc = builder->rc;
	memcpy(error, builder->error, sizeof(error));
	builder->state = NULL;
	builder->busy = false;
	/* Last: done may start the next build, which reuses the fields. */
	done(arg, state, rc, error);
}

bool dplb_state_builder_poll(struct dplb_state_builder *builder)
{
	if (builder == NULL || !builder->busy ||
	    !__atomic_load_n(&builder->finished, __ATOMIC_ACQUIRE))
		return false;
	hand_over(builder);
	return true;
}

void dplb_state_builder_free(struct dplb_state_builder *builder)
{
	if (builder == NULL)
		return;
	/* done may start another build (a republish after a change): see it
	 * through too. */
	while (builder->busy)
		hand_over(builder);
	close(builder->fd);
	free(builder);
}
