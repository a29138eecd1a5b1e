/*
 * The neighbor table: MAC addresses of next hops (backends on-link, else
 * the gateway), learned by ARP (IPv4) or neighbor discovery (IPv6) from the
 * management lcore. One bookkeeping for both families: an entry's key is 16
 * bytes, an IPv4 address stored IPv4-mapped (::ffff:a.b.c.d, RFC 4291
 * 2.5.5.2), and each family has a table of its own (struct dplb_neighbors,
 * struct dplb_neighbors6), so ARP can never answer for an IPv6 next hop.
 *
 * Pure bookkeeping with no I/O, driven by the caller's clock, so the rules
 * (when to ask, when to give up, when an answer changes anything) are unit
 * testable. Only addresses we asked for are learned: an ARP reply nobody
 * wanted cannot fill the table or redirect traffic.
 */
#ifndef DPLB_NEIGHBOR_H
#define DPLB_NEIGHBOR_H

#include <stdbool.h>
#include <stdint.h>

#define DPLB_MAX_NEIGHBORS 4096

/* Ask again this often while unresolved, and refresh resolved entries this
 * long after their last answer; forget one that stayed silent for
 * DPLB_NEIGHBOR_LIFETIME_MS. */
#define DPLB_NEIGHBOR_RETRY_MS 1000u
#define DPLB_NEIGHBOR_REFRESH_MS 30000u
#define DPLB_NEIGHBOR_LIFETIME_MS 90000u

struct dplb_neighbor {
	uint8_t address[16]; /* IPv6, or IPv4-mapped; network order */
	uint8_t mac[6];
	bool resolved;
	bool wanted;	      /* a next hop of the current state */
	uint64_t answered_ms; /* last reply */
	uint64_t asked_ms;    /* last request sent */
};

struct dplb_neighbors {
	uint32_t count;
	struct dplb_neighbor entries[DPLB_MAX_NEIGHBORS];
};

/* Mark every entry unwanted; then dplb_neighbors_want the current next hops;
 * entries left unwanted are dropped by dplb_neighbors_forget_unwanted. */
void dplb_neighbors_unwant_all(struct dplb_neighbors *table);
/* Returns 0 or -ENOSPC. */
int dplb_neighbors_want(struct dplb_neighbors *table, uint32_t address);
void dplb_neighbors_forget_unwanted(struct dplb_neighbors *table);

/* The MAC of address when resolved, else NULL. */
const uint8_t *dplb_neighbors_lookup(const struct dplb_neighbors *table, uint32_t address);

/* Record an ARP answer (a reply, or a request's sender). Returns true when
 * forwarding must change: a wanted address became resolved or changed its
 * MAC. A group (multicast, broadcast) or zero MAC is never learned. */
bool dplb_neighbors_learn(struct dplb_neighbors *table, uint32_t address, const uint8_t *mac,
			  uint64_t now_ms);

/* Addresses to ask about now (at most max), marking them asked. */
uint32_t dplb_neighbors_due(struct dplb_neighbors *table, uint64_t now_ms, uint32_t *addresses,
			    uint32_t max);

/* Forget answers older than the lifetime. Returns true when forwarding must
 * change (an entry in use became unresolved). */
bool dplb_neighbors_expire(struct dplb_neighbors *table, uint64_t now_ms);

/* IPv6 next hops: the same rules, addresses of 16 bytes in network order. */
struct dplb_neighbors6 {
	struct dplb_neighbors table;
};

void dplb_neighbors6_unwant_all(struct dplb_neighbors6 *table);
int dplb_neighbors6_want(struct dplb_neighbors6 *table, const uint8_t address[16]);
void dplb_neighbors6_forget_unwanted(struct dplb_neighbors6 *table);
const uint8_t *dplb_neighbors6_lookup(const struct dplb_neighbors6 *table,
				      const uint8_t address[16]);
/* Record a neighbor advertisement for address, as dplb_neighbors_learn,
 * with its override flag (RFC 4861 7.2.5): an unresolved address learns mac
 * whatever the flag; a resolved one takes a different mac only with it,
 * and without it is refreshed only by an answer that names the same mac. */
bool dplb_neighbors6_learn(struct dplb_neighbors6 *table, const uint8_t address[16],
			   const uint8_t *mac, bool override, uint64_t now_ms);
uint32_t dplb_neighbors6_due(struct dplb_neighbors6 *table, uint64_t now_ms,
			     uint8_t (*addresses)[16], uint32_t max);
bool dplb_neighbors6_expire(struct dplb_neighbors6 *table, uint64_t now_ms);

#endif
