-- wrk script: POST /v1/tasks with one body again and again; each request queues a new task.
-- Arguments (after `--`): the body's file and the API key.

local body = ""
local key = ""

function init(args)
  local file = assert(io.open(args[1], "rb"))
  body = file:read("*a")
  file:close()
  key = args[2]
end

function request()
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }
  return wrk.format("POST", wrk.path, headers, body)
end

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "result.lua")
