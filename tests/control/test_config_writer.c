/*
 * Unit tests for writing API changes into the INI file (lib/control/
 * config_writer.c): the line edits, byte for byte (add, remove, update,
 * comments and blank lines, CRLF, options, a last line without a newline),
 * the one-line serializer read back by the loader for every backend of
 * every fixture, and the file itself: atomic replacement, a file edited
 * behind dplb's back, a file that cannot be written.
 *
 * Each change is made as the control API makes it: clone the configuration,
 * change the clone, diff; the edited text must then load as the clone.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/config.h"
#include "control/config_diff.h"
#include "control/config_writer.h"

/* Comments, blank lines, a trailing comment, options, and no final newline
 * on purpose: the edits must keep each. */
static const char *const BASE = "; the operator's notes\n"
				"[dataplane]\n"
				"address = 10.0.0.1   ; ours\n"
				"\n"
				"[vip:web]\n"
				"address = 10.0.0.100\n"
				"port = 80\n"
				"maglev_size = 251\n"
				"# rack 1\n"
				"backend = 10.0.1.1\n"
				"backend = 10.0.1.2 weight=2 health_port=8080   ; the big one\n"
				"\n"
				"; end of web\n"
				"[vip:dns]\n"
				"address = 10.0.0.101\n"
				"port = 53\n"
				"protocol = udp\n"
				"  backend=10.0.2.1 state=drain";

static struct dplb_config *load(const char *text)
{
	struct dplb_config_errors errs;
	struct dplb_config *config = NULL;
	int rc = dplb_config_load_text("test.ini", text, strlen(text), &config, &errs);

	cr_assert_eq(rc, 0, "refused: %s", errs.count ? errs.messages[0] : "?");
	return config;
}

static struct dplb_vip_config *vip_of(struct dplb_config *config, const char *name)
{
	struct dplb_vip_config *vip = (struct dplb_vip_config *)dplb_config_find_vip(config, name);

	cr_assert_not_null(vip, "no vip %s", name);
	return vip;
}

/* A backend of either family at address, as the API makes one. */
static struct dplb_backend_config backend_at(const char *address)
{
	struct dplb_backend_config b = { .weight = 1, .state = DPLB_BACKEND_UP };

	cr_assert_null(dplb_parse_ip(address, strlen(address), &b.family, &b.address, b.address6),
		       "bad test address %s", address);
	return b;
}

static struct dplb_backend_config *backend_of(struct dplb_config *config, const char *vip_name,
					      const char *address)
{
	struct dplb_vip_config *vip = vip_of(config, vip_name);
	const struct dplb_backend_config wanted = backend_at(address);

	for (uint32_t i = 0; i < vip->backend_count; i++)
		if (dplb_backend_address_compare(&vip->backends[i], &wanted) == 0)
			return &vip->backends[i];
	cr_assert_fail("no backend %s in %s", address, vip_name);
	return NULL;
}

/* As dplb_control_add_backend does it. */
static void add_backend(struct dplb_config *config, const char *vip_name, const char *address,
			uint32_t weight)
{
	struct dplb_vip_config *vip = vip_of(config, vip_name);

	vip->backends = realloc(vip->backends, (vip->backend_count + 1) * sizeof(*vip->backends));
	cr_assert_not_null(vip->backends);
	vip->backends[vip->backend_count] = backend_at(address);
	vip->backends[vip->backend_count++].weight = weight;
	dplb_config_resolve_health(vip);
}

static void remove_backend(struct dplb_config *config, const char *vip_name, const char *address)
{
	struct dplb_vip_config *vip = vip_of(config, vip_name);
	struct dplb_backend_config *b = backend_of(config, vip_name, address);

	memmove(b, b + 1, (size_t)(vip->backends + vip->backend_count - (b + 1)) * sizeof(*b));
	vip->backend_count--;
}

/* The configurations before and after the change a test makes on after. */
struct change {
	const char *text;
	struct dplb_config *before, *after;
};

static struct change begin(const char *text)
{
	struct change c = { .text = text, .before = load(text) };

	c.after = dplb_config_clone(c.before);
	cr_assert_not_null(c.after);
	return c;
}

static void free_change(struct change *c)
{
	dplb_config_free(c->before);
	dplb_config_free(c->after);
}

/* The same VIPs with the same backends, in the same order, on the same
 * lines as the loader finds them in the edited text. */
static void expect_same_lines(const struct dplb_config *a, const struct dplb_config *b)
{
	cr_assert_eq(a->vip_count, b->vip_count);
	for (uint32_t i = 0; i < a->vip_count; i++) {
		cr_assert_eq(a->vips[i].line, b->vips[i].line, "vip %s", a->vips[i].name);
		cr_assert_eq(a->vips[i].backend_count, b->vips[i].backend_count);
		for (uint32_t j = 0; j < a->vips[i].backend_count; j++) {
			const struct dplb_backend_config *x = &a->vips[i].backends[j];
			const struct dplb_backend_config *y = &b->vips[i].backends[j];

			cr_assert_eq(dplb_backend_address_compare(x, y), 0);
			cr_assert_eq(x->line, y->line);
		}
	}
}

/* The edited text, checked to load as the changed configuration. */
static char *edit(struct change *c)
{
	struct dplb_change_list changes = { 0 }, left = { 0 };
	char error[DPLB_ERROR_MAX], *out = NULL;
	struct dplb_config *loaded;
	size_t len = 0;

	cr_assert_eq(dplb_config_diff(c->before, c->after, &changes), 0);
	cr_assert_gt(changes.count, 0, "the test changed nothing");
	cr_assert_eq(dplb_config_text_edit(c->text, strlen(c->text), c->before, c->after, &changes,
					   &out, &len, error),
		     0, "%s", error);
	cr_assert_eq(strlen(out), len);
	loaded = load(out);
	cr_assert_eq(dplb_config_diff(c->after, loaded, &left), 0);
	cr_assert_eq(left.count, 0, "the edited text loads with %u differences", left.count);
	dplb_config_free(loaded);
	dplb_change_list_free(&left);
	dplb_change_list_free(&changes);
	return out;
}

/* expected (taken over) is the edited text, byte for byte. */
static void expect_edit(struct change *c, char *expected)
{
	char *out = edit(c);

	cr_assert_str_eq(out, expected);
	free(out);
	free(expected);
	free_change(c);
}

/* text with old, which it holds once, replaced by new: every other byte
 * as it was. */
static char *swap(const char *text, const char *old, const char *new)
{
	const char *at = strstr(text, old);
	char *out;

	cr_assert_not_null(at, "no \"%s\" in the text", old);
	cr_assert_null(strstr(at + 1, old), "\"%s\" is in the text twice", old);
	cr_assert_geq(asprintf(&out, "%.*s%s%s", (int)(at - text), text, new, at + strlen(old)), 0);
	return out;
}

/* Several swaps, one after the other. */
static char *swap2(const char *text, const char *old1, const char *new1, const char *old2,
		   const char *new2)
{
	char *once = swap(text, old1, new1), *twice = swap(once, old2, new2);

	free(once);
	return twice;
}

/* ---- line edits --------------------------------------------------------- */

Test(config_writer, add_goes_after_the_vips_last_backend_line)
{
	struct change c = begin(BASE);

	add_backend(c.after, "web", "10.0.1.9", 3);
	expect_edit(&c,
		    swap(BASE, "; the big one\n", "; the big one\nbackend = 10.0.1.9 weight=3\n"));
}

Test(config_writer, add_after_a_last_line_without_newline_writes_it_as_that_one_is)
{
	struct change c = begin(BASE);

	add_backend(c.after, "dns", "10.0.2.2", 1);
	vip_of(c.after, "dns")->backends[1].state = DPLB_BACKEND_DOWN;
	vip_of(c.after, "dns")->backends[1].has_mac = true;
	memcpy(vip_of(c.after, "dns")->backends[1].mac, "\x02\x00\x00\x00\x02\x02", 6);
	/* Indented, "backend=" as the line above; still no final newline. */
	expect_edit(&c, swap(BASE, "state=drain",
			     "state=drain\n"
			     "  backend=10.0.2.2 state=down mac=02:00:00:00:02:02"));
}

Test(config_writer, remove_drops_exactly_the_backends_line)
{
	struct change c = begin(BASE);

	remove_backend(c.after, "web", "10.0.1.2");
	expect_edit(&c, swap(BASE, "backend = 10.0.1.2 weight=2 health_port=8080   ; the big one\n",
			     ""));
}

Test(config_writer, removing_the_last_line_keeps_the_file_without_final_newline)
{
	const char *text = "[dataplane]\naddress = 10.0.0.1\n[vip:a]\naddress = 10.0.0.100\n"
			   "backend = 10.0.1.1\nbackend = 10.0.1.2";
	struct change c = begin(text);

	remove_backend(c.after, "a", "10.0.1.2");
	expect_edit(&c, swap(text, "backend = 10.0.1.1\nbackend = 10.0.1.2", "backend = 10.0.1.1"));
}

/* An IPv6 VIP with backends of both families, and an IPv4 VIP with an
 * IPv6 backend written in a form of its own. */
static const char *const DUAL = "[dataplane]\n"
				"address = 10.0.0.1\n"
				"address6 = 2001:db8::1\n"
				"[vip:six]\n"
				"address = 2001:db8:ff::1\n"
				"backend = 2001:db8::21\n"
				"backend = 10.0.1.1 weight=2\n"
				"[vip:four]\n"
				"address = 10.0.0.100\n"
				"backend = 2001:DB8:0:0::22 weight=3   ; long form\n"
				"backend = 10.0.1.2\n";

Test(config_writer, ipv6_backends_added_updated_and_removed)
{
	struct change c = begin(DUAL);

	add_backend(c.after, "six", "2001:db8::23", 4);
	add_backend(c.after, "four", "2001:db8::24", 1);
	expect_edit(&c,
		    swap2(DUAL, "backend = 10.0.1.1 weight=2\n",
			  "backend = 10.0.1.1 weight=2\nbackend = 2001:db8::23 weight=4\n",
			  "backend = 10.0.1.2\n", "backend = 10.0.1.2\nbackend = 2001:db8::24\n"));

	c = begin(DUAL);
	backend_of(c.after, "four", "2001:db8::22")->weight = 5;
	backend_of(c.after, "six", "2001:db8::21")->state = DPLB_BACKEND_DRAIN;
	expect_edit(&c, swap2(DUAL, "2001:DB8:0:0::22 weight=3", "2001:DB8:0:0::22 weight=5",
			      "backend = 2001:db8::21\n", "backend = 2001:db8::21 state=drain\n"));

	c = begin(DUAL);
	remove_backend(c.after, "four", "2001:db8::22");
	remove_backend(c.after, "six", "10.0.1.1");
	expect_edit(&c, swap2(DUAL, "backend = 2001:DB8:0:0::22 weight=3   ; long form\n", "",
			      "backend = 10.0.1.1 weight=2\n", ""));
}

Test(config_writer, update_rewrites_only_the_options_that_changed)
{
	struct change c = begin(BASE);

	/* weight= is rewritten where it is, state= added at the end of the
	 * value; health_port=, the spacing and the comment stay. */
	backend_of(c.after, "web", "10.0.1.2")->weight = 7;
	backend_of(c.after, "web", "10.0.1.2")->state = DPLB_BACKEND_DRAIN;
	expect_edit(&c, swap(BASE, "weight=2 health_port=8080   ;",
			     "weight=7 health_port=8080 state=drain   ;"));
}

Test(config_writer, update_sets_and_clears_a_mac)
{
	const char *text = "[dataplane]\naddress = 10.0.0.1\n[vip:a]\naddress = 10.0.0.100\n"
			   "backend = 10.0.1.1 mac=02:00:00:00:01:01 weight=2\n"
			   "backend = 10.0.1.2\n";
	struct change c = begin(text);
	struct dplb_backend_config *first = backend_of(c.after, "a", "10.0.1.1");
	struct dplb_backend_config *second = backend_of(c.after, "a", "10.0.1.2");

	first->has_mac = false;
	memset(first->mac, 0, sizeof(first->mac));
	second->has_mac = true;
	memcpy(second->mac, "\x02\xab\x00\x00\x01\x02", 6);
	second->state = DPLB_BACKEND_UP; /* unchanged: not written */
	expect_edit(&c, swap2(text, " mac=02:00:00:00:01:01", "", "10.0.1.2\n",
			      "10.0.1.2 mac=02:ab:00:00:01:02\n"));
}

Test(config_writer, update_of_the_last_line_without_newline)
{
	struct change c = begin(BASE);

	backend_of(c.after, "dns", "10.0.2.1")->state = DPLB_BACKEND_UP;
	backend_of(c.after, "dns", "10.0.2.1")->weight = 4;
	expect_edit(&c, swap(BASE, "state=drain", "state=up weight=4"));
}

Test(config_writer, crlf_files_stay_crlf)
{
	const char *text = "\xEF\xBB\xBF[dataplane]\r\naddress = 10.0.0.1\r\n\r\n; web\r\n"
			   "[vip:web]\r\naddress = 10.0.0.100\r\nbackend = 10.0.1.1\r\n"
			   "backend = 10.0.1.2 weight=2\r\n\r\n[vip:b]\r\naddress = 10.0.0.101\r\n"
			   "backend = 10.0.2.1";
	struct change added = begin(text), removed = begin(text), updated = begin(text);

	add_backend(added.after, "web", "10.0.1.3", 1);
	expect_edit(&added, swap(text, "weight=2\r\n", "weight=2\r\nbackend = 10.0.1.3\r\n"));
	/* The new line ends as the file's lines do, the file still without. */
	remove_backend(removed.after, "web", "10.0.1.1");
	add_backend(removed.after, "b", "10.0.2.2", 5);
	expect_edit(&removed, swap2(text, "backend = 10.0.1.1\r\n", "", "backend = 10.0.2.1",
				    "backend = 10.0.2.1\r\nbackend = 10.0.2.2 weight=5"));
	backend_of(updated.after, "web", "10.0.1.2")->weight = 9;
	expect_edit(&updated, swap(text, "weight=2", "weight=9"));
}

Test(config_writer, several_changes_at_once_keep_the_order)
{
	struct change c = begin(BASE);

	remove_backend(c.after, "web", "10.0.1.1");
	add_backend(c.after, "web", "10.0.1.8", 1);
	add_backend(c.after, "web", "10.0.1.9", 1);
	backend_of(c.after, "web", "10.0.1.2")->weight = 1;
	expect_edit(&c, swap(BASE,
			     "backend = 10.0.1.1\n"
			     "backend = 10.0.1.2 weight=2 health_port=8080   ; the big one\n",
			     "backend = 10.0.1.2 weight=1 health_port=8080   ; the big one\n"
			     "backend = 10.0.1.8\nbackend = 10.0.1.9\n"));
}

Test(config_writer, refuses_what_it_cannot_write)
{
	struct dplb_change_list changes = { 0 };
	struct change c = begin(BASE);
	char error[DPLB_ERROR_MAX], *out = NULL;
	size_t len;

	/* Not a backend's change. */
	c.after->vips[0].port = 81;
	cr_assert_eq(dplb_config_diff(c.before, c.after, &changes), 0);
	cr_assert_eq(dplb_config_text_edit(BASE, strlen(BASE), c.before, c.after, &changes, &out,
					   &len, error),
		     -ENOTSUP);
	cr_assert_not_null(strstr(error, "not vip_modified"), "%s", error);
	dplb_change_list_free(&changes);
	c.after->vips[0].port = 80;

	/* A text whose lines are not where the configuration says. */
	backend_of(c.after, "web", "10.0.1.1")->weight = 2;
	cr_assert_eq(dplb_config_diff(c.before, c.after, &changes), 0);
	cr_assert_eq(dplb_config_text_edit(BASE + 23, strlen(BASE + 23), c.before, c.after,
					   &changes, &out, &len, error),
		     -ENOENT);
	cr_assert_not_null(strstr(error, "test.ini:10 is not the line of backend 10.0.1.1 of "
					 "vip web"),
			   "%s", error);
	cr_assert_null(out);
	dplb_change_list_free(&changes);
	free_change(&c);
}

/* ---- one backend line, read back ---------------------------------------- */

static void expect_reads_back(const struct dplb_vip_config *vip,
			      const struct dplb_backend_config *b)
{
	struct dplb_backend_config parsed;
	struct dplb_vip_config one = *vip;
	char text[1024], error[DPLB_ERROR_MAX];
	int n = dplb_config_format_backend(b, text, sizeof(text));

	cr_assert(n > 0 && (size_t)n < sizeof(text), "format gave %d", n);
	cr_assert_eq(strlen(text), (size_t)n);
	cr_assert_eq(dplb_config_parse_backend(text, &parsed, error), 0, "\"%s\": %s", text, error);
	one.backends = &parsed;
	one.backend_count = 1;
	dplb_config_resolve_health(&one);
	cr_assert_eq(parsed.address, b->address, "%s", text);
	cr_assert_eq(parsed.family, b->family, "%s", text);
	cr_assert_arr_eq(parsed.address6, b->address6, 16, "%s", text);
	cr_assert_eq(parsed.weight, b->weight, "%s", text);
	cr_assert_eq(parsed.state, b->state, "%s", text);
	cr_assert_eq(parsed.has_mac, b->has_mac, "%s", text);
	cr_assert_arr_eq(parsed.mac, b->mac, sizeof(b->mac), "%s", text);
	cr_assert_eq(parsed.health_overrides, b->health_overrides, "%s", text);
	cr_assert_arr_eq(&parsed.health, &b->health, sizeof(b->health), "%s", text);
}

static uint32_t expect_all_read_back(const struct dplb_config *config)
{
	uint32_t count = 0;

	for (uint32_t i = 0; i < config->vip_count; i++)
		for (uint32_t j = 0; j < config->vips[i].backend_count; j++, count++)
			expect_reads_back(&config->vips[i], &config->vips[i].backends[j]);
	return count;
}

Test(config_writer, every_backend_of_every_fixture_reads_back_as_itself)
{
	struct dplb_config_errors errs;
	struct dplb_config *config;
	uint32_t files = 0, backends = 0;
	struct dirent *entry;
	char path[512];
	DIR *dir = opendir("configs");

	cr_assert_not_null(dir);
	while ((entry = readdir(dir)) != NULL) {
		const size_t len = strlen(entry->d_name);

		if (len < 5 || strcmp(entry->d_name + len - 4, ".ini") != 0)
			continue;
		snprintf(path, sizeof(path), "configs/%s", entry->d_name);
		if (dplb_config_load(path, &config, &errs) != 0)
			continue;
		backends += expect_all_read_back(config);
		files++;
		dplb_config_free(config);
	}
	closedir(dir);
	cr_assert_eq(dplb_config_load("../../conf/example.ini", &config, &errs), 0, "%s",
		     errs.messages[0]);
	backends += expect_all_read_back(config);
	dplb_config_free(config);
	cr_assert_geq(files, 5, "only %u fixtures load", files);
	cr_assert_geq(backends, 20);
}

Test(config_writer, every_backend_option_reads_back)
{
	struct dplb_config *config =
		load("[dataplane]\naddress = 10.0.0.1\n[vip:a]\naddress = 10.0.0.100\nport = 53\n"
		     "protocol = udp\nhealth_check = tcp\n"
		     "backend = 10.0.1.1 weight=65535 state=down mac=02:00:00:00:00:aa\n"
		     "backend = 10.0.1.2 health_check=udp health_payload=ping health_port=5353 "
		     "health_interval_ms=500 health_timeout_ms=200 health_rise=4 health_fall=5\n"
		     "backend = 10.0.1.3 health_check=http:/status#ok;x health_expect_status=204 "
		     "slow_start=60 health_payload=hex:00ff\n"
		     "backend = 10.0.1.4 health_check=none\n");
	char small[8];

	cr_assert_eq(expect_all_read_back(config), 4);
	/* Too small a buffer: cut, and the length it needed. */
	cr_assert_eq(dplb_config_format_backend(&config->vips[0].backends[0], small, sizeof(small)),
		     (int)strlen("10.0.1.1 weight=65535 state=down mac=02:00:00:00:00:aa"));
	cr_assert_str_eq(small, "10.0.1.");
	dplb_config_free(config);
}

/* ---- the file ----------------------------------------------------------- */

static char dir[64], path[128];

static void set_immutable(const char *p, bool on, bool *done)
{
	int fd = open(p, O_RDONLY | O_NONBLOCK | O_CLOEXEC), flags = 0;

	*done = false;
	if (fd < 0)
		return;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
		*done = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
	}
	close(fd);
}

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dplb-writer-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dplb.ini", dir);
}

static void remove_dir(void)
{
	struct dirent *entry;
	char name[512];
	bool done;
	DIR *d;

	set_immutable(dir, false, &done);
	set_immutable(path, false, &done);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((entry = readdir(d)) != NULL) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		snprintf(name, sizeof(name), "%s/%s", dir, entry->d_name);
		unlink(name);
	}
	closedir(d);
	rmdir(dir);
}

TestSuite(config_file, .init = make_dir, .fini = remove_dir, .timeout = 30);

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static char *read_file(const char *p)
{
	char *data;
	size_t len;

	cr_assert_eq(dplb_config_file_read(p, &data, &len), 0);
	cr_assert_eq(strlen(data), len);
	return data;
}

static uint32_t entries_in_dir(void)
{
	struct dirent *entry;
	uint32_t n = 0;
	DIR *d = opendir(dir);

	cr_assert_not_null(d);
	while ((entry = readdir(d)) != NULL)
		n += strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0;
	closedir(d);
	return n;
}

static struct dplb_config *load_file(const char *p)
{
	struct dplb_config_errors errs;
	struct dplb_config *config = NULL;

	cr_assert_eq(dplb_config_load(p, &config, &errs), 0, "%s", errs.messages[0]);
	return config;
}

/* Persist the change from serving to *next; returns what persist did. */
static int persist(const struct dplb_config *serving, struct dplb_config **next, char *error)
{
	struct dplb_change_list changes = { 0 };
	char *previous = NULL;
	size_t previous_len = 0;
	int rc;

	cr_assert_eq(dplb_config_diff(serving, *next, &changes), 0);
	rc = dplb_config_persist(serving, next, &changes, &previous, &previous_len, error);
	if (rc == 0) {
		cr_assert_eq(previous_len, serving->file_size);
		cr_assert_eq(dplb_config_hash(DPLB_CONFIG_HASH_SEED, previous, previous_len),
			     serving->file_hash, "previous is not what the file held");
	} else {
		cr_assert_null(previous);
	}
	free(previous);
	dplb_change_list_free(&changes);
	return rc;
}

Test(config_file, a_persisted_change_is_what_the_file_then_loads_as)
{
	struct dplb_config *serving, *next, *reloaded;
	struct dplb_change_list left = { 0 };
	char error[DPLB_ERROR_MAX], *text, *once, *expected;
	struct stat st;

	write_file(path, BASE);
	cr_assert_eq(chmod(path, 0640), 0);
	serving = load_file(path);
	next = dplb_config_clone(serving);
	add_backend(next, "web", "10.0.1.9", 3);
	cr_assert_eq(persist(serving, &next, error), 0, "%s", error);

	text = read_file(path);
	cr_assert_not_null(strstr(text, "; the big one\nbackend = 10.0.1.9 weight=3\n\n"
					"; end of web"),
			   "%s", text);
	free(text);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640, "mode %o", st.st_mode & 07777);
	cr_assert_eq(entries_in_dir(), 1, "a temporary file was left");
	/* What serves now has the file's lines and stamp: a reload finds no
	 * difference, and the next change is written over this file. */
	reloaded = load_file(path);
	cr_assert_eq(dplb_config_diff(next, reloaded, &left), 0);
	cr_assert_eq(left.count, 0);
	expect_same_lines(next, reloaded);
	cr_assert_eq(next->file_size, reloaded->file_size);
	cr_assert_eq(next->file_hash, reloaded->file_hash);
	cr_assert_eq(backend_of(next, "web", "10.0.1.9")->line, 12);
	cr_assert_eq(vip_of(next, "dns")->line, 15);

	dplb_config_free(serving);
	serving = next;
	next = dplb_config_clone(serving);
	remove_backend(next, "web", "10.0.1.1");
	backend_of(next, "dns", "10.0.2.1")->state = DPLB_BACKEND_UP;
	cr_assert_eq(persist(serving, &next, error), 0, "%s", error);
	dplb_config_free(reloaded);
	reloaded = load_file(path);
	expect_same_lines(next, reloaded);
	cr_assert_eq(next->file_hash, reloaded->file_hash);
	text = read_file(path);
	once = swap2(BASE, "backend = 10.0.1.1\n", "", "; the big one\n",
		     "; the big one\nbackend = 10.0.1.9 weight=3\n");
	expected = swap(once, "state=drain", "state=up");
	cr_assert_str_eq(text, expected);
	free(once);
	free(text);
	free(expected);
	dplb_change_list_free(&left);
	dplb_config_free(reloaded);
	dplb_config_free(serving);
	dplb_config_free(next);
}

Test(config_file, a_file_edited_behind_dplbs_back_is_not_written_over)
{
	struct dplb_config *serving, *next;
	char error[DPLB_ERROR_MAX], *text;
	const char *edited = "; edited by hand\n[dataplane]\naddress = 10.0.0.1\n[vip:web]\n"
			     "address = 10.0.0.100\nbackend = 10.0.1.5\n";

	write_file(path, BASE);
	serving = load_file(path);
	next = dplb_config_clone(serving);
	add_backend(next, "web", "10.0.1.9", 1);
	write_file(path, edited);
	cr_assert_eq(persist(serving, &next, error), -ESTALE);
	cr_assert_not_null(strstr(error, "changed since dplb read it: reload it first"), "%s",
			   error);
	text = read_file(path);
	cr_assert_str_eq(text, edited);
	free(text);
	/* The same size, other bytes: still caught. */
	write_file(path, BASE);
	text = read_file(path);
	text[0] = '#';
	write_file(path, text);
	free(text);
	cr_assert_eq(persist(serving, &next, error), -ESTALE);
	/* Gone. */
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(persist(serving, &next, error), -ESTALE);
	cr_assert_not_null(strstr(error, "No such file"), "%s", error);
	dplb_config_free(serving);
	dplb_config_free(next);
}

Test(config_file, a_file_that_cannot_be_written_is_left_as_it_was)
{
	struct dplb_config *serving, *next;
	char error[DPLB_ERROR_MAX], *text;
	bool done;

	write_file(path, BASE);
	serving = load_file(path);
	next = dplb_config_clone(serving);
	add_backend(next, "web", "10.0.1.9", 1);

	/* Immutable: even root cannot rename over it (ext4, tmpfs, ...). */
	set_immutable(path, true, &done);
	if (!done)
		cr_skip_test("cannot make %s immutable here (not root, or no support)", path);
	cr_assert_eq(persist(serving, &next, error), -EPERM);
	cr_assert_not_null(strstr(error, "cannot replace"), "%s", error);
	cr_assert_not_null(strstr(error, "Operation not permitted"), "%s", error);
	set_immutable(path, false, &done);
	cr_assert_eq(entries_in_dir(), 1, "a temporary file was left");

	/* A directory nothing can be created in. */
	set_immutable(dir, true, &done);
	cr_assert(done);
	cr_assert_eq(persist(serving, &next, error), -EPERM);
	cr_assert_not_null(strstr(error, "cannot create a temporary file in"), "%s", error);
	set_immutable(dir, false, &done);

	text = read_file(path);
	cr_assert_str_eq(text, BASE);
	free(text);
	cr_assert_eq(entries_in_dir(), 1);
	cr_assert_eq(backend_of(next, "web", "10.0.1.9")->line, 0, "next was replaced");
	dplb_config_free(serving);
	dplb_config_free(next);
}

Test(config_file, a_change_that_would_not_load_is_not_written)
{
	struct dplb_config *serving, *next;
	char error[DPLB_ERROR_MAX], *text, long_line[512];

	/* 188 characters: a MAC more is past inih's 199. */
	snprintf(long_line, sizeof(long_line),
		 "[dataplane]\naddress = 10.0.0.1\n[vip:web]\naddress = 10.0.0.100\nport = 80\n"
		 "backend = 10.0.1.1 health_check=http:/%0*d health_expect_status=200 "
		 "health_rise=10\n",
		 110, 0);
	write_file(path, long_line);
	serving = load_file(path);
	next = dplb_config_clone(serving);
	backend_of(next, "web", "10.0.1.1")->has_mac = true;
	memcpy(backend_of(next, "web", "10.0.1.1")->mac, "\x02\x00\x00\x00\x00\x01", 6);
	cr_assert_eq(persist(serving, &next, error), -EINVAL);
	cr_assert_not_null(strstr(error, "would not load as asked"), "%s", error);
	cr_assert_not_null(strstr(error, "dplb.ini:6: line too long"), "%s", error);
	text = read_file(path);
	cr_assert_str_eq(text, long_line);
	free(text);
	dplb_config_free(serving);
	dplb_config_free(next);
}

Test(config_file, a_symbolic_link_stays_one)
{
	struct dplb_config *serving, *next;
	char error[DPLB_ERROR_MAX], target[160], link_path[160], *text;
	struct stat st;

	snprintf(target, sizeof(target), "%s/real.ini", dir);
	snprintf(link_path, sizeof(link_path), "%s/dplb.ini", dir);
	write_file(target, BASE);
	cr_assert_eq(symlink("real.ini", link_path), 0);
	serving = load_file(link_path);
	next = dplb_config_clone(serving);
	remove_backend(next, "web", "10.0.1.1");
	cr_assert_eq(persist(serving, &next, error), 0, "%s", error);
	cr_assert_eq(lstat(link_path, &st), 0);
	cr_assert(S_ISLNK(st.st_mode), "the link was replaced by a file");
	text = read_file(target);
	cr_assert_null(strstr(text, "10.0.1.1"));
	free(text);
	cr_assert_eq(entries_in_dir(), 2);
	dplb_config_free(serving);
	dplb_config_free(next);
}

Test(config_file, replace_writes_exactly_the_bytes)
{
	char error[DPLB_ERROR_MAX], *text;

	write_file(path, "old");
	cr_assert_eq(dplb_config_file_replace(path, "new\r\nbytes\0x", 12, error), 0, "%s", error);
	cr_assert_eq(dplb_config_file_read(path, &text, &(size_t){ 0 }), 0);
	cr_assert_eq(memcmp(text, "new\r\nbytes\0x", 12), 0);
	free(text);
	cr_assert_eq(dplb_config_file_replace("/nonexistent-dir/dplb.ini", "x", 1, error), -ENOENT);
	cr_assert_not_null(strstr(error, "cannot find /nonexistent-dir/dplb.ini"), "%s", error);
}

/* ---- a VIP's protection keys ------------------------------------------------ */

/* The VIP's list (allow or deny) becomes the prefixes given, as the API
 * sets it: a whole new list. */
static void set_list(struct dplb_prefix_list *list, const char *const *prefixes, uint32_t count)
{
	free(list->items);
	list->items = calloc(count + 1, sizeof(*list->items));
	cr_assert_not_null(list->items);
	for (uint32_t i = 0; i < count; i++)
		cr_assert_null(
			dplb_parse_prefix(prefixes[i], strlen(prefixes[i]), &list->items[i]));
	list->count = count;
}

static const char *const PROTECTED = "[dataplane]\n"
				     "address = 10.0.0.1\n"
				     "[vip:web]\n"
				     "address = 10.0.0.100\n"
				     "  allow=10.0.0.0/8   ; offices\n"
				     "new_flow_rate = 100\n"
				     "allow = 192.168.0.0/16\n"
				     "backend = 10.0.1.1\n"
				     "[vip:dns]\n"
				     "address = 10.0.0.101\n"
				     "port = 53\n"
				     "protocol = udp\n"
				     "allow = 10.0.0.0/8\n"
				     "backend = 10.0.2.1";

Test(config_writer, a_list_is_written_where_its_first_line_was)
{
	static const char *const allow[] = { "10.0.0.0/8", "172.16.0.0/12", "192.0.2.7/32" };
	struct change c = begin(PROTECTED);

	set_list(&vip_of(c.after, "web")->allow, allow, 3);
	/* The first line keeps its indentation, its "allow=" and its comment;
	 * the second goes; dns's own allow line is not web's. */
	expect_edit(&c, swap2(PROTECTED, "  allow=10.0.0.0/8   ; offices\n",
			      "  allow=10.0.0.0/8 172.16.0.0/12 192.0.2.7/32   ; offices\n",
			      "allow = 192.168.0.0/16\n", ""));
}

Test(config_writer, a_key_the_vip_lacks_goes_after_its_header)
{
	static const char *const deny[] = { "10.66.0.0/16" };
	struct change c = begin(PROTECTED);

	set_list(&vip_of(c.after, "web")->deny, deny, 1);
	vip_of(c.after, "web")->rate_limit_action = DPLB_RATE_LIMIT_STATELESS;
	vip_of(c.after, "web")->new_flow_burst = 50;
	vip_of(c.after, "web")->new_flow_rate = 10;
	expect_edit(&c, swap2(PROTECTED, "[vip:web]\n",
			      "[vip:web]\ndeny = 10.66.0.0/16\nnew_flow_burst = 50\n"
			      "rate_limit_action = stateless\n",
			      "new_flow_rate = 100\n", "new_flow_rate = 10\n"));
}

/* A VIP key the API does not change (mss_clamp) stays on its line, comment
 * and all, and a change of it is not written: it comes from the file. */
Test(config_writer, keys_the_api_does_not_change_stay_and_are_not_written)
{
	static const char *const clamped = "[dataplane]\naddress = 10.0.0.1\n\n"
					   "[vip:web]\naddress = 10.0.0.100\nport = 80\n"
					   "mss_clamp = 1400 ; the VPN's clients\n"
					   "backend = 10.0.1.1\n";
	struct dplb_change_list changes = { 0 };
	struct change c = begin(clamped);
	char error[DPLB_ERROR_MAX], *out = NULL;
	size_t len;

	cr_assert_eq(vip_of(c.before, "web")->mss_clamp, 1400);
	vip_of(c.after, "web")->new_flow_rate = 10;
	expect_edit(&c, swap(clamped, "[vip:web]\n", "[vip:web]\nnew_flow_rate = 10\n"));

	c = begin(clamped);
	vip_of(c.after, "web")->mss_clamp = 1300;
	cr_assert_eq(dplb_config_diff(c.before, c.after, &changes), 0);
	cr_assert_eq(dplb_config_text_edit(clamped, strlen(clamped), c.before, c.after, &changes,
					   &out, &len, error),
		     -ENOTSUP);
	cr_assert_not_null(strstr(error, "not vip_modified (mss_clamp)"), "%s", error);
	cr_assert_null(out);
	dplb_change_list_free(&changes);
	free_change(&c);
}

Test(config_writer, an_emptied_list_loses_its_lines_and_the_last_line_keeps_no_newline)
{
	static const char *const allow[] = { "10.1.0.0/16" };
	struct change c = begin(PROTECTED);

	set_list(&vip_of(c.after, "web")->allow, NULL, 0);
	expect_edit(&c, swap2(PROTECTED, "  allow=10.0.0.0/8   ; offices\n", "",
			      "allow = 192.168.0.0/16\n", ""));
	c = begin(PROTECTED);
	set_list(&vip_of(c.after, "dns")->allow, allow, 1);
	expect_edit(&c, swap(PROTECTED, "allow = 10.0.0.0/8\nbackend = 10.0.2.1",
			     "allow = 10.1.0.0/16\nbackend = 10.0.2.1"));
}

Test(config_writer, long_lists_fill_lines_the_loader_reads)
{
	const char *prefixes[300];
	char texts[300][24];
	struct change c = begin(PROTECTED);
	char *out;

	for (int i = 0; i < 300; i++) {
		snprintf(texts[i], sizeof(texts[i]), "10.%d.%d.0/24", i / 256, i % 256);
		prefixes[i] = texts[i];
	}
	set_list(&vip_of(c.after, "web")->deny, prefixes, 300);
	out = edit(&c); /* loads as asked: no line is too long */
	cr_assert_gt(strlen(out), 300 * 10);
	for (char *line = out; *line != '\0';) {
		const size_t length = strcspn(line, "\n");

		cr_assert_lt(length, 199);
		line += length + (line[length] == '\n');
	}
	free(out);
	free_change(&c);
}

Test(config_writer, other_vip_keys_are_not_written)
{
	struct dplb_change_list changes = { 0 };
	struct change c = begin(PROTECTED);
	char error[DPLB_ERROR_MAX], *out = NULL;
	size_t len;

	vip_of(c.after, "web")->new_flow_rate = 7;
	vip_of(c.after, "web")->port = 81;
	cr_assert_eq(dplb_config_diff(c.before, c.after, &changes), 0);
	cr_assert_eq(dplb_config_text_edit(PROTECTED, strlen(PROTECTED), c.before, c.after,
					   &changes, &out, &len, error),
		     -ENOTSUP);
	cr_assert_not_null(strstr(error, "not vip_modified (port,new_flow_rate)"), "%s", error);
	dplb_change_list_free(&changes);
	free_change(&c);
}
