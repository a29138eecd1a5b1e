/*
 * rtnetlink requests, one socket each: they are rare (start-up, reloads,
 * health transitions), so a socket kept open would only have to be watched
 * for the kernel's unasked-for messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "control/rtnetlink.h"

/* Room for a request's attributes: a few 32-bit values, or an IPv6
 * address and a few more. */
#define ATTRIBUTES_ROOM (4 * RTA_SPACE(16))

static void add_attribute(struct nlmsghdr *header, size_t room, uint16_t type, const void *data,
			  size_t size)
{
	struct rtattr *attribute =
		(struct rtattr *)((char *)header + NLMSG_ALIGN(header->nlmsg_len));

	if (NLMSG_ALIGN(header->nlmsg_len) + RTA_SPACE(size) > room)
		return; /* the request is sized for what it carries: never */
	attribute->rta_type = type;
	attribute->rta_len = (unsigned short)RTA_LENGTH(size);
	memcpy(RTA_DATA(attribute), data, size);
	header->nlmsg_len = (uint32_t)(NLMSG_ALIGN(header->nlmsg_len) + RTA_SPACE(size));
}

/* Send request and wait for the kernel's acknowledgement (NLM_F_ACK).
 * Returns 0 or a negative errno, the kernel's or the socket's. */
static int transact(struct nlmsghdr *request)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	const struct timeval timeout = { .tv_sec = 1 };
	char answer[1024];
	int fd, rc;

	request->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	request->nlmsg_seq = 1;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* The kernel answers at once; a second is only a bound. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	if (sendto(fd, request, request->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) <
	    0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	const ssize_t length = recv(fd, answer, sizeof(answer), 0);
	const struct nlmsghdr *reply = (const struct nlmsghdr *)answer;

	if (length < 0)
		rc = -errno;
	else if (!NLMSG_OK(reply, (size_t)length) || reply->nlmsg_type != NLMSG_ERROR ||
		 reply->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
		rc = -EPROTO;
	else
		rc = ((const struct nlmsgerr *)NLMSG_DATA(reply))->error;
	close(fd);
	return rc;
}

/* An address of family's length (4 or 16 bytes) on ifindex; see
 * dplb_rtnetlink_change_address and dplb_rtnetlink_change_address6. */
static int change_address(int ifindex, uint16_t command, uint8_t family, const void *address,
			  uint32_t prefix_length)
{
	struct {
		struct nlmsghdr header;
		struct ifaddrmsg ifa;
		char attributes[ATTRIBUTES_ROOM];
	} request;
	const size_t length = family == AF_INET6 ? 16 : 4;

	memset(&request, 0, sizeof(request));
	request.header.nlmsg_len = NLMSG_LENGTH(sizeof(request.ifa));
	request.header.nlmsg_type = command;
	if (command == RTM_NEWADDR)
		request.header.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	request.ifa.ifa_family = family;
	request.ifa.ifa_prefixlen = (uint8_t)prefix_length;
	request.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	request.ifa.ifa_index = (uint32_t)ifindex;
	/* dplb answers for the address already: nothing to detect. */
	if (family == AF_INET6)
		request.ifa.ifa_flags = IFA_F_NODAD;
	add_attribute(&request.header, sizeof(request), IFA_LOCAL, address, length);
	add_attribute(&request.header, sizeof(request), IFA_ADDRESS, address, length);
	if (family == AF_INET && prefix_length < 31) {
		uint32_t broadcast;

		memcpy(&broadcast, address, sizeof(broadcast));
		broadcast |= htonl(UINT32_MAX >> prefix_length);
		add_attribute(&request.header, sizeof(request), IFA_BROADCAST, &broadcast,
			      sizeof(broadcast));
	}
	return transact(&request.header);
}

int dplb_rtnetlink_change_address(int ifindex, uint16_t command, uint32_t address,
				  uint32_t prefix_length)
{
	return change_address(ifindex, command, AF_INET, &address, prefix_length);
}

int dplb_rtnetlink_change_address6(int ifindex, uint16_t command, const uint8_t address[16],
				   uint32_t prefix_length)
{
	return change_address(ifindex, command, AF_INET6, address, prefix_length);
}

/* A host route to address (family's length: 4 or 16 bytes) through
 * ifindex in table; see dplb_rtnetlink_change_route. */
static int change_host_route(uint32_t table, uint16_t command, uint8_t family, const void *address,
			     int ifindex)
{
	struct {
		struct nlmsghdr header;
		struct rtmsg rtm;
		char attributes[ATTRIBUTES_ROOM];
	} request;
	const uint32_t oif = (uint32_t)ifindex;
	const bool ipv6 = family == AF_INET6;
	int rc;

	memset(&request, 0, sizeof(request));
	request.header.nlmsg_len = NLMSG_LENGTH(sizeof(request.rtm));
	request.header.nlmsg_type = command;
	if (command == RTM_NEWROUTE)
		request.header.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	request.rtm.rtm_family = family;
	request.rtm.rtm_dst_len = ipv6 ? 128 : 32;
	/* Tables past 255 exist only as RTA_TABLE; the byte says so. */
	request.rtm.rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	request.rtm.rtm_protocol = RTPROT_STATIC;
	/* IPv6 routes have no scope of their own (the kernel keeps universe). */
	if (ipv6)
		request.rtm.rtm_scope = RT_SCOPE_UNIVERSE;
	else
		request.rtm.rtm_scope = command == RTM_NEWROUTE ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
	request.rtm.rtm_type = RTN_UNICAST;
	add_attribute(&request.header, sizeof(request), RTA_DST, address, ipv6 ? 16 : 4);
	add_attribute(&request.header, sizeof(request), RTA_OIF, &oif, sizeof(oif));
	add_attribute(&request.header, sizeof(request), RTA_TABLE, &table, sizeof(table));
	rc = transact(&request.header);
	return command == RTM_DELROUTE && rc == -ESRCH ? 0 : rc;
}

int dplb_rtnetlink_change_route(uint32_t table, uint16_t command, uint32_t address, int ifindex)
{
	return change_host_route(table, command, AF_INET, &address, ifindex);
}

int dplb_rtnetlink_change_route6(uint32_t table, uint16_t command, const uint8_t address[16],
				 int ifindex)
{
	return change_host_route(table, command, AF_INET6, address, ifindex);
}
