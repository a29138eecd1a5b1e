/*
 * Building, publishing and reclaiming forwarding snapshots, and the stable
 * ids that let flows and counters outlive any one snapshot.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_hash.h>
#include <rte_jhash.h>

#include "control/neighbor.h"
#include "control/state.h"
#include "health/health_state.h"
#include "packet/schedule.h"

/* ---- stable ids ---- */

/* An IPv4 backend's address fills the first 4 bytes of address, the rest
 * zero, and its family tells it from an IPv6 address that begins so. Ids are
 * rte_hash positions, handed out in the order keys are first added, so
 * they do not depend on the key's size. */
struct backend_identity_key {
	uint8_t address[16];
	uint16_t vip_id;
	uint8_t family;
	uint8_t zero;
};

struct dplb_identities {
	uint32_t vip_count;
	char vip_names[DPLB_MAX_VIP_IDS][DPLB_NAME_MAX];
	struct rte_hash *backends; /* (vip id, address) -> position = id */
};

struct dplb_identities *dplb_identities_create(void)
{
	static unsigned int instance;
	char name[RTE_HASH_NAMESIZE];
	struct dplb_identities *ids = calloc(1, sizeof(*ids));

	if (ids == NULL)
		return NULL;
	snprintf(name, sizeof(name), "dplb_ids_%u", instance++);
	struct rte_hash_parameters params = {
		.name = name,
		.entries = DPLB_MAX_BACKEND_IDS,
		.key_len = sizeof(struct backend_identity_key),
		.hash_func = rte_jhash,
		.socket_id = SOCKET_ID_ANY,
	};
	ids->backends = rte_hash_create(&params);
	if (ids->backends == NULL) {
		free(ids);
		return NULL;
	}
	return ids;
}

void dplb_identities_free(struct dplb_identities *ids)
{
	if (ids == NULL)
		return;
	rte_hash_free(ids->backends);
	free(ids);
}

int dplb_vip_id(struct dplb_identities *ids, const char *name)
{
	for (uint32_t i = 0; i < ids->vip_count; i++)
		if (strcmp(ids->vip_names[i], name) == 0)
			return (int)i;
	if (ids->vip_count == DPLB_MAX_VIP_IDS)
		return -ENOSPC;
	snprintf(ids->vip_names[ids->vip_count], DPLB_NAME_MAX, "%s", name);
	return (int)ids->vip_count++;
}

const char *dplb_vip_id_name(const struct dplb_identities *ids, uint16_t vip_id)
{
	return vip_id < ids->vip_count ? ids->vip_names[vip_id] : NULL;
}

static int backend_id_of(struct dplb_identities *ids, const struct backend_identity_key *k)
{
	const struct backend_identity_key key = *k;
	int32_t position = rte_hash_lookup(ids->backends, &key);

	if (position >= 0)
		return position;
	position = rte_hash_add_key(ids->backends, &key);
	/* rte_hash may hand out positions up to its rounded-up size. */
	if (position >= DPLB_MAX_BACKEND_IDS) {
		rte_hash_del_key(ids->backends, &key);
		return -ENOSPC;
	}
	return position;
}

int dplb_backend_id(struct dplb_identities *ids, uint16_t vip_id, uint32_t address)
{
	struct backend_identity_key key = { .vip_id = vip_id, .family = AF_INET };

	memcpy(key.address, &address, sizeof(address));
	return backend_id_of(ids, &key);
}

int dplb_backend_id6(struct dplb_identities *ids, uint16_t vip_id, const uint8_t address[16])
{
	struct backend_identity_key key = { .vip_id = vip_id, .family = AF_INET6 };

	memcpy(key.address, address, sizeof(key.address));
	return backend_id_of(ids, &key);
}

int dplb_backend_config_id(struct dplb_identities *ids, uint16_t vip_id,
			   const struct dplb_backend_config *backend)
{
	return backend->family == AF_INET6 ? dplb_backend_id6(ids, vip_id, backend->address6)
					   : dplb_backend_id(ids, vip_id, backend->address);
}

/* ---- snapshot building ---- */

/* A configuration shared by the snapshots built from it: a snapshot that
 * only changes next-hop MACs reuses its predecessor's. Reference counts are
 * touched on the management lcore only (building, and freeing after the
 * grace period), so they need no atomics. */
struct dplb_shared_config {
	struct dplb_config *config;
	uint32_t references;
};

static void shared_config_put(struct dplb_shared_config *shared)
{
	if (shared != NULL && --shared->references == 0) {
		dplb_config_free(shared->config);
		free(shared);
	}
}

static void vip_entry_free(struct dplb_vip_entry *vip)
{
	free(vip->maglev);
	free(vip->backend_ids);
	free(vip->up_ids);
	free(vip->wrr_sequence);
	dplb_protect_release(&vip->protection);
}

void dplb_state_free(struct dplb_state *state)
{
	if (state == NULL)
		return;
	for (uint32_t i = 0; i < state->vip_count; i++)
		vip_entry_free(&state->vips[i]);
	free(state->vips);
	free(state->vip_slots);
	free(state->vip_addresses);
	free(state->fragment_vips);
	free(state->vip6_slots);
	free(state->vip6_addresses);
	free(state->backends);
	shared_config_put(state->shared_config);
	free(state);
}

char *dplb_backend_entry_address_text(const struct dplb_backend_entry *backend, char *out)
{
	return dplb_format_ip(backend->family == AF_INET6 ? AF_INET6 : AF_INET, backend->address,
			      backend->address6, out);
}

char *dplb_vip_entry_address_text(const struct dplb_vip_entry *vip, char *out)
{
	return dplb_format_ip(vip->family == AF_INET6 ? AF_INET6 : AF_INET, vip->address,
			      vip->address6, out);
}

uint32_t dplb_next_hop_address(const struct dplb_config *config, uint32_t backend)
{
	bool on_link;

	if (config->prefix_length != 0) {
		const uint32_t mask = rte_cpu_to_be_32(~0u << (32 - config->prefix_length));

		on_link = ((backend ^ config->address) & mask) == 0;
	} else {
		on_link = config->gateway == 0;
	}
	return on_link || config->gateway == 0 ? backend : config->gateway;
}

bool dplb_backend_needs_arp(const struct dplb_config *config, const struct dplb_backend_config *bc)
{
	if (bc->has_mac || bc->family == AF_INET6)
		return false;
	/* A static gateway MAC serves every backend behind the gateway, and
	 * every backend at all when no gateway address is given. */
	if (config->has_gateway_mac &&
	    (config->gateway == 0 || dplb_next_hop_address(config, bc->address) == config->gateway))
		return false;
	return true;
}

/* dplb_next_hop_address's rule, on the IPv6 keys. */
void dplb_next_hop_address6(const struct dplb_config *config, const uint8_t backend[16],
			    uint8_t out[16])
{
	bool on_link;

	if (config->prefix_length6 != 0 && config->has_address6)
		on_link = dplb_ipv6_same_prefix(backend, config->address6, config->prefix_length6);
	else
		on_link = !config->has_gateway6;
	memcpy(out, on_link || !config->has_gateway6 ? backend : config->gateway6, 16);
}

bool dplb_backend_needs_nd(const struct dplb_config *config, const struct dplb_backend_config *bc)
{
	uint8_t next_hop[16];

	if (bc->has_mac || bc->family != AF_INET6)
		return false;
	/* As gateway_mac for IPv4: the gateway6's MAC, or every IPv6 next
	 * hop's when no gateway6 is given. */
	if (!config->has_gateway_mac6)
		return true;
	if (!config->has_gateway6)
		return false;
	dplb_next_hop_address6(config, bc->address6, next_hop);
	return memcmp(next_hop, config->gateway6, 16) != 0;
}

/* Static MACs first, then what ARP or ND has learned; no MAC means the
 * backend's packets are dropped as no_next_hop, never sent to a guessed
 * address. */
static void set_next_hop(struct dplb_backend_entry *backend, const struct dplb_backend_config *bc,
			 const struct dplb_config *config, const struct dplb_state_inputs *inputs)
{
	const struct dplb_neighbors *neighbors = inputs != NULL ? inputs->neighbors : NULL;
	const struct dplb_neighbors6 *neighbors6 = inputs != NULL ? inputs->neighbors6 : NULL;
	const uint8_t *mac = NULL;
	uint8_t next_hop6[16];

	if (bc->has_mac) {
		mac = bc->mac;
	} else if (bc->family == AF_INET6) {
		if (!dplb_backend_needs_nd(config, bc)) {
			mac = config->gateway_mac6;
		} else if (neighbors6 != NULL) {
			dplb_next_hop_address6(config, bc->address6, next_hop6);
			mac = dplb_neighbors6_lookup(neighbors6, next_hop6);
		}
	} else if (!dplb_backend_needs_arp(config, bc)) {
		mac = config->gateway_mac;
	} else if (neighbors != NULL) {
		mac = dplb_neighbors_lookup(neighbors, dplb_next_hop_address(config, bc->address));
	}
	if (mac != NULL) {
		memcpy(backend->next_hop_mac.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
		backend->has_next_hop = 1;
	}
}

/* Operator state, health and slow start make what the workers act on. */
static void set_health(struct dplb_backend_entry *backend, const struct dplb_backend_config *bc,
		       const struct dplb_backend_health *health)
{
	const uint32_t percent =
		health != NULL && health->weight_percent != 0 ? health->weight_percent : 100;

	backend->health = health != NULL ? health->status : DPLB_HEALTH_UNCHECKED;
	backend->keeps_flows =
		dplb_backend_keeps_flows(bc->state, (enum dplb_health_status)backend->health);
	backend->takes_new_flows =
		dplb_backend_takes_new_flows(bc->state, (enum dplb_health_status)backend->health);
	backend->table_weight = dplb_slow_start_weight(bc->weight, percent);
}

/* The protocol of an IPv4 outer header around vip's packets: UDP for GUE,
 * else what the client's packets are (IPv4 in IPv4, IPv6 in IPv4). */
static uint8_t outer_protocol(const struct dplb_vip_entry *vip)
{
	if (vip->encap == DPLB_ENCAP_GUE)
		return IPPROTO_UDP;
	return vip->family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
}

static int build_vip(struct dplb_state *state, uint32_t index, struct dplb_identities *ids,
		     const struct dplb_state_inputs *inputs, char *error)
{
	const struct dplb_vip_config *vc = &state->config->vips[index];
	struct dplb_vip_entry *vip = &state->vips[index];
	int id = dplb_vip_id(ids, vc->name);

	if (id < 0) {
		snprintf(error, DPLB_ERROR_MAX,
			 "vip %s: too many VIPs over this process's life (%d)", vc->name,
			 DPLB_MAX_VIP_IDS);
		return id;
	}
	vip->id = (uint16_t)id;
	vip->config = vc;
	vip->family = vc->family == AF_INET6 ? AF_INET6 : AF_INET;
	vip->address = vip->family == AF_INET6 ? 0 : vc->address;
	if (vip->family == AF_INET6)
		memcpy(vip->address6, vc->address6, sizeof(vip->address6));
	vip->port = rte_cpu_to_be_16(vc->port);
	vip->protocol = vc->protocol;
	vip->encap = (uint8_t)vc->encap;
	vip->fragments = (uint8_t)vc->fragments;
	vip->scheduler = (uint8_t)vc->scheduler;
	vip->table_full_drop = vc->table_full == DPLB_TABLE_FULL_DROP;
	vip->mss_clamp = (uint16_t)vc->mss_clamp;
	vip->maglev_size = vc->maglev_size;
	vip->backend_count = vc->backend_count;
	uint32_t operator_up = 0; /* up by the operator's word, but unhealthy */

	vip->backend_ids = calloc(vc->backend_count ? vc->backend_count : 1, sizeof(uint32_t));
	vip->up_ids = calloc(vc->backend_count ? vc->backend_count : 1, sizeof(uint32_t));
	if (vip->backend_ids == NULL || vip->up_ids == NULL)
		return -ENOMEM;

	for (uint32_t b = 0; b < vc->backend_count; b++) {
		const struct dplb_backend_config *bc = &vc->backends[b];
		int backend_id = dplb_backend_config_id(ids, vip->id, bc);

		if (backend_id < 0) {
			snprintf(error, DPLB_ERROR_MAX,
				 "vip %s: too many backends over this process's life (%d)",
				 vc->name, DPLB_MAX_BACKEND_IDS);
			return backend_id;
		}
		if ((uint32_t)backend_id >= state->backend_id_limit) {
			snprintf(error, DPLB_ERROR_MAX, "internal: backend id %d beyond limit",
				 backend_id);
			return -ERANGE;
		}
		struct dplb_backend_entry *backend = &state->backends[backend_id];
		backend->family = bc->family == AF_INET6 ? AF_INET6 : AF_INET;
		backend->address = backend->family == AF_INET6 ? 0 : bc->address;
		if (backend->family == AF_INET6)
			memcpy(backend->address6, bc->address6, sizeof(backend->address6));
		backend->vip_id = vip->id;
		backend->present = 1;
		backend->state = (uint8_t)bc->state;
		backend->weight = bc->weight;
		set_next_hop(backend, bc, state->config, inputs);
		if (backend->family == AF_INET)
			dplb_encap_header4_make(&backend->header4, &backend->next_hop_mac,
						state->local_address, backend->address,
						outer_protocol(vip));
		set_health(backend, bc,
			   inputs && inputs->health ? &inputs->health[backend_id] : NULL);
		vip->backend_ids[b] = (uint32_t)backend_id;
		if (backend->takes_new_flows)
			vip->up_ids[vip->up_count++] = (uint32_t)backend_id;
		if (backend->health == DPLB_HEALTH_UNHEALTHY) {
			vip->unhealthy_count++;
			operator_up += bc->state == DPLB_BACKEND_UP;
		}
	}
	vip->no_healthy_backend = vip->up_count == 0 && operator_up > 0;
	const int rc =
		dplb_protect_build(&vip->protection, vc, inputs ? inputs->workers : 1, error);

	if (rc != 0)
		return rc;
	/* The scheduler tables come later: dplb_state_build_tables. */
	return 0;
}

/* The set of VIP addresses (dplb_state_is_vip_address): several VIPs may
 * share one, which is stored once. A valid configuration has no VIP at
 * 0.0.0.0, the empty slot. */
static int index_vip_addresses(struct dplb_state *state)
{
	const uint32_t slots = rte_align32pow2(state->vip_count * 2 + 16);

	state->vip_addresses = calloc(slots, sizeof(*state->vip_addresses));
	if (state->vip_addresses == NULL)
		return -ENOMEM;
	state->vip_address_mask = slots - 1;
	for (uint32_t i = 0; i < state->vip_count; i++) {
		const uint32_t address = state->vips[i].address;
		uint32_t slot = dplb_vip_slot_hash(address, 0, 0) & state->vip_address_mask;

		if (state->vips[i].family != AF_INET || address == 0)
			continue;
		while (state->vip_addresses[slot] != 0 && state->vip_addresses[slot] != address)
			slot = (slot + 1) & state->vip_address_mask;
		state->vip_addresses[slot] = address;
	}
	return 0;
}

/*
 * The index of dplb_state_fragment_vip. A fragment other than the first
 * has no ports, so when it must be placed without its first (which named
 * the VIP by port), only the destination address and protocol are left:
 * they name a VIP only when exactly one serves them. With several (web on
 * port 80 and another on 443 of one address), a port-less fragment could
 * belong to any: guessing would hand one service's datagrams to another's
 * backends, so such fragments are placed only through their first.
 */
static int index_fragment_vips(struct dplb_state *state)
{
	const uint32_t slots = rte_align32pow2(state->vip_count * 2 + 16);

	state->fragment_vips = calloc(slots, sizeof(*state->fragment_vips));
	if (state->fragment_vips == NULL)
		return -ENOMEM;
	state->fragment_vip_mask = slots - 1;
	for (uint32_t i = 0; i < state->vip_count; i++) {
		const struct dplb_vip_entry *vip = &state->vips[i];
		const bool follows = vip->fragments == DPLB_FRAGMENTS_FOLLOW;
		struct dplb_fragment_vip *entry;
		uint8_t address[16];

		if (vip->family == AF_INET6)
			memcpy(address, vip->address6, sizeof(address));
		else if (vip->address != 0)
			dplb_ipv4_mapped(address, vip->address);
		else
			continue;
		uint32_t slot =
			dplb_vip6_slot_hash(address, 0, vip->protocol) & state->fragment_vip_mask;

		for (;;) {
			entry = &state->fragment_vips[slot];
			if (entry->protocol == 0 || (entry->protocol == vip->protocol &&
						     memcmp(entry->address, address, 16) == 0))
				break;
			slot = (slot + 1) & state->fragment_vip_mask;
		}
		if (entry->protocol == 0) {
			memcpy(entry->address, address, sizeof(entry->address));
			entry->protocol = vip->protocol;
			entry->index = follows ? (int32_t)i : DPLB_FRAGMENT_VIP_DROPPED;
			continue;
		}
		entry->index = follows || entry->index != DPLB_FRAGMENT_VIP_DROPPED
				       ? DPLB_FRAGMENT_VIP_SEVERAL
				       : DPLB_FRAGMENT_VIP_DROPPED;
	}
	return 0;
}

/* An open-addressed table of slots VIP indexes, all -1 (empty). */
static int32_t *empty_slots(uint32_t slots)
{
	int32_t *table = malloc(slots * sizeof(*table));

	for (uint32_t i = 0; table != NULL && i < slots; i++)
		table[i] = -1;
	return table;
}

/* The IPv6 VIPs' two indexes: (address6, port, protocol) for
 * dplb_state_find_vip6, and each address6 once for
 * dplb_state_is_vip_address6. */
static int index_vips6(struct dplb_state *state, char *error)
{
	const uint32_t slots = rte_align32pow2(state->vip_count * 4 + 16);
	const uint32_t address_slots = rte_align32pow2(state->vip_count * 2 + 16);

	state->vip6_slots = empty_slots(slots);
	state->vip6_addresses = empty_slots(address_slots);
	if (state->vip6_slots == NULL || state->vip6_addresses == NULL)
		return -ENOMEM;
	state->vip6_slot_mask = slots - 1;
	state->vip6_address_mask = address_slots - 1;
	for (uint32_t i = 0; i < state->vip_count; i++) {
		const struct dplb_vip_entry *vip = &state->vips[i];
		uint32_t slot = dplb_vip6_slot_hash(vip->address6, vip->port, vip->protocol) &
				state->vip6_slot_mask;

		if (vip->family != AF_INET6)
			continue;
		if (dplb_state_probe_vip6(state, vip->address6, vip->port, vip->protocol) != NULL) {
			snprintf(error, DPLB_ERROR_MAX,
				 "vip %s: same address, port and protocol as another",
				 vip->config->name);
			return -EEXIST;
		}
		while (state->vip6_slots[slot] >= 0)
			slot = (slot + 1) & state->vip6_slot_mask;
		state->vip6_slots[slot] = (int32_t)i;
		if (dplb_state_is_vip_address6(state, vip->address6))
			continue;
		slot = dplb_vip6_slot_hash(vip->address6, 0, 0) & state->vip6_address_mask;
		while (state->vip6_addresses[slot] >= 0)
			slot = (slot + 1) & state->vip6_address_mask;
		state->vip6_addresses[slot] = (int32_t)i;
	}
	return 0;
}

static int index_vips(struct dplb_state *state, char *error)
{
	uint32_t slots = rte_align32pow2(state->vip_count * 4 + 16);

	state->vip_slots = empty_slots(slots);
	if (state->vip_slots == NULL)
		return -ENOMEM;
	state->vip_slot_mask = slots - 1;
	for (uint32_t i = 0; i < state->vip_count; i++) {
		const struct dplb_vip_entry *vip = &state->vips[i];
		uint32_t slot = dplb_vip_slot_hash(vip->address, vip->port, vip->protocol) &
				state->vip_slot_mask;

		if (vip->family != AF_INET)
			continue;
		if (dplb_state_probe_vip(state, vip->address, vip->port, vip->protocol) != NULL) {
			snprintf(error, DPLB_ERROR_MAX,
				 "vip %s: same address, port and protocol as another",
				 vip->config->name);
			return -EEXIST;
		}
		while (state->vip_slots[slot] >= 0)
			slot = (slot + 1) & state->vip_slot_mask;
		state->vip_slots[slot] = (int32_t)i;
	}
	int rc = index_fragment_vips(state);

	if (rc == 0)
		rc = index_vip_addresses(state);
	return rc != 0 ? rc : index_vips6(state, error);
}

/* Everything but the scheduler tables; on failure state is freed. */
static int prepare_state(struct dplb_shared_config *shared, struct dplb_identities *ids,
			 const struct dplb_state_inputs *inputs, uint64_t generation,
			 struct dplb_state **out, char *error)
{
	struct dplb_state *state = calloc(1, sizeof(*state));
	struct dplb_config *config = shared->config;
	int rc = -ENOMEM;

	error[0] = '\0';
	if (state == NULL) {
		shared_config_put(shared);
		goto fail;
	}
	state->shared_config = shared;
	state->config = config;
	state->generation = generation;
	state->vip_count = config->vip_count;
	state->local_address = config->address;
	state->has_local_address6 = config->has_address6;
	memcpy(state->local_address6, config->address6, sizeof(state->local_address6));
	state->gue_port = rte_cpu_to_be_16(config->gue_port);
	state->mtu = config->mtu;
	state->tcp_timeout = config->tcp_timeout;
	state->udp_timeout = config->udp_timeout;
	state->tcp_closing_timeout = config->tcp_closing_timeout;
	state->tcp_syn_timeout = config->tcp_syn_timeout;
	/* Sized for every id that could be handed out, so a backend added by a
	 * later snapshot never indexes past an older one's array. */
	state->backend_id_limit = DPLB_MAX_BACKEND_IDS;
	state->backends = calloc(state->backend_id_limit, sizeof(*state->backends));
	state->vips = calloc(config->vip_count ? config->vip_count : 1, sizeof(*state->vips));
	if (state->backends == NULL || state->vips == NULL)
		goto fail;
	for (uint32_t i = 0; i < config->vip_count; i++) {
		rc = build_vip(state, i, ids, inputs, error);
		if (rc != 0)
			goto fail;
	}
	rc = index_vips(state, error);
	if (rc != 0)
		goto fail;
	*out = state;
	return 0;
fail:
	if (error[0] == '\0')
		snprintf(error, DPLB_ERROR_MAX, "cannot build forwarding state: %s", strerror(-rc));
	dplb_state_free(state);
	return rc;
}

/* Slots of every VIP's Maglev table above which a build goes to a thread
 * (a few milliseconds of the management lcore at most). */
#define BIG_TABLES_SLOTS (1u << 20)

bool dplb_state_tables_are_big(const struct dplb_state *state)
{
	uint64_t slots = 0;

	for (uint32_t i = 0; i < state->vip_count; i++)
		slots += state->vips[i].maglev_size;
	return slots > BIG_TABLES_SLOTS;
}

/*
 * The slow part of a snapshot: Maglev tables of up to DPLB_MAX_MAGLEV_SIZE
 * slots, and WRR sequences. Reads the snapshot's backends and
 * configuration, writes its VIPs' tables, and allocates with plain malloc:
 * nothing of DPDK's, nothing shared, so any thread can run it
 * (state_builder.c does, off the management lcore).
 */
int dplb_state_build_tables(struct dplb_state *state, char *error)
{
	error[0] = '\0';
	for (uint32_t i = 0; i < state->vip_count; i++) {
		int rc = dplb_schedule_build(&state->vips[i], state, error);

		if (rc != 0) {
			if (error[0] == '\0')
				snprintf(error, DPLB_ERROR_MAX, "cannot build forwarding state: %s",
					 strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* Both halves, as one call on the management lcore. */
static int build_state(struct dplb_shared_config *shared, struct dplb_identities *ids,
		       const struct dplb_state_inputs *inputs, uint64_t generation,
		       struct dplb_state **out, char *error)
{
	int rc = prepare_state(shared, ids, inputs, generation, out, error);

	if (rc == 0) {
		rc = dplb_state_build_tables(*out, error);
		if (rc != 0) {
			dplb_state_free(*out);
			*out = NULL;
		}
	}
	return rc;
}

static struct dplb_shared_config *share_config(struct dplb_config *config, char *error)
{
	struct dplb_shared_config *shared = malloc(sizeof(*shared));

	if (shared == NULL) {
		dplb_config_free(config);
		snprintf(error, DPLB_ERROR_MAX, "cannot build forwarding state: %s",
			 strerror(ENOMEM));
		return NULL;
	}
	shared->config = config;
	shared->references = 1;
	return shared;
}

int dplb_state_build_with(struct dplb_config *config, struct dplb_identities *ids,
			  const struct dplb_state_inputs *inputs, uint64_t generation,
			  struct dplb_state **out, char *error)
{
	struct dplb_shared_config *shared = share_config(config, error);

	return shared != NULL ? build_state(shared, ids, inputs, generation, out, error) : -ENOMEM;
}

int dplb_state_prepare(struct dplb_config *config, struct dplb_identities *ids,
		       const struct dplb_state_inputs *inputs, uint64_t generation,
		       struct dplb_state **out, char *error)
{
	struct dplb_shared_config *shared = share_config(config, error);

	return shared != NULL ? prepare_state(shared, ids, inputs, generation, out, error)
			      : -ENOMEM;
}

int dplb_state_build(struct dplb_config *config, struct dplb_identities *ids, uint64_t generation,
		     struct dplb_state **out, char *error)
{
	return dplb_state_build_with(config, ids, NULL, generation, out, error);
}

int dplb_state_rebuild(const struct dplb_state *current, struct dplb_identities *ids,
		       const struct dplb_state_inputs *inputs, uint64_t generation,
		       struct dplb_state **out, char *error)
{
	current->shared_config->references++;
	return build_state(current->shared_config, ids, inputs, generation, out, error);
}

int dplb_state_prepare_rebuild(const struct dplb_state *current, struct dplb_identities *ids,
			       const struct dplb_state_inputs *inputs, uint64_t generation,
			       struct dplb_state **out, char *error)
{
	current->shared_config->references++;
	return prepare_state(current->shared_config, ids, inputs, generation, out, error);
}

/* ---- publishing ---- */

struct dplb_publisher {
	struct dplb_state *current; /* accessed with __atomic builtins */
	struct rte_rcu_qsbr *rcu;
	struct rte_rcu_qsbr_dq *retired;
};

static void free_retired_states(void *unused, void *elements, unsigned int count)
{
	struct dplb_state **states = elements;

	RTE_SET_USED(unused);
	for (unsigned int i = 0; i < count; i++)
		dplb_state_free(states[i]);
}

struct dplb_publisher *dplb_publisher_create(struct rte_rcu_qsbr *rcu, uint32_t max_pending)
{
	static unsigned int instance;
	char name[RTE_RING_NAMESIZE];
	struct dplb_publisher *pub = calloc(1, sizeof(*pub));

	if (pub == NULL)
		return NULL;
	snprintf(name, sizeof(name), "dplb_retired_%u", instance++);
	struct rte_rcu_qsbr_dq_parameters params = {
		.name = name,
		.flags = RTE_RCU_QSBR_DQ_MT_UNSAFE, /* management lcore only */
		.size = max_pending,
		.esize = sizeof(struct dplb_state *),
		.trigger_reclaim_limit = 1,
		.max_reclaim_size = max_pending,
		.free_fn = free_retired_states,
		.v = rcu,
	};
	pub->rcu = rcu;
	pub->retired = rte_rcu_qsbr_dq_create(&params);
	if (pub->retired == NULL) {
		free(pub);
		return NULL;
	}
	return pub;
}

void dplb_publisher_free(struct dplb_publisher *pub)
{
	if (pub == NULL)
		return;
	/* Workers have stopped: everything retired can go. */
	rte_rcu_qsbr_dq_delete(pub->retired);
	dplb_state_free(pub->current);
	free(pub);
}

int dplb_publish(struct dplb_publisher *pub, struct dplb_state *state)
{
	struct dplb_state *old = __atomic_exchange_n(&pub->current, state, __ATOMIC_ACQ_REL);

	if (old == NULL)
		return 0;
	/* Enqueue reclaims what it can first; if the queue is still full, the
	 * workers are stuck, and waiting is the only safe choice. */
	if (rte_rcu_qsbr_dq_enqueue(pub->retired, &old) != 0) {
		rte_rcu_qsbr_synchronize(pub->rcu, RTE_QSBR_THRID_INVALID);
		dplb_state_free(old);
	}
	return 0;
}

void dplb_publisher_reclaim(struct dplb_publisher *pub)
{
	unsigned int freed, pending, available;

	rte_rcu_qsbr_dq_reclaim(pub->retired, UINT32_MAX, &freed, &pending, &available);
}

struct dplb_state *dplb_current_state(const struct dplb_publisher *pub)
{
	return __atomic_load_n(&pub->current, __ATOMIC_ACQUIRE);
}
