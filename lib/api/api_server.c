/*
 * The HTTP transport of the management endpoint: libmicrohttpd in
 * "external" epoll mode (no thread of its own), request bodies with a size
 * limit, bearer-token authentication of changes, and turning a route's
 * reply into a response. What the paths mean is api_routes.c's.
 *
 * A refused request (404, 405, 401, 413) is answered once its body has been
 * read and thrown away, not before: closing a socket with unread data makes
 * the kernel reset the connection, and the client could lose the answer. A
 * client that asks "Expect: 100-continue" is answered at once instead, and
 * one that keeps sending past DISCARD_LIMIT is cut off.
 *
 * Slow clients: one address holds at most CONNECTIONS_PER_ADDRESS of the
 * CONNECTION_LIMIT connections, so others always find room, and a request
 * must arrive whole (headers and body) within REQUEST_DEADLINE_MS of the
 * connection's opening or of its previous answer: a client that sends a
 * byte now and then is not idle, and the idle timeout alone would let it
 * hold its connection for ever.
 *
 * A change is answered only once its snapshot serves (or is refused): while
 * its tables are built off the management lcore (control.h), its connection
 * is suspended (MHD_suspend_connection) and resumed when the change has
 * ended, so the client gets the real answer while everyone else is served
 * meanwhile. A change that comes while another is in flight is suspended
 * the same way until its turn. Reads are answered at once, from the
 * snapshot that serves.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "api/api_routes.h"
#include "api/api_server.h"
#include "api/utf8.h"
#include "common/log.h"
#include "control/control.h"

#define CONNECTION_LIMIT 64
/* Half of them: whoever else comes finds room. Clients that open one
 * connection per request hold two for a moment (the one they closed is not
 * reaped yet), so 16 in parallel from one host still fit. */
#define CONNECTIONS_PER_ADDRESS 32
/* Idle time that closes a connection, while an answer is sent too. */
#define CONNECTION_TIMEOUT_SECONDS 30
#define REQUEST_DEADLINE_MS 10000
/* Per connection: headers and the read buffer of the body. */
#define CONNECTION_MEMORY (128 * 1024)
/* Of a refused body, read and dropped before answering. */
#define DISCARD_LIMIT (1024 * 1024)
#define TOKEN_MAX 4096

/* One connection, from its accept to its close. */
struct client {
	LIST_ENTRY(client) link;
	struct MHD_Connection *connection;
	uint64_t deadline_ms; /* its request must be whole by then; 0 while answered */
	bool bad_url;	      /* the request's path or a query argument is not text */
};

struct request;

struct dplb_api {
	struct dplb_context *ctx;
	struct MHD_Daemon *daemon;
	int epoll_fd;
	LIST_HEAD(, client) clients;
	TAILQ_HEAD(, request) suspended; /* in the order they were suspended */
	bool token_required;
	char token[TOKEN_MAX + 1];
	size_t token_length;	/* 0 with token_required: every change is refused */
	uint64_t token_reloads; /* ctx->reloads_ok when the token was read */
	struct dplb_rate_memory rates;
	char last_log[256]; /* libmicrohttpd's last message, for start-up errors */
};

/* One request, from its headers to its answer. */
struct request {
	struct api_target target;
	unsigned int refusal; /* an HTTP status decided from the headers, or 0 */
	char refusal_message[160];
	bool challenge;
	char *body;
	size_t length;
	size_t discarded;
	struct api_reply reply;
	/* While held back (suspended): reply.deferred waits for its change to
	 * end, else for the change in flight to end before this one starts. */
	struct MHD_Connection *connection;
	TAILQ_ENTRY(request) link;
};

/* ---- connections ------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct client *client_of(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

/*
 * libmicrohttpd 0.9.75 has no call that closes a connection from outside
 * its callbacks. Shutting the socket down does: its next read sees the end,
 * and it closes and reaps the connection as if the client had gone. The
 * socket stays open (MHD's) until MHD_CONNECTION_NOTIFY_CLOSED.
 */
static void cut_off(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);

	if (info != NULL)
		shutdown(info->connect_fd, SHUT_RDWR);
}

static void track_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
			     enum MHD_ConnectionNotificationCode code)
{
	struct dplb_api *api = cls;
	struct client *client = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (client != NULL) {
			LIST_REMOVE(client, link);
			free(client);
			*socket_context = NULL;
		}
		return;
	}
	client = calloc(1, sizeof(*client));
	if (client == NULL) {
		cut_off(connection); /* a connection without a deadline is not served */
		return;
	}
	client->connection = connection;
	client->deadline_ms = now_ms() + REQUEST_DEADLINE_MS;
	LIST_INSERT_HEAD(&api->clients, client, link);
	*socket_context = client;
}

/* The connections whose request did not arrive whole in time. */
static void close_late_connections(struct dplb_api *api)
{
	const uint64_t now = now_ms();
	struct client *client;

	LIST_FOREACH(client, &api->clients, link)
	{
		const union MHD_ConnectionInfo *info;
		char address[INET_ADDRSTRLEN] = "?";

		if (client->deadline_ms == 0 || now < client->deadline_ms)
			continue;
		client->deadline_ms = 0;
		info = MHD_get_connection_info(client->connection,
					       MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (info != NULL && info->client_addr != NULL &&
		    info->client_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)info->client_addr)->sin_addr,
				  address, sizeof(address));
		DPLB_LOG(WARNING,
			 "http: closing a connection from %s: no whole request within %u s",
			 address, REQUEST_DEADLINE_MS / 1000);
		cut_off(client->connection);
	}
}

/*
 * libmicrohttpd's own decoding of %XX, for the path and each query
 * argument, with a look at the result: a NUL would cut the text short
 * (/vips/web%00 served as /vips/web), and bytes that are not UTF-8 could
 * not be echoed in a JSON error. Either makes the request a 400.
 */
static size_t unescape(void *cls, struct MHD_Connection *connection, char *text)
{
	const size_t length = MHD_http_unescape(text);
	struct client *client = client_of(connection);

	(void)cls;
	if (client != NULL &&
	    (memchr(text, '\0', length) != NULL || dplb_utf8_valid_prefix(text, length) != length))
		client->bad_url = true;
	return length;
}

/* ---- the token --------------------------------------------------------- */

/*
 * Read [management] token_file, at start and after each reload. A token
 * that cannot be read refuses every change rather than allowing them.
 */
static void read_token(struct dplb_api *api)
{
	const struct dplb_config *config = dplb_current_state(api->ctx->publisher)->config;
	size_t length = 0;
	FILE *file;

	api->token_reloads = api->ctx->reloads_ok;
	api->token_required = config->token_file[0] != '\0';
	api->token_length = 0;
	memset(api->token, 0, sizeof(api->token));
	if (!api->token_required)
		return;
	file = fopen(config->token_file, "re");
	if (file != NULL) {
		length = fread(api->token, 1, sizeof(api->token), file);
		fclose(file);
	}
	if (file == NULL || length > TOKEN_MAX) {
		DPLB_LOG(WARNING, "cannot use token file %s (%s): every change is refused",
			 config->token_file, file == NULL ? strerror(errno) : "too long");
		memset(api->token, 0, sizeof(api->token));
		return;
	}
	/* A trailing newline is how editors end files, not part of the token. */
	while (length > 0 && strchr(" \t\r\n", api->token[length - 1]) != NULL)
		api->token[--length] = '\0';
	if (length == 0)
		DPLB_LOG(WARNING, "token file %s is empty: every change is refused",
			 config->token_file);
	api->token_length = length;
}

/* Equal or not, in a time that depends only on the expected token's length. */
static bool token_equal(const char *given, size_t given_length, const char *expected,
			size_t expected_length)
{
	volatile unsigned char differ = given_length != expected_length;

	for (size_t i = 0; i < expected_length; i++)
		differ |= (unsigned char)(expected[i] ^ (i < given_length ? given[i] : 0));
	return differ == 0;
}

/* "Authorization: Bearer TOKEN"; NULL when allowed, else why not. */
static const char *refuse_unauthorized(const struct dplb_api *api,
				       struct MHD_Connection *connection)
{
	const char *header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_AUTHORIZATION);
	size_t length;

	if (!api->token_required)
		return NULL;
	if (header == NULL)
		return "changes need \"Authorization: Bearer TOKEN\"";
	header += strspn(header, " \t");
	if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
		return "changes need \"Authorization: Bearer TOKEN\"";
	header += 6;
	header += strspn(header, " \t");
	length = strlen(header);
	while (length > 0 && (header[length - 1] == ' ' || header[length - 1] == '\t'))
		length--;
	if (api->token_length == 0 || !token_equal(header, length, api->token, api->token_length))
		return "wrong token";
	return NULL;
}

/* ---- answering ------------------------------------------------------------- */

static enum MHD_Result send_reply(struct MHD_Connection *connection, struct api_reply *reply)
{
	/* An answer that could not be made is still an answer. */
	static const char failed[] = "{\"error\": \"out of memory\"}";
	struct client *client = client_of(connection);
	struct MHD_Response *response;
	const char *type = reply->content_type;
	enum MHD_Result queued;
	char *body = reply->text;
	size_t length = reply->text_length;

	if (client != NULL)
		client->deadline_ms = 0; /* the request is whole: answering takes its time */
	if (reply->json != NULL) {
		body = json_dumps(reply->json, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
		length = body ? strlen(body) : 0;
		type = "application/json";
		json_decref(reply->json);
		reply->json = NULL;
	}
	if (body == NULL) {
		reply->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		type = "application/json";
		response = MHD_create_response_from_buffer(sizeof(failed) - 1, (void *)failed,
							   MHD_RESPMEM_PERSISTENT);
	} else {
		response = MHD_create_response_from_buffer(length, body, MHD_RESPMEM_MUST_FREE);
		if (response == NULL)
			free(body);
	}
	if (response == NULL)
		return MHD_NO;
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (reply->allow[0] != '\0')
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, reply->allow);
	if (reply->location[0] != '\0')
		MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, reply->location);
	if (reply->challenge)
		MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"dplb\"");
	queued = MHD_queue_response(connection, reply->status, response);
	MHD_destroy_response(response);
	return queued;
}

static enum MHD_Result send_refusal(struct MHD_Connection *connection,
				    const struct request *request)
{
	struct api_reply reply = { 0 };

	dplb_api_error(&reply, request->refusal, "%s", request->refusal_message);
	if (request->refusal == MHD_HTTP_METHOD_NOT_ALLOWED)
		snprintf(reply.allow, sizeof(reply.allow), "%s", request->target.allow);
	reply.challenge = request->challenge;
	return send_reply(connection, &reply);
}

static void __attribute__((format(printf, 3, 4)))
refuse(struct request *request, unsigned int status, const char *fmt, ...)
{
	va_list ap;

	if (request->refusal != 0)
		return; /* the first reason stands */
	request->refusal = status;
	va_start(ap, fmt);
	vsnprintf(request->refusal_message, sizeof(request->refusal_message), fmt, ap);
	va_end(ap);
}

/* What can be judged from the request line and headers alone. */
static void judge_headers(struct dplb_api *api, struct MHD_Connection *connection, const char *url,
			  const char *method, struct request *request)
{
	const char *declared = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
							   MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *why;

	dplb_api_match(url, method, &request->target);
	if (request->target.route == NULL) {
		if (request->target.status == MHD_HTTP_METHOD_NOT_ALLOWED)
			refuse(request, MHD_HTTP_METHOD_NOT_ALLOWED, "%s is not allowed on %.96s",
			       method, url);
		else
			refuse(request, MHD_HTTP_NOT_FOUND, "no resource %.128s", url);
		return;
	}
	if (request->target.changes_state) {
		why = refuse_unauthorized(api, connection);
		if (why != NULL) {
			refuse(request, MHD_HTTP_UNAUTHORIZED, "%s", why);
			request->challenge = true;
			return;
		}
	}
	if (declared != NULL && strtoull(declared, NULL, 10) > DPLB_API_BODY_LIMIT)
		refuse(request, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %u bytes",
		       DPLB_API_BODY_LIMIT);
}

static bool answer_refusal_now(struct MHD_Connection *connection)
{
	const char *expect =
		MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
	const char *declared = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
							   MHD_HTTP_HEADER_CONTENT_LENGTH);

	/* The client waits for our word before sending, or would send more
	 * than is worth reading. */
	return (expect != NULL && strcasecmp(expect, "100-continue") == 0) ||
	       (declared != NULL && strtoull(declared, NULL, 10) > DISCARD_LIMIT);
}

/* Keep up to the limit; past it the request is refused and the rest dropped. */
static bool take_body(struct request *request, const char *data, size_t size)
{
	char *grown;

	if (request->refusal != 0) {
		request->discarded += size;
		return request->discarded <= DISCARD_LIMIT;
	}
	if (request->length + size > DPLB_API_BODY_LIMIT) {
		refuse(request, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %u bytes",
		       DPLB_API_BODY_LIMIT);
		free(request->body);
		request->body = NULL;
		request->discarded = request->length + size;
		return true;
	}
	grown = realloc(request->body, request->length + size + 1);
	if (grown == NULL) {
		refuse(request, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		return true;
	}
	memcpy(grown + request->length, data, size);
	request->length += size;
	grown[request->length] = '\0';
	request->body = grown;
	return true;
}

static void suspend(struct dplb_api *api, struct MHD_Connection *connection,
		    struct request *request)
{
	struct client *client = client_of(connection);

	if (client != NULL)
		client->deadline_ms = 0; /* the request is whole: waiting is ours */
	request->connection = connection;
	TAILQ_INSERT_TAIL(&api->suspended, request, link);
	MHD_suspend_connection(connection);
}

/* The held-back requests that may go on: resumed, their handler is called
 * again (handle_request), in the order they came. */
static void resume_ready(struct dplb_api *api, bool all)
{
	struct request *request, *next;

	for (request = TAILQ_FIRST(&api->suspended); request != NULL; request = next) {
		next = TAILQ_NEXT(request, link);
		if (!all && (request->reply.deferred ? request->reply.control.in_progress
						     : dplb_control_busy(api->ctx)))
			continue;
		TAILQ_REMOVE(&api->suspended, request, link);
		MHD_resume_connection(request->connection);
	}
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *connection, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **request_context)
{
	struct dplb_api *api = cls;
	struct request *request = *request_context;

	(void)version;
	if (request == NULL) {
		/* First call: headers only. */
		struct client *client = client_of(connection);

		request = calloc(1, sizeof(*request));
		if (request == NULL)
			return MHD_NO;
		*request_context = request;
		if (client != NULL && client->bad_url) {
			client->bad_url = false;
			refuse(request, MHD_HTTP_BAD_REQUEST,
			       "the path or a query argument is not UTF-8 text, or holds a NUL "
			       "(%%00)");
		}
		judge_headers(api, connection, url, method, request);
		if (request->refusal != 0 && answer_refusal_now(connection))
			return send_refusal(connection, request);
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		const bool go_on = take_body(request, upload_data, *upload_data_size);

		*upload_data_size = 0;
		return go_on ? MHD_YES : MHD_NO;
	}
	if (request->refusal != 0)
		return send_refusal(connection, request);
	if (request->reply.deferred) {
		/* Resumed: its change has ended. */
		dplb_api_finish(&request->reply);
		return send_reply(connection, &request->reply);
	}
	if (request->target.changes_state && dplb_control_busy(api->ctx)) {
		/* Another change is in flight: this one waits its turn. */
		suspend(api, connection, request);
		return MHD_YES;
	}

	const struct api_call call = {
		.ctx = api->ctx,
		.rates = &api->rates,
		.connection = connection,
		.target = &request->target,
		.body = request->body,
		.body_length = request->length,
	};
	dplb_api_handle(&call, &request->reply);
	if (request->reply.deferred) {
		/* Answered when its snapshot serves, or is refused. */
		suspend(api, connection, request);
		return MHD_YES;
	}
	return send_reply(connection, &request->reply);
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **request_context,
			      enum MHD_RequestTerminationCode code)
{
	struct request *request = *request_context;
	struct client *client = client_of(connection);

	(void)cls;
	(void)code;
	/* The next request on this connection has as long as the first. */
	if (client != NULL)
		client->deadline_ms = now_ms() + REQUEST_DEADLINE_MS;
	if (request != NULL) {
		dplb_control_result_free(&request->reply.control);
		free(request->body);
		free(request);
		*request_context = NULL;
	}
}

static void log_message(void *cls, const char *fmt, va_list ap)
{
	struct dplb_api *api = cls;

	vsnprintf(api->last_log, sizeof(api->last_log), fmt, ap);
	/* Kept for start-up errors; later ones are worth a line too (without
	 * libmicrohttpd's newline: the log adds one). */
	if (api->daemon != NULL)
		DPLB_LOG(WARNING, "http: %.*s", (int)strcspn(api->last_log, "\n"), api->last_log);
}

/* ---- life cycle ------------------------------------------------------------ */

struct dplb_api *dplb_api_start(struct dplb_context *ctx, char *error)
{
	const struct dplb_config *config = dplb_current_state(ctx->publisher)->config;
	struct sockaddr_in address = { .sin_family = AF_INET };
	const union MHD_DaemonInfo *info;
	struct dplb_api *api = calloc(1, sizeof(*api));

	if (api == NULL) {
		snprintf(error, DPLB_ERROR_MAX, "out of memory");
		return NULL;
	}
	api->ctx = ctx;
	LIST_INIT(&api->clients);
	TAILQ_INIT(&api->suspended);
	dplb_rate_memory_init(&api->rates);
	address.sin_port = htons(config->listen_port);
	if (inet_pton(AF_INET, config->listen_address, &address.sin_addr) != 1) {
		snprintf(error, DPLB_ERROR_MAX, "bad listen address %s", config->listen_address);
		free(api);
		return NULL;
	}
	api->daemon = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, config->listen_port,
		NULL, NULL, handle_request, api, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)CONNECTIONS_PER_ADDRESS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_SECONDS,
		MHD_OPTION_NOTIFY_CONNECTION, track_connection, api, MHD_OPTION_UNESCAPE_CALLBACK,
		unescape, api, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, api, MHD_OPTION_EXTERNAL_LOGGER,
		log_message, api, MHD_OPTION_END);
	if (api->daemon == NULL) {
		snprintf(error, DPLB_ERROR_MAX, "cannot listen on %.40s:%u: %.200s",
			 config->listen_address, config->listen_port,
			 api->last_log[0] ? api->last_log : "unknown error");
		/* libmicrohttpd's messages end with a newline; ours do not. */
		error[strcspn(error, "\n")] = '\0';
		free(api);
		return NULL;
	}
	info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	api->epoll_fd = info != NULL ? info->epoll_fd : -1;
	read_token(api);
	ctx->api_exposed = !dplb_config_listen_is_loopback(config);
	if (!api->token_required && ctx->api_exposed && !config->allow_unauthenticated)
		DPLB_LOG(WARNING,
			 "warning: %s:%u accepts changes from anyone who can reach it: "
			 "set [management] token_file (or allow_unauthenticated = yes)",
			 config->listen_address, config->listen_port);
	else if (!api->token_required && ctx->api_exposed)
		DPLB_LOG(NOTICE,
			 "%s:%u accepts changes from anyone who can reach it "
			 "(allow_unauthenticated = yes)",
			 config->listen_address, config->listen_port);
	return api;
}

void dplb_api_poll(struct dplb_api *api)
{
	if (api == NULL)
		return;
	if (api->token_reloads != api->ctx->reloads_ok)
		read_token(api);
	close_late_connections(api);
	resume_ready(api, false);
	MHD_run(api->daemon);
}

void dplb_api_wait(struct dplb_api *api, const int *other_fds, unsigned int count,
		   unsigned int max_ms)
{
	MHD_UNSIGNED_LONG_LONG mhd_ms;
	int timeout = (int)max_ms;
	/* Each an epoll set or an eventfd, readable when any of its sockets is
	 * ready; poll() leaves their events for their owners to take. A
	 * negative fd is ignored by poll(). */
	struct pollfd ready[1 + DPLB_API_WAIT_MAX_FDS] = {
		{ .fd = api != NULL ? api->epoll_fd : -1, .events = POLLIN },
	};

	count = count < DPLB_API_WAIT_MAX_FDS ? count : DPLB_API_WAIT_MAX_FDS;
	for (unsigned int i = 0; i < count; i++)
		ready[1 + i] = (struct pollfd){ .fd = other_fds[i], .events = POLLIN };
	/* libmicrohttpd's own deadlines (timeouts, data it already holds). */
	if (api != NULL && api->epoll_fd >= 0 && MHD_get_timeout(api->daemon, &mhd_ms) == MHD_YES &&
	    mhd_ms < (MHD_UNSIGNED_LONG_LONG)timeout)
		timeout = (int)mhd_ms;
	poll(ready, 1 + count, timeout);
}

void dplb_api_stop(struct dplb_api *api)
{
	if (api == NULL)
		return;
	/* libmicrohttpd will not stop with connections suspended; their
	 * changes have ended (the builder was waited for), or never began. */
	resume_ready(api, true);
	MHD_stop_daemon(api->daemon);
	free(api);
}
