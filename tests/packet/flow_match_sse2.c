/*
 * The flow table's key compare built a second time without AVX2
 * (tests/meson.build adds -mno-avx2), so test_flow_table.c, built for
 * cpu_arch and taking the AVX2 path where the machine has it, tests the
 * SSE2 path too. Built for each family, as test_flow_table.c is: for IPv6
 * with FLOW_TEST_IPV6.
 */
#if defined(__AVX2__)
#error "this file is built with -mno-avx2, for the SSE2 path"
#endif

#if defined(FLOW_TEST_IPV6)
#include "packet/flow_table6.h"
#else
#include "packet/flow_table.h"
#endif

unsigned int flow_match_sse2(const struct DPLB_FT(bucket) * bucket, DPLB_FT_KEY client,
			     uint16_t vip_id);
const char *flow_match_sse2_path(void);

unsigned int flow_match_sse2(const struct DPLB_FT(bucket) * bucket, DPLB_FT_KEY client,
			     uint16_t vip_id)
{
	return DPLB_FT(bucket_match)(bucket, client, vip_id);
}

/* The path this file took, for the test's log. */
const char *flow_match_sse2_path(void)
{
#if defined(__SSE2__)
	return "SSE2";
#else
	return "scalar";
#endif
}
