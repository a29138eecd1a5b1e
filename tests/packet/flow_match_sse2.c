/*
 * dplb_flow_bucket_match built a second time without AVX2 (tests/meson.build
 * adds -mno-avx2), so test_flow_table.c, built for cpu_arch and taking the
 * AVX2 path where the machine has it, tests the SSE2 path too.
 */
#if defined(__AVX2__)
#error "this file is built with -mno-avx2, for the SSE2 path"
#endif

#include "packet/flow_table.h"

unsigned int flow_match_sse2(const struct dplb_flow_bucket *bucket, uint64_t client,
			     uint16_t vip_id);
const char *flow_match_sse2_path(void);

unsigned int flow_match_sse2(const struct dplb_flow_bucket *bucket, uint64_t client,
			     uint16_t vip_id)
{
	return dplb_flow_bucket_match(bucket, client, vip_id);
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
