-- pktgen-dpdk Lua script: step the offered rate against dplb and record what
-- comes back, one line per step, on screen and in a CSV file; then quit.
--
--   pktgen -l 0-2 -n 4 -a <pci0> [-a <pci1>] -- -P -m "[1:2].0,[3:4].1" \
--       -f scripts/pktgen/dplb-rate-steps.lua
--
-- Run it from dplb's checkout (the paths below are relative to it). It needs
-- nothing from pktgen's tree: no `require "Pktgen"`, so no LUA_PATH.
-- docs/benchmarking.md has the build recipe for pktgen 24.03.1 on DPDK 22.11
-- and the one-machine memif set-up; scripts/pktgen/run-memif runs this
-- script against dplb and against testpmd over memif.
--
-- Settings come from the environment (defaults in brackets):
--   DPLB_PKTGEN_FLOWS    command file to load first, "" for none
--                        [scripts/pktgen/dplb-flows.pkt]
--   DPLB_PKTGEN_TX_PORTS ports that send, pktgen portlist syntax ["0"]
--   DPLB_PKTGEN_RX_PORTS ports whose RX counts dplb's answers ["0"]
--   DPLB_PKTGEN_RATES    percent of the port's link speed, comma separated
--                        ["10,20,30,40,50,60,70,80,90,100"]
--   DPLB_PKTGEN_WARMUP_MS per step, before measuring [2000]
--   DPLB_PKTGEN_MEASURE_S per step, whole seconds of pktgen's counters [5]
--   DPLB_PKTGEN_CSV      where the table goes [dplb-rate-steps.csv]
--   DPLB_PKTGEN_LINK_TIMEOUT_S  how long to wait for link-up [60]
--   DPLB_PKTGEN_QUIT     "no" to stay at pktgen's prompt afterwards [yes]
--
-- One-armed: RX_PORTS = TX_PORTS, dplb's gateway_mac is pktgen's own port
-- MAC, answers come back where they were sent. Two ports: pktgen TX on port
-- 0, RX on port 1 (dplb's gateway_mac is port 1's MAC, all three on one
-- switch or VLAN).
--
-- The rate is a percentage of the speed the port reports when it is set,
-- with a 64-byte packet counted as 60 + 20 bytes: 100% of 10 Gb/s asks for
-- 15.6 Mpps (line rate is 14.88), of 25 Gb/s 39.1. memif (DPDK 22.11)
-- reports 100 Gb/s, so there 1% asks for 1.56 Mpps and every step above a
-- few percent just means "as fast as pktgen's core goes": read the measured
-- TX column, not the percentage. pktgen's own target is "asked Mpps".
--
-- How to read the result: tx_mpps is what pktgen put on the wire, rx_mpps
-- what came back encapsulated, loss_pct the difference. The highest step
-- with loss under LOSS_OK is dplb's throughput for that flow count; a step
-- where rx_mpps stops rising while tx_mpps rises is where dplb (or its NIC
-- queue) saturates. Cross-check with dplb's own counters (curl
-- 127.0.0.1:8080/stats, or dpdk-telemetry.py: /dplb/stats, /dplb/drops):
-- rx_nombuf, imissed and tx_full say which side dropped; new_flows and
-- flows_active say how many flows it really saw.

local function env(name, default)
	local value = os.getenv(name)
	if value == nil then
		return default
	end
	return value
end

local function printf(...)
	io.write(string.format(...))
	io.flush()
end

local TX_PORTS = env("DPLB_PKTGEN_TX_PORTS", "0")
local RX_PORTS = env("DPLB_PKTGEN_RX_PORTS", "0")
local FLOWS_FILE = env("DPLB_PKTGEN_FLOWS", "scripts/pktgen/dplb-flows.pkt")
local WARMUP_MS = tonumber(env("DPLB_PKTGEN_WARMUP_MS", "2000"))
local MEASURE_S = tonumber(env("DPLB_PKTGEN_MEASURE_S", "5"))
local CSV = env("DPLB_PKTGEN_CSV", "dplb-rate-steps.csv")
local LINK_TIMEOUT_S = tonumber(env("DPLB_PKTGEN_LINK_TIMEOUT_S", "60"))
local QUIT = env("DPLB_PKTGEN_QUIT", "yes") ~= "no"
local PAUSE_MS = 1000 -- after stopping, for in-flight packets
local LOSS_OK = 0.1 -- percent: a step "passes" below this loss

local RATES = {}
for rate in string.gmatch(env("DPLB_PKTGEN_RATES", "10,20,30,40,50,60,70,80,90,100"), "[^,%s]+") do
	table.insert(RATES, tonumber(rate))
end

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

-- pktgen reads the ports' counters once a second (its timer thread) and
-- portStats returns that copy. Measure between two such reads, whole
-- seconds apart, so that no partial second is counted: wait for TX to
-- change, which it does at every read while sending.
local function next_tick(previous)
	for _ = 1, 300 do -- 1.5 s at most: no change means nothing was sent
		pktgen.delay(5)
		local now = snapshot()
		if now.tx ~= previous.tx then
			return now
		end
	end
	return snapshot()
end

-- Whether every port in the lists reports link up. pktgen refreshes the
-- link state only while it draws its screen (or while a port has no rate
-- yet), so the screen stays on until the links are up.
local function links_up()
	for _, ports in ipairs({ TX_PORTS, RX_PORTS }) do
		for port, state in pairs(pktgen.linkState(ports)) do
			if type(port) == "number" and not string.find(state, "UP", 1, true) then
				return false
			end
		end
	end
	return true
end

local function wait_for_links()
	printf("dplb-rate-steps: waiting for link-up on ports %s and %s\n", TX_PORTS, RX_PORTS)
	for _ = 1, LINK_TIMEOUT_S * 10 do
		if links_up() then
			return true
		end
		pktgen.delay(100)
	end
	return false
end

local function asked_mpps()
	local sum = 0
	for port, values in pairs(pktgen.portInfo(TX_PORTS)) do
		if type(port) == "number" and type(values) == "table" then
			sum = sum + (((values.info or {}).tx_debug or {}).tx_pps or 0)
		end
	end
	return sum / 1e6
end

local function step(rate)
	pktgen.set(TX_PORTS, "rate", rate)
	local asked = asked_mpps()
	pktgen.clr()
	pktgen.start(TX_PORTS)
	pktgen.delay(WARMUP_MS)
	-- These two lines let a runner (run-memif) read the ports' counters
	-- itself over the same stretch of steady sending.
	printf("dplb-rate-steps: measuring %g\n", rate)
	local a = next_tick(snapshot())
	local b = a
	for _ = 1, MEASURE_S do
		b = next_tick(b)
	end
	printf("dplb-rate-steps: measured %g\n", rate)
	pktgen.delay(200)
	pktgen.stop(TX_PORTS)
	pktgen.delay(PAUSE_MS)
	local tx = (b.tx - a.tx) / MEASURE_S / 1e6
	local rx = (b.rx - a.rx) / MEASURE_S / 1e6
	local loss = 0
	if tx > 0 then
		loss = math.max(0, 100 * (tx - rx) / tx)
	end
	return asked, tx, rx, loss
end

local function run()
	if not wait_for_links() then
		printf("dplb-rate-steps: no link-up within %d s: is the other side running?\n",
		       LINK_TIMEOUT_S)
		return
	end
	pktgen.screen("off")
	printf("dplb-rate-steps: links up\n")
	if FLOWS_FILE ~= "" then
		pktgen.load(FLOWS_FILE)
	end
	local file = io.open(CSV, "w")
	file:write("rate_pct,asked_mpps,tx_mpps,rx_mpps,loss_pct\n")
	printf("\n%8s %11s %10s %10s %9s\n", "rate %", "asked Mpps", "TX Mpps", "RX Mpps", "loss %")
	local best = nil
	for _, rate in ipairs(RATES) do
		local asked, tx, rx, loss = step(rate)
		printf("%8g %11.3f %10.3f %10.3f %9.3f\n", rate, asked, tx, rx, loss)
		file:write(string.format("%g,%.4f,%.4f,%.4f,%.4f\n", rate, asked, tx, rx, loss))
		file:flush()
		if loss < LOSS_OK then
			best = { rate = rate, rx = rx }
		end
	end
	file:close()
	if best then
		printf("\nhighest step under %.2f%% loss: %g%% of link speed, %.3f Mpps back\n",
		       LOSS_OK, best.rate, best.rx)
	else
		printf("\nno step under %.2f%% loss: check MACs, the VIP and dplb's drop counters\n",
		       LOSS_OK)
	end
	printf("dplb-rate-steps: results in %s\n", CSV)
end

run()
if QUIT then
	pktgen.quit()
else
	pktgen.screen("on")
end
