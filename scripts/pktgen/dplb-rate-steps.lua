-- pktgen-dpdk Lua script: step the offered rate against dplb and record what
-- comes back, one line per step, on screen and in a CSV file.
--
--   pktgen -l 0-4 -n 4 -a <pci0> [-a <pci1>] -- -P -m "[1:2].0,[3:4].1" \
--       -f scripts/pktgen/dplb-rate-steps.lua
--
-- Set up the flows first: this script loads dplb-flows.pkt (edit its MAC and
-- addresses) for every sending port. One-armed: RX_PORTS = TX_PORTS, dplb's
-- gateway_mac is pktgen's own port MAC, answers come back where they were
-- sent. Two ports: pktgen TX on port 0, RX on port 1 (dplb's gateway_mac is
-- port 1's MAC, all three on one switch or VLAN).
--
-- How to read the result: for each step, tx_mpps is what pktgen put on the
-- wire, rx_mpps what came back encapsulated, loss_pct the difference. The
-- highest step with loss under LOSS_OK is dplb's throughput for that flow
-- count; a step where rx_mpps stops rising while tx_mpps rises is where dplb
-- (or its NIC queue) saturates. Cross-check with dplb's own counters
-- (curl 127.0.0.1:8080/stats, or dpdk-telemetry.py: /dplb/stats,
-- /dplb/drops): rx_nombuf, imissed and tx_full say which side dropped.
-- At 64 bytes, 100% of 10 Gb/s is 14.88 Mpps; of 25 Gb/s, 37.2 Mpps.

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;scripts/pktgen/?.lua"
require "Pktgen"

local TX_PORTS = "0"          -- ports that send, pktgen portlist syntax
local RX_PORTS = "0"          -- ports whose RX counts dplb's answers
local FLOWS_FILE = "scripts/pktgen/dplb-flows.pkt"
local RATES = { 10, 20, 30, 40, 50, 60, 70, 80, 90, 100 } -- percent of line rate
local WARMUP_MS = 2000        -- per step, before measuring
local MEASURE_MS = 5000       -- per step
local PAUSE_MS = 1000         -- after stopping, for in-flight packets
local LOSS_OK = 0.1           -- percent: a step "passes" below this loss
local CSV = "dplb-rate-steps.csv"

-- Sum of a counter over a portlist ("0", "0,1" or "0-1").
local function total(ports, field)
	local stats = pktgen.portStats(ports, "port")
	local sum = 0
	for port, values in pairs(stats) do
		if type(port) == "number" and type(values) == "table" then
			sum = sum + (values[field] or 0)
		end
	end
	return sum
end

local function snapshot()
	return { tx = total(TX_PORTS, "opackets"), rx = total(RX_PORTS, "ipackets") }
end

local function step(rate)
	pktgen.set(TX_PORTS, "rate", rate)
	pktgen.clr()
	pktgen.start(TX_PORTS)
	pktgen.delay(WARMUP_MS)
	local a = snapshot()
	pktgen.delay(MEASURE_MS)
	local b = snapshot()
	pktgen.stop(TX_PORTS)
	pktgen.delay(PAUSE_MS)
	local seconds = MEASURE_MS / 1000
	local tx = (b.tx - a.tx) / seconds / 1e6
	local rx = (b.rx - a.rx) / seconds / 1e6
	local loss = 0
	if tx > 0 then
		loss = math.max(0, 100 * (tx - rx) / tx)
	end
	return tx, rx, loss
end

local function main()
	pktgen.screen("off")
	pktgen.load(FLOWS_FILE)
	local file = io.open(CSV, "w")
	file:write("rate_pct,tx_mpps,rx_mpps,loss_pct\n")
	printf("\n%8s %10s %10s %9s\n", "rate %", "TX Mpps", "RX Mpps", "loss %")
	local best = nil
	for _, rate in ipairs(RATES) do
		local tx, rx, loss = step(rate)
		printf("%8d %10.3f %10.3f %9.3f\n", rate, tx, rx, loss)
		file:write(string.format("%d,%.4f,%.4f,%.4f\n", rate, tx, rx, loss))
		if loss < LOSS_OK then
			best = { rate = rate, rx = rx }
		end
	end
	file:close()
	if best then
		printf("\nhighest step under %.2f%% loss: %d%% of line rate, %.3f Mpps back\n",
		       LOSS_OK, best.rate, best.rx)
	else
		printf("\nno step under %.2f%% loss: check MACs, the VIP and dplb's drop counters\n",
		       LOSS_OK)
	end
	printf("results in %s\n", CSV)
	pktgen.screen("on")
end

main()
