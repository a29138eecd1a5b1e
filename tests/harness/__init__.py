"""What the tests share, imported as harness.* from any test folder
(pytest.ini puts tests/ on the import path):

  dplb_harness    the real dplb on net_pcap: configs, captures, FIFOs, its API
  apitest         the HTTP API tests' configuration, traffic and readers
  e2e_testbed     the namespace testbed of the end-to-end tests
  dplb_telemetry  a client of DPDK's telemetry socket
  polling         waiting for a condition, never for a fixed time
  processes       free ports, and what a failure says about a process
                  (exit status, last output, its threads' stacks)

dpdk_test.h is the C counterpart for the Criterion tests that start an EAL.
No name here starts with "test", so pytest collects none of it.
"""
