/*
 * The few rtnetlink requests dplb makes of the kernel: an address on the
 * exception path's taps (exception_path.c) and a route per announced VIP
 * address (announce.c). Each request waits for the kernel's answer, which
 * it gives before the send returns, so a caller knows at once whether it
 * was done. No DPDK; the management lcore (or any thread).
 */
#ifndef DPLB_RTNETLINK_H
#define DPLB_RTNETLINK_H

#include <stdint.h>

/*
 * Add (RTM_NEWADDR, replacing one that is there) or remove (RTM_DELADDR)
 * address/prefix_length (network order) on interface ifindex, with the
 * subnet's broadcast as "ip address add ... brd +" sets it. Returns 0 or a
 * negative errno.
 */
int dplb_rtnetlink_change_address(int ifindex, uint16_t command, uint32_t address,
				  uint32_t prefix_length);

/* The same for the IPv6 address/prefix_length, without duplicate address
 * detection (the address is dplb's, which answers for it). */
int dplb_rtnetlink_change_address6(int ifindex, uint16_t command, const uint8_t address[16],
				   uint32_t prefix_length);

/*
 * Add (RTM_NEWROUTE, replacing one that is there) or remove (RTM_DELROUTE)
 * the route address/32 (network order) through interface ifindex, scope
 * link, proto static, in kernel routing table table (1..2^31-1). Removing
 * a route that is not there is not an error. Returns 0 or a negative
 * errno.
 */
int dplb_rtnetlink_change_route(uint32_t table, uint16_t command, uint32_t address, int ifindex);

/* The same for the IPv6 route address/128 (scope universe, as IPv6 routes
 * all are). */
int dplb_rtnetlink_change_route6(uint32_t table, uint16_t command, const uint8_t address[16],
				 int ifindex);

#endif
