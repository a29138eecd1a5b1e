/*
 * Writing changes made through the API into the INI file, so that a reload
 * or a restart finds them ([management] persist_changes = yes).
 *
 * The file is edited, never regenerated: a changed backend's line keeps
 * everything but the options that changed, a removed backend's line goes,
 * an added backend gets a line after its VIP's last backend line, written
 * the way that one is; a VIP's protection keys (allow, deny, the new-flow
 * rate limit) are rewritten where their first line is. Every other byte
 * (comments, blank lines, order, CRLF endings, a last line without a
 * newline) stays as it was. Where each backend is comes from the loader
 * (dplb_backend_config.line).
 *
 * Before anything is written, the edited text is loaded as the file would
 * be and must be the configuration asked for; then it replaces the file
 * atomically. Pure C, no DPDK.
 */
#ifndef DPLB_CONFIG_WRITER_H
#define DPLB_CONFIG_WRITER_H

#include <stddef.h>

#include "control/config.h"
#include "control/config_diff.h"

/*
 * Edit text, len bytes that loaded as before, so that it loads as after:
 * changes are dplb_config_diff's from before to after, of backends, and of
 * a VIP's allow, deny, new_flow_rate, new_flow_burst and rate_limit_action
 * (their lines in the VIP's section rewritten: the key's first line
 * becomes the new value's lines, the others go, a key the section lacks
 * gets lines after its header; after may be NULL when no change is a
 * VIP's). Returns 0 with *out (malloc'd, *out_len bytes), or a negative
 * errno with error (DPLB_ERROR_MAX bytes) saying why: -ENOTSUP for another
 * change, -ENOENT when the line a backend came from does not hold it,
 * -EINVAL for a backend no line can hold, -ENOMEM. Any thread.
 */
int dplb_config_text_edit(const char *text, size_t len, const struct dplb_config *before,
			  const struct dplb_config *after, const struct dplb_change_list *changes,
			  char **out, size_t *out_len, char *error);

/* The whole file at path: 0 with *data (malloc'd, a NUL after its *len
 * bytes), or a negative errno. */
int dplb_config_file_read(const char *path, char **data, size_t *len);

/*
 * Replace the file at path (the file a symbolic link points to) with len
 * bytes of data, atomically: a temporary file in the same directory with
 * the old file's mode (and owner, when allowed) is written and fsync'd,
 * renamed over the file, and the directory fsync'd. Readers see the old
 * file or the new one, and after a crash the disk holds one of them.
 * Returns 0, or a negative errno (-EACCES, -EPERM, -EROFS, -ENOSPC, -EIO,
 * ...) with error naming the step; the file is then as it was and no
 * temporary file is left, except when only the directory's fsync failed
 * (the rename was done, but may not be on disk). Any thread.
 */
int dplb_config_file_replace(const char *path, const char *data, size_t len, char *error);

/*
 * Write the changes from serving to *next (dplb_config_diff's list of
 * them) into the file serving was read from, serving->path. Returns 0
 * when the file holds them, on disk: *next is then replaced by what the
 * file loads as (equal to it, with the file's lines and stamp), and
 * *previous (malloc'd, *previous_len bytes) holds what the file held, to
 * put back with dplb_config_file_replace should applying *next fail. Or a
 * negative errno with error (DPLB_ERROR_MAX bytes) saying why; the file is
 * as it was and *next untouched:
 *   -ESTALE  the file is no longer what serving was read from (edited
 *            behind dplb's back, or gone): it is not written over; reload
 *            first
 *   -EINVAL  the edited file would not load as *next (a line too long)
 *   what reading or dplb_config_file_replace returned
 *   -ENOTSUP, -EINVAL, -ENOMEM as dplb_config_text_edit; its -ENOENT as
 *            -EIO (a line that does not hold its backend: a bug)
 * Any thread; the management lcore in dplb.
 */
int dplb_config_persist(const struct dplb_config *serving, struct dplb_config **next,
			const struct dplb_change_list *changes, char **previous,
			size_t *previous_len, char *error);

#endif
