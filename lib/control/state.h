/*
 * The forwarding state: one immutable snapshot of everything workers read
 * (VIPs, backends with weights and states, scheduler tables, next-hop MACs,
 * each VIP's protection: packet/protect.h).
 *
 * The management lcore builds a new snapshot from a configuration, publishes
 * it with one release store, and frees the old one only after every worker
 * has passed a quiescent point (rte_rcu_qsbr defer queue). Workers load the
 * pointer once per loop iteration and never see a half-made change.
 *
 * VIPs and backends carry stable ids, kept by the identities registry for
 * the life of the process, so flow entries and counters survive snapshots:
 * a backend is (VIP name, address) and keeps its id across reloads.
 *
 * VIPs and backends are IPv4 or IPv6 (family; address, or address6 and an
 * address of 0). The IPv4 lookups (dplb_state_find_vip and the rest) only
 * ever find IPv4 VIPs, the IPv6 ones (dplb_state_find_vip6...) IPv6 VIPs;
 * schedulers and Maglev tables work on backend ids, whatever the family.
 */
#ifndef DPLB_STATE_H
#define DPLB_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_rcu_qsbr.h>

#include "control/config.h"
#include "packet/encap_header.h"
#include "packet/protect.h"

#define DPLB_MAX_VIP_IDS 1024
#define DPLB_MAX_BACKEND_IDS 65536
#define DPLB_NO_VIP UINT16_MAX

struct dplb_backend_entry {
	uint32_t address; /* network order; 0 for an IPv6 backend */
	uint16_t vip_id;
	uint8_t present; /* configured in this snapshot */
	uint8_t state;	 /* enum dplb_backend_state: the operator's */
	uint8_t has_next_hop;
	/* enum dplb_health_status when the snapshot was built; a change
	 * between unchecked and healthy makes no snapshot (health.c), so read
	 * the checker (dplb_health_report) to tell those two apart. */
	uint8_t health;
	/* Operator state and health together (health_state.h): whether its
	 * established flows stay with it. */
	uint8_t keeps_flows;
	uint8_t takes_new_flows;
	uint32_t weight; /* configured */
	/* What the tables use: weight in tenths (weight x 10), less during
	 * slow start, whose 10% steps then exist even for a weight of 1. */
	uint32_t table_weight;
	struct rte_ether_addr next_hop_mac;
	uint8_t family;	      /* AF_INET or AF_INET6 */
	uint8_t address6[16]; /* network order, when family == AF_INET6 */
	/* The outer IPv4 header toward it, from next_hop_mac, the snapshot's
	 * local_address and address, for its VIP's encapsulation and family;
	 * when family == AF_INET. Encapsulation copies it instead of reading
	 * those fields, which is right because a snapshot is never changed
	 * once built: a new MAC or address makes a new snapshot. */
	struct dplb_encap_header4 header4;
};

/* What health checking says of one backend, as a snapshot is built from it
 * (health.c keeps an array of these by backend id). All zero: unchecked,
 * full weight. */
struct dplb_backend_health {
	uint8_t status;		/* enum dplb_health_status */
	uint8_t weight_percent; /* slow start, 10..100; 0 means 100 */
};

/* What a snapshot is built from besides the configuration (the neighbor
 * tables: control/neighbor.h). */
struct dplb_neighbors;
struct dplb_neighbors6;
struct dplb_state_inputs {
	const struct dplb_neighbors *neighbors;	  /* MACs learned by ARP; NULL: none */
	const struct dplb_neighbors6 *neighbors6; /* MACs learned by ND; NULL: none */
	const struct dplb_backend_health *health; /* DPLB_MAX_BACKEND_IDS long; NULL: unchecked */
	uint32_t workers; /* worker lcores sharing a VIP's new_flow_rate; 0: one */
};

struct dplb_vip_entry {
	uint16_t id;
	uint8_t protocol;
	uint8_t encap;	   /* enum dplb_encap */
	uint8_t scheduler; /* enum dplb_scheduler */
	uint8_t fragments; /* enum dplb_fragments */
	uint32_t address;  /* network order; 0 for an IPv6 VIP */
	rte_be16_t port;   /* network order; 0 = every port */
	/* The largest MSS a SYN to it may announce, host order; 0: any. */
	uint16_t mss_clamp;
	uint32_t maglev_size;
	uint32_t *maglev; /* backend ids of up backends, maglev_size long */
	uint32_t backend_count;
	uint32_t *backend_ids; /* every configured backend, config order */
	uint32_t up_count;
	uint32_t *up_ids; /* backends taking new flows, config order */
	/* Every backend the operator lets take new flows failed its checks:
	 * its new flows are dropped as no_healthy_backend. */
	uint8_t no_healthy_backend;
	/* table_full = drop: a new flow finding the flow table full is dropped,
	 * not forwarded without an entry. */
	uint8_t table_full_drop;
	uint32_t unhealthy_count;
	uint32_t wrr_length;
	uint32_t *wrr_sequence; /* smooth weighted round-robin order of up backends */
	struct dplb_vip_protection protection; /* allow and deny lists, new-flow rate limit */
	const struct dplb_vip_config *config;
	uint8_t family;	      /* AF_INET or AF_INET6 */
	uint8_t address6[16]; /* network order, when family == AF_INET6 */
};

/*
 * Which VIP a fragment without ports belongs to, by destination address and
 * protocol alone (dplb_state_fragment_vip): the index of the one VIP
 * serving them when its fragments follow, else one of these.
 */
#define DPLB_FRAGMENT_VIP_NONE (-1)    /* no VIP has this address and protocol */
#define DPLB_FRAGMENT_VIP_SEVERAL (-2) /* several do, and one at least follows */
#define DPLB_FRAGMENT_VIP_DROPPED (-3) /* every VIP of them drops fragments */

/* One slot of that index, for either family: an IPv4 address is kept
 * IPv4-mapped (::ffff:a.b.c.d), which no IPv6 VIP may have. */
struct dplb_fragment_vip {
	uint8_t address[16]; /* network order */
	uint8_t protocol;    /* 0: an empty slot (a VIP's is TCP or UDP) */
	int32_t index;	     /* into vips, or DPLB_FRAGMENT_VIP_* */
};

struct dplb_shared_config;

struct dplb_state {
	uint64_t generation;
	const struct dplb_config *config; /* shared with later snapshots */
	struct dplb_shared_config *shared_config;
	uint32_t vip_count;
	struct dplb_vip_entry *vips;
	/* Open-addressed (address, port, protocol) -> index into vips. */
	uint32_t vip_slot_mask;
	int32_t *vip_slots;
	/* Every VIP address once, open-addressed, 0 for an empty slot: "is
	 * this address a VIP's?" in a probe or two (ping, source checks). */
	uint32_t vip_address_mask;
	uint32_t *vip_addresses;
	/* Open-addressed (address, protocol) -> dplb_state_fragment_vip and
	 * dplb_state_fragment_vip6, both families. */
	uint32_t fragment_vip_mask;
	struct dplb_fragment_vip *fragment_vips;
	/* The IPv6 VIPs' index, as vip_slots: open-addressed (address6, port,
	 * protocol) -> index into vips, -1 for an empty slot. */
	uint32_t vip6_slot_mask;
	int32_t *vip6_slots;
	/* Every IPv6 VIP address once: the index of a VIP of it, -1 empty. */
	uint32_t vip6_address_mask;
	int32_t *vip6_addresses;
	/* Indexed by backend id; backend_id_limit long. */
	uint32_t backend_id_limit;
	struct dplb_backend_entry *backends;
	uint32_t local_address;	 /* network order */
	bool has_local_address6; /* [dataplane] address6 */
	uint8_t local_address6[16];
	rte_be16_t gue_port;
	uint32_t mtu;
	uint32_t tcp_timeout;
	uint32_t udp_timeout;
	uint32_t tcp_closing_timeout;
	uint32_t tcp_syn_timeout;
};

/* Stable ids: management lcore only. */
struct dplb_identities;
struct dplb_identities *dplb_identities_create(void);
void dplb_identities_free(struct dplb_identities *ids);
/* Find or assign; returns the id or a negative errno (-ENOSPC when full). */
int dplb_vip_id(struct dplb_identities *ids, const char *name);
int dplb_backend_id(struct dplb_identities *ids, uint16_t vip_id, uint32_t address);
int dplb_backend_id6(struct dplb_identities *ids, uint16_t vip_id, const uint8_t address[16]);
/* The same for a backend of either family (the one a configuration has). */
int dplb_backend_config_id(struct dplb_identities *ids, uint16_t vip_id,
			   const struct dplb_backend_config *backend);
/* Name of a VIP id, or NULL. */
const char *dplb_vip_id_name(const struct dplb_identities *ids, uint16_t vip_id);

/*
 * Build a snapshot from config, which it takes over (freed with the state,
 * or at once on failure). Returns 0 or a negative errno with a reason in
 * error (size DPLB_ERROR_MAX). Management lcore only.
 */
int dplb_state_build(struct dplb_config *config, struct dplb_identities *ids, uint64_t generation,
		     struct dplb_state **out, char *error);
/* The same, with next-hop MACs learned by ARP and backends' health
 * (inputs may be NULL). */
int dplb_state_build_with(struct dplb_config *config, struct dplb_identities *ids,
			  const struct dplb_state_inputs *inputs, uint64_t generation,
			  struct dplb_state **out, char *error);
/* A new snapshot of current's configuration with other next-hop MACs or
 * health. */
int dplb_state_rebuild(const struct dplb_state *current, struct dplb_identities *ids,
		       const struct dplb_state_inputs *inputs, uint64_t generation,
		       struct dplb_state **out, char *error);
/*
 * The same two calls in halves, so that the slow half can run off the
 * management lcore (state_builder.h): dplb_state_prepare and
 * dplb_state_prepare_rebuild make all but the scheduler tables (stable
 * ids, backends with health and next hops, the VIP index) on the
 * management lcore, and fail as the whole calls do; then
 * dplb_state_build_tables fills the tables in, on any thread, while
 * nothing else touches the snapshot (it is not published) nor frees it.
 * Together they make exactly what dplb_state_build_with and
 * dplb_state_rebuild make. dplb_state_build_tables returns 0 or a
 * negative errno with a reason in error (DPLB_ERROR_MAX); the snapshot is
 * then the caller's to free, on the management lcore.
 */
int dplb_state_prepare(struct dplb_config *config, struct dplb_identities *ids,
		       const struct dplb_state_inputs *inputs, uint64_t generation,
		       struct dplb_state **out, char *error);
int dplb_state_prepare_rebuild(const struct dplb_state *current, struct dplb_identities *ids,
			       const struct dplb_state_inputs *inputs, uint64_t generation,
			       struct dplb_state **out, char *error);
int dplb_state_build_tables(struct dplb_state *state, char *error);
/*
 * Whether building state's tables takes long enough (a millisecond or so:
 * about a million Maglev slots in all) to be worth a thread: smaller ones
 * are built where they are asked for, so that a snapshot made because a
 * backend's health changed serves before anyone can read the change.
 */
bool dplb_state_tables_are_big(const struct dplb_state *state);
void dplb_state_free(struct dplb_state *state);

/* A backend entry's or VIP entry's address as text (dplb_format_ip), of
 * either family, into out of INET6_ADDRSTRLEN bytes. Returns out. Any
 * thread. */
char *dplb_backend_entry_address_text(const struct dplb_backend_entry *backend, char *out);
char *dplb_vip_entry_address_text(const struct dplb_vip_entry *vip, char *out);

/* The next hop toward backend: itself when on-link, else the gateway. */
uint32_t dplb_next_hop_address(const struct dplb_config *config, uint32_t backend);
/* Whether backend's next hop has no static MAC and must be resolved by ARP
 * (an IPv4 backend's; never an IPv6 one's). */
bool dplb_backend_needs_arp(const struct dplb_config *config,
			    const struct dplb_backend_config *backend);
/* The next hop toward an IPv6 backend, into out: itself when on-link
 * (inside address6/prefix_length6; without prefix_length6, when there is
 * no gateway6), else gateway6. */
void dplb_next_hop_address6(const struct dplb_config *config, const uint8_t backend[16],
			    uint8_t out[16]);
/* Whether an IPv6 backend's next hop has no static MAC (its own mac=, or
 * gateway_mac6 for the gateway6 or when there is no gateway6) and must be
 * resolved by neighbour discovery; never for an IPv4 backend. */
bool dplb_backend_needs_nd(const struct dplb_config *config,
			   const struct dplb_backend_config *backend);

/* Which VIP a destination belongs to: exact port first, then port 0. */
static inline const struct dplb_vip_entry *dplb_state_find_vip(const struct dplb_state *state,
							       uint32_t address, rte_be16_t port,
							       uint8_t protocol);

/*
 * The answer of the last dplb_state_find_vip_memo, which a worker keeps for
 * one burst of one snapshot: a burst's packets mostly go to a few VIPs, and
 * a run of one VIP's packets then costs one compare each instead of the
 * index's dependent loads. Start it with dplb_vip_memo_init.
 */
struct dplb_vip_memo {
	uint64_t key; /* dplb_vip_key of the last destination looked up */
	const struct dplb_vip_entry *vip;
};

static inline void dplb_vip_memo_init(struct dplb_vip_memo *memo);

/* dplb_state_find_vip, answered from memo when the destination is the
 * last one's; memo then holds this one's answer. */
static inline const struct dplb_vip_entry *dplb_state_find_vip_memo(const struct dplb_state *state,
								    struct dplb_vip_memo *memo,
								    uint32_t address,
								    rte_be16_t port,
								    uint8_t protocol);

/* Publishing, with the workers' RCU variable. */
struct dplb_publisher;
struct dplb_publisher *dplb_publisher_create(struct rte_rcu_qsbr *rcu, uint32_t max_pending);
void dplb_publisher_free(struct dplb_publisher *pub);
/* Make state current; the old one is freed once workers are past it. */
int dplb_publish(struct dplb_publisher *pub, struct dplb_state *state);
/* Free retired snapshots whose grace period has ended; never blocks. */
void dplb_publisher_reclaim(struct dplb_publisher *pub);
/* The current snapshot (acquire). Workers: once per loop iteration. */
struct dplb_state *dplb_current_state(const struct dplb_publisher *pub);

/* Whether address (network order, not 0) is some VIP's, whatever its
 * port and protocol. */
static inline bool dplb_state_is_vip_address(const struct dplb_state *state, uint32_t address);

/* Whether address is dplb's own or any VIP's: pings to it are answered,
 * and packets from it are refused (no host sends from them). */
static inline bool dplb_state_answers_ping(const struct dplb_state *state, uint32_t address)
{
	return address == state->local_address ||
	       (address != 0 && dplb_state_is_vip_address(state, address));
}

/* Which IPv6 VIP a destination (16 bytes, network order) belongs to:
 * exact port first, then port 0. */
static inline const struct dplb_vip_entry *dplb_state_find_vip6(const struct dplb_state *state,
								const uint8_t address[16],
								rte_be16_t port, uint8_t protocol);

/* Whether address is some IPv6 VIP's, whatever its port and protocol. */
static inline bool dplb_state_is_vip_address6(const struct dplb_state *state,
					      const uint8_t address[16]);

/* Whether address (16 bytes, network order) is dplb's own address6. */
static inline bool dplb_state_is_local_address6(const struct dplb_state *state,
						const uint8_t address[16])
{
	return state->has_local_address6 && memcmp(address, state->local_address6, 16) == 0;
}

/* The IPv6 dplb_state_answers_ping: dplb's own address6 or any IPv6
 * VIP's (echo requests to it are answered, packets from it refused). */
static inline bool dplb_state_answers_ping6(const struct dplb_state *state,
					    const uint8_t address[16])
{
	return dplb_state_is_local_address6(state, address) ||
	       dplb_state_is_vip_address6(state, address);
}

/* ---- inline lookup ---- */

/* A destination as one 64-bit value: what the index hashes and the memo
 * compares. */
static inline uint64_t dplb_vip_key(uint32_t address, rte_be16_t port, uint8_t protocol)
{
	return ((uint64_t)address << 32) | ((uint32_t)port << 8) | protocol;
}

static inline uint32_t dplb_vip_slot_hash(uint32_t address, rte_be16_t port, uint8_t protocol)
{
	return (uint32_t)((dplb_vip_key(address, port, protocol) * 0x9e3779b97f4a7c15ull) >> 32);
}

static inline bool dplb_state_is_vip_address(const struct dplb_state *state, uint32_t address)
{
	uint32_t slot = dplb_vip_slot_hash(address, 0, 0) & state->vip_address_mask;

	for (;;) {
		const uint32_t found = state->vip_addresses[slot];

		if (found == 0)
			return false;
		if (found == address)
			return true;
		slot = (slot + 1) & state->vip_address_mask;
	}
}

static inline const struct dplb_vip_entry *dplb_state_probe_vip(const struct dplb_state *state,
								uint32_t address, rte_be16_t port,
								uint8_t protocol)
{
	uint32_t slot = dplb_vip_slot_hash(address, port, protocol) & state->vip_slot_mask;

	for (;;) {
		const int32_t index = state->vip_slots[slot];

		if (index < 0)
			return NULL;
		const struct dplb_vip_entry *vip = &state->vips[index];
		if (vip->address == address && vip->port == port && vip->protocol == protocol)
			return vip;
		slot = (slot + 1) & state->vip_slot_mask;
	}
}

/* address (network order) IPv4-mapped, as the fragment index keeps it. */
static inline void dplb_ipv4_mapped(uint8_t mapped[16], uint32_t address)
{
	memset(mapped, 0, 10);
	mapped[10] = 0xff;
	mapped[11] = 0xff;
	memcpy(mapped + 12, &address, sizeof(address));
}

static inline const struct dplb_vip_entry *dplb_state_find_vip(const struct dplb_state *state,
							       uint32_t address, rte_be16_t port,
							       uint8_t protocol)
{
	const struct dplb_vip_entry *vip = dplb_state_probe_vip(state, address, port, protocol);

	if (vip == NULL)
		vip = dplb_state_probe_vip(state, address, 0, protocol);
	return vip;
}

/* Protocol 0 is no VIP's (VIPs are TCP or UDP), so the memo's first answer,
 * no VIP for the key 0, is true. */
static inline void dplb_vip_memo_init(struct dplb_vip_memo *memo)
{
	memo->key = dplb_vip_key(0, 0, 0);
	memo->vip = NULL;
}

static inline const struct dplb_vip_entry *dplb_state_find_vip_memo(const struct dplb_state *state,
								    struct dplb_vip_memo *memo,
								    uint32_t address,
								    rte_be16_t port,
								    uint8_t protocol)
{
	const uint64_t key = dplb_vip_key(address, port, protocol);

	if (likely(key == memo->key))
		return memo->vip;
	memo->key = key;
	memo->vip = dplb_state_find_vip(state, address, port, protocol);
	return memo->vip;
}

/* The IPv6 index's hash: the address folded to 64 bits, then as IPv4's. */
static inline uint32_t dplb_vip6_slot_hash(const uint8_t address[16], rte_be16_t port,
					   uint8_t protocol)
{
	uint64_t high, low;

	memcpy(&high, address, 8);
	memcpy(&low, address + 8, 8);
	low ^= high * 0xff51afd7ed558ccdull;
	low ^= low >> 29;
	return dplb_vip_slot_hash((uint32_t)(low ^ (low >> 32)), port, protocol);
}

static inline bool dplb_state_is_vip_address6(const struct dplb_state *state,
					      const uint8_t address[16])
{
	uint32_t slot = dplb_vip6_slot_hash(address, 0, 0) & state->vip6_address_mask;

	for (;;) {
		const int32_t index = state->vip6_addresses[slot];

		if (index < 0)
			return false;
		if (memcmp(state->vips[index].address6, address, 16) == 0)
			return true;
		slot = (slot + 1) & state->vip6_address_mask;
	}
}

static inline const struct dplb_vip_entry *dplb_state_probe_vip6(const struct dplb_state *state,
								 const uint8_t address[16],
								 rte_be16_t port, uint8_t protocol)
{
	uint32_t slot = dplb_vip6_slot_hash(address, port, protocol) & state->vip6_slot_mask;

	for (;;) {
		const int32_t index = state->vip6_slots[slot];

		if (index < 0)
			return NULL;
		const struct dplb_vip_entry *vip = &state->vips[index];
		if (vip->port == port && vip->protocol == protocol &&
		    memcmp(vip->address6, address, 16) == 0)
			return vip;
		slot = (slot + 1) & state->vip6_slot_mask;
	}
}

static inline const struct dplb_vip_entry *dplb_state_find_vip6(const struct dplb_state *state,
								const uint8_t address[16],
								rte_be16_t port, uint8_t protocol)
{
	const struct dplb_vip_entry *vip = dplb_state_probe_vip6(state, address, port, protocol);

	if (vip == NULL)
		vip = dplb_state_probe_vip6(state, address, 0, protocol);
	return vip;
}

/* The fragment index's answer for a 16-byte key (an IPv6 address, or an
 * IPv4 one mapped). */
static inline int32_t dplb_state_fragment_vip_slot(const struct dplb_state *state,
						   const uint8_t address[16], uint8_t protocol)
{
	uint32_t slot = dplb_vip6_slot_hash(address, 0, protocol) & state->fragment_vip_mask;

	for (;;) {
		const struct dplb_fragment_vip *found = &state->fragment_vips[slot];

		if (found->protocol == 0)
			return DPLB_FRAGMENT_VIP_NONE;
		if (found->protocol == protocol && memcmp(found->address, address, 16) == 0)
			return found->index;
		slot = (slot + 1) & state->fragment_vip_mask;
	}
}

/*
 * The VIP a fragment to address (network order) over protocol belongs to
 * when its port is unknown: an index into state->vips when exactly one VIP
 * serves them and follows fragments, else DPLB_FRAGMENT_VIP_NONE, _SEVERAL
 * or _DROPPED.
 */
static inline int32_t dplb_state_fragment_vip(const struct dplb_state *state, uint32_t address,
					      uint8_t protocol)
{
	uint8_t mapped[16];

	dplb_ipv4_mapped(mapped, address);
	return dplb_state_fragment_vip_slot(state, mapped, protocol);
}

/* The same for an IPv6 fragment. Never an IPv4 VIP's: an IPv4-mapped
 * destination is no VIP's (no IPv6 VIP may have one). */
static inline int32_t dplb_state_fragment_vip6(const struct dplb_state *state,
					       const uint8_t address[16], uint8_t protocol)
{
	static const uint8_t mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };

	if (unlikely(memcmp(address, mapped_prefix, sizeof(mapped_prefix)) == 0))
		return DPLB_FRAGMENT_VIP_NONE;
	return dplb_state_fragment_vip_slot(state, address, protocol);
}

#endif
