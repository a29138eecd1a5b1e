/*
 * dplb's log type (see log.h) and the sink every rte_log message goes to.
 *
 * Why a sink of our own: the management lcore logs, and a write(2) that
 * blocks because the reader fell behind (a full pipe, a stalled terminal,
 * a busy journald) would stop the HTTP API, ARP and reloads with it. So no
 * write here ever waits: what does not fit now is dropped and counted
 * (log_dropped in /stats, /metrics and the exit summary). A lost line is
 * better than a frozen load balancer, and the counter says it was lost.
 *
 * Why this way, the simplest that holds: rte_openlog_stream takes a FILE *
 * and fopencookie makes one whose write function is ours, so DPDK's own
 * messages go the same way with no thread, no queue and no second log API.
 * stdout and stderr each become a sink, by what they are:
 *  - a socket (journald's stream, when systemd runs dplb): sendmsg with
 *    MSG_DONTWAIT, which is non-blocking per call. When it is the journal
 *    (JOURNAL_STREAM), lines start with "<priority>" so that journalctl
 *    knows errors from notices. Not syslog(3): its socket may block too.
 *  - a pipe, FIFO or terminal: reopened through /proc/self/fd with
 *    O_NONBLOCK. The new open file description is ours alone; setting
 *    O_NONBLOCK on fd 1 or 2 itself would change it for every process
 *    sharing the pipe, and for the exit summary printed with stdio.
 *  - anything else (a regular file, which never waits on a reader; a pipe
 *    that cannot be reopened): written only when poll says it takes more.
 * Warnings and errors go to stderr, the rest to stdout, as the shell
 * expects and as dplb printed them before.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"

RTE_LOG_REGISTER(dplb_logtype, dplb, INFO);

enum sink_kind { SINK_SOCKET, SINK_NONBLOCKING, SINK_POLLED };

struct sink {
	int fd; /* our own duplicate or reopening of fd 1 or 2 */
	enum sink_kind kind;
	bool journal; /* journald's stream: a line may start with <priority> */
};

static struct sink sinks[2] = { { .fd = -1 }, { .fd = -1 } }; /* stdout, stderr */
static FILE *stream;
static uint64_t dropped_lines, dropped_bytes;

/* systemd names the journal stream it gave us as "DEVICE:INODE". */
static bool is_journal(const struct stat *st)
{
	const char *value = getenv("JOURNAL_STREAM");
	unsigned long long device, inode;

	return value != NULL && sscanf(value, "%llu:%llu", &device, &inode) == 2 &&
	       st->st_dev == device && st->st_ino == inode;
}

static int sink_open(struct sink *sink, int fd)
{
	struct stat st;
	char path[32];

	if (fstat(fd, &st) != 0)
		return -errno;
	sink->journal = is_journal(&st);
	sink->fd = -1;
	if (S_ISSOCK(st.st_mode)) {
		sink->kind = SINK_SOCKET;
	} else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		sink->fd = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		sink->kind = sink->fd >= 0 ? SINK_NONBLOCKING : SINK_POLLED;
	} else {
		sink->kind = SINK_POLLED;
	}
	if (sink->fd < 0)
		sink->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return sink->fd < 0 ? -errno : 0;
}

static ssize_t sink_write(const struct sink *sink, struct iovec *iov, int count)
{
	struct pollfd ready = { .fd = sink->fd, .events = POLLOUT };

	switch (sink->kind) {
	case SINK_SOCKET: {
		const struct msghdr message = { .msg_iov = iov, .msg_iovlen = (size_t)count };

		return sendmsg(sink->fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	case SINK_POLLED:
		/* A pipe with room for one more page takes a line whole. */
		if (poll(&ready, 1, 0) != 1 || (ready.revents & POLLOUT) == 0) {
			errno = EAGAIN;
			return -1;
		}
		break;
	case SINK_NONBLOCKING:
		break;
	}
	return writev(sink->fd, iov, count);
}

static void count_dropped(const char *buf, size_t size, size_t written)
{
	uint64_t lines = 0;

	for (size_t i = written; i < size; i++)
		lines += buf[i] == '\n';
	__atomic_fetch_add(&dropped_lines, lines > 0 ? lines : 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&dropped_bytes, size - written, __ATOMIC_RELAXED);
}

/* fopencookie's write: one call per message (rte_log flushes after each).
 * Always reports everything written, so stdio never retries. */
static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	const int level = rte_log_cur_msg_loglevel();
	const struct sink *sink =
		&sinks[level >= (int)RTE_LOG_EMERG && level <= (int)RTE_LOG_WARNING];
	char priority[8];
	struct iovec iov[2];
	size_t prefix = 0;
	int count = 0;
	ssize_t written;

	(void)cookie;
	if (sink->journal) {
		/* rte_log levels are syslog's plus one. */
		prefix = (size_t)snprintf(priority, sizeof(priority), "<%d>",
					  level >= 1 && level <= 8 ? level - 1 : 6);
		iov[count++] = (struct iovec){ .iov_base = priority, .iov_len = prefix };
	}
	iov[count++] = (struct iovec){ .iov_base = (void *)(uintptr_t)buf, .iov_len = size };
	written = sink_write(sink, iov, count);
	written = written > (ssize_t)prefix ? written - (ssize_t)prefix : 0;
	if ((size_t)written < size)
		count_dropped(buf, size, (size_t)written);
	return (ssize_t)size;
}

static void sinks_close(void)
{
	for (size_t i = 0; i < RTE_DIM(sinks); i++) {
		if (sinks[i].fd >= 0)
			close(sinks[i].fd);
		sinks[i].fd = -1;
	}
}

int dplb_log_open(void)
{
	static const cookie_io_functions_t functions = { .write = stream_write };
	int rc;

	if (stream != NULL)
		return 0;
	rc = sink_open(&sinks[0], STDOUT_FILENO);
	if (rc == 0)
		rc = sink_open(&sinks[1], STDERR_FILENO);
	if (rc == 0) {
		stream = fopencookie(NULL, "w", functions);
		rc = stream == NULL ? -ENOMEM : 0;
	}
	if (rc == 0)
		rc = rte_openlog_stream(stream);
	if (rc != 0) {
		if (stream != NULL)
			fclose(stream);
		stream = NULL;
		sinks_close();
	}
	return rc;
}

void dplb_log_close(void)
{
	if (stream == NULL)
		return;
	rte_openlog_stream(NULL);
	fclose(stream);
	stream = NULL;
	sinks_close();
}

struct dplb_log_drops dplb_log_dropped(void)
{
	return (struct dplb_log_drops){
		.log_dropped = __atomic_load_n(&dropped_lines, __ATOMIC_RELAXED),
		.log_dropped_bytes = __atomic_load_n(&dropped_bytes, __ATOMIC_RELAXED),
	};
}
