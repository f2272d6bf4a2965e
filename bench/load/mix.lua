-- wrk script for bench/load/run.py: one operation per wrk run (`-- get`, `-- create`, …) or a
-- weighted mix (`-- mix`). Users, their tokens (one login each) and their task ids come from
-- the Lua file named by BENCH_DATA, written by run.py. done() prints one JSON line.
local data = dofile(os.getenv("BENCH_DATA"))
local list_query = os.getenv("BENCH_LIST_QUERY") or "page_size=50"
local mix_spec = os.getenv("BENCH_MIX") or "get:35,list:20,create:15,patch:15,complete:10,stats:5"

local counter = 0
local op = "mix"
local mix = {}
local mix_total = 0

local function user()
  counter = counter + 1
  return data.users[(counter % #data.users) + 1]
end

local function task_of(u)
  return u.tasks[math.random(#u.tasks)]
end

local function headers(u, json)
  local h = { ["Authorization"] = "Bearer " .. u.token }
  if json then h["Content-Type"] = "application/json" end
  return h
end

local ops = {
  hello = function() return wrk.format("GET", "/hello") end,
  health = function() return wrk.format("GET", "/health") end,
  get = function(u) return wrk.format("GET", "/v1/tasks/" .. task_of(u), headers(u)) end,
  list = function(u) return wrk.format("GET", "/v1/tasks?" .. list_query, headers(u)) end,
  create = function(u)
    return wrk.format("POST", "/v1/tasks", headers(u, true),
      '{"title":"Load test task","description":"created by bench/load","priority":"high",'
      .. '"tags":["bench","load"],"due_date":"2030-01-15T09:00:00Z"}')
  end,
  patch = function(u)
    local priorities = { "low", "medium", "high" }
    return wrk.format("PATCH", "/v1/tasks/" .. task_of(u), headers(u, true),
      '{"priority":"' .. priorities[math.random(3)] .. '"}')
  end,
  complete = function(u)
    return wrk.format("POST", "/v1/tasks/" .. task_of(u) .. "/complete", headers(u))
  end,
  stats = function(u) return wrk.format("GET", "/v1/stats", headers(u)) end,
}

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

function init(args)
  op = args[1] or "mix"
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  counter = (thread_id or 0) * 7919
  for name, weight in string.gmatch(mix_spec, "(%w+):(%d+)") do
    if ops[name] then
      mix_total = mix_total + tonumber(weight)
      table.insert(mix, { name = name, upto = mix_total })
    end
  end
end

function request()
  local name = op
  if op == "mix" then
    local roll = math.random(mix_total)
    for _, entry in ipairs(mix) do
      if roll <= entry.upto then name = entry.name break end
    end
  end
  return ops[name](user())
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"errors_status":%d,"errors_socket":%d,"errors_connect":%d,"errors_read":%d,'
    .. '"errors_write":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout,
    e.connect, e.read, e.write, e.timeout))
end
