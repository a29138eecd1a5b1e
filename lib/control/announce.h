/*
 * Route announcement tied to health ([dataplane] announce_table): dplb
 * keeps one kernel route per VIP address (address/32, or address/128 for
 * an IPv6 VIP, through the first port's tap, proto static; both families
 * in the same table) in a routing table of its own while it runs
 * and some VIP of that address has a backend taking new flows (the VIP
 * state /vips calls "healthy") that is not health-checked or has passed a
 * check (announce.c says why); a routing daemon (BIRD's kernel protocol,
 * conf/bird/bird.conf) announces what that table holds, with no plugin.
 *
 * Why through the tap: a route through an interface goes when the
 * interface goes, and the tap goes when dplb does, however it ends
 * (SIGKILL included), so no route outlives dplb to draw traffic to a
 * machine that no longer forwards it. Why a table of its own: the kernel
 * never looks routes up there (no rule points at it), so VIP traffic is
 * never routed by the kernel, and dplb owns everything in it.
 *
 * The management lcore brings the table in line with the snapshot that
 * serves after every change (a new generation: health, reload, API; and a
 * backend's first passing check, which makes none) by
 * rtnetlink (control/rtnetlink.h), retrying refused requests every second.
 */
#ifndef DPLB_ANNOUNCE_H
#define DPLB_ANNOUNCE_H

#include <stdbool.h>
#include <stdint.h>

#include "control/context.h"
#include "packet/counters.h"

/*
 * One slice of work: when the snapshot, the table or the tap changed (or
 * a refused change is due again), add the routes of VIP addresses that
 * have a healthy VIP and remove the others. Makes ctx->announcer the first
 * time. Nothing is announced after dplb_announce_withdraw_all. Never
 * blocks for long (a request waits for the kernel's answer). Management
 * lcore.
 */
void dplb_announce_sync(struct dplb_context *ctx);

/*
 * Remove every route dplb added, and add none from now on: the first step
 * of stopping. Returns how many routes were removed. Management lcore.
 */
uint32_t dplb_announce_withdraw_all(struct dplb_context *ctx);

/* Whether dplb_announce_withdraw_all was called: dplb is stopping. */
bool dplb_announce_stopping(const struct dplb_context *ctx);

/* Whether a route to the IPv4 address (network order) is in the table. */
bool dplb_announce_has(const struct dplb_context *ctx, uint32_t address);
/* Whether a route to the IPv6 address is in the table. */
bool dplb_announce_has6(const struct dplb_context *ctx, const uint8_t address[16]);
/* Whether the last sync held vip's address back (announce.c, held_back:
 * hold-down while others of its backends are rising). */
bool dplb_announce_held(const struct dplb_context *ctx, const struct dplb_vip_entry *vip);

/* Whether a route to vip's address, of its family, is in the table. */
bool dplb_announce_has_vip(const struct dplb_context *ctx, const struct dplb_vip_config *vip);

/* The IPv4 VIP addresses announced (network order, ascending); writes at
 * most max, returns how many there are. */
uint32_t dplb_announce_addresses(const struct dplb_context *ctx, uint32_t *out, uint32_t max);
/* The same for the IPv6 ones. */
uint32_t dplb_announce_addresses6(const struct dplb_context *ctx, uint8_t (*out)[16], uint32_t max);

/* What was done, all zero before anything was. */
struct dplb_announce_counters dplb_announce_counters(const struct dplb_context *ctx);

/* Withdraw what is left and free ctx->announcer. Main lcore, at exit. */
void dplb_announce_release(struct dplb_context *ctx);

#endif
