-- wrk script: cycles pre-signed webhook bodies, each request with a fresh X-GitHub-Delivery.
-- Arguments (after `--`): the mix file (lines "event<TAB>signature<TAB>body path") and a
-- delivery-id prefix unique to this run. The signature covers only the body, so the delivery
-- id can change per request while the signature stays valid.

local deliveries = {}
local index = 0
local counter = 0
local prefix = "00000000-0000-0000-0000"

function init(args)
  prefix = args[2]
  for line in io.lines(args[1]) do
    local event, signature, path = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)$")
    local file = assert(io.open(path, "rb"))
    deliveries[#deliveries + 1] = { event = event, signature = signature, body = file:read("*a") }
    file:close()
  end
end

function request()
  index = index % #deliveries + 1
  counter = counter + 1
  local delivery = deliveries[index]
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/bench",
    ["X-GitHub-Event"] = delivery.event,
    ["X-GitHub-Delivery"] = string.format("%s-%012x", prefix, counter),
    ["X-GitHub-Hook-ID"] = "482617325",
    ["X-Hub-Signature-256"] = delivery.signature,
  }
  return wrk.format("POST", wrk.path, headers, delivery.body)
end

-- `done` (the RESULT line read back by bench/intake/wrk.py) is shared with the other scripts.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "result.lua")
