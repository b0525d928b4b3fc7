-- wrk script for settle_throughput: settleInvoice(CASH) with a new
-- idempotency key each; invoice ids and the token come from the environment.
local invoices = {}
for id in string.gmatch(os.getenv("BENCH_INVOICES") or "", "[^,]+") do
  invoices[#invoices + 1] = id
end
local token = os.getenv("BENCH_TOKEN") or ""
local query = "mutation($i: SettleInvoiceInput!) { settleInvoice(input: $i) "
  .. "{ alreadySettled errors { code } payment { id } } }"
local threads = {}
local counter = 0
local failures = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  threads[#threads + 1] = thread
end

function request()
  counter = counter + 1
  local invoice = invoices[(counter % #invoices) + 1]
  local key = string.format("wrk-%d-%d-%d", tid, counter, math.random(1, 1000000000))
  local body = '{"query": "' .. query .. '", "variables": {"i": {"invoiceId": "'
    .. invoice .. '", "method": "CASH", "amount": "1.00", "idempotencyKey": "'
    .. key .. '"}}}'
  return wrk.format("POST", "/graphql", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"errors":[]', 1, true) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + (thread:get("failures") or 0)
  end
  io.write(string.format(
    '{"done": %d, "errors": %d, "seconds": %.3f, "p50_ms": %.2f, "p99_ms": %.2f}\n',
    summary.requests - failed, failed, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
