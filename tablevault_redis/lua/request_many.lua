-- The request script (request.lua) for many processes in one call: stopping or pausing
-- thousands of processes costs one script call per chunk of names instead of one per
-- name. Each name gets exactly what request.lua does for it (the prelude's
-- request_one, which both run), in order.
-- KEYS  five per process: proc hash, request key, alive key, control channel,
--       request history (as request.lua's KEYS[1] to KEYS[5])
-- ARGV[1] action: stop | pause | resume   ARGV[2] who asks   ARGV[3] now (epoch s)
-- ARGV[4] publish command: PUBLISH or SPUBLISH
-- ARGV[5..] one request id per process (as request.lua's ARGV[5])
-- Returns one entry per process, as request.lua returns: {"ok", seq, status} or
-- {"err", reason, detail1, detail2}. All the keys must be in one slot on a cluster, so
-- there the client runs request.lua per process instead.
-- `final` and the helpers are defined by the prelude scripts.py puts first.
local action, by, now, publish = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if action ~= 'stop' and action ~= 'pause' and action ~= 'resume' then
  return redis.error_reply('unknown action ' .. action)
end
if #KEYS ~= 5 * (#ARGV - 4) then
  return redis.error_reply('request_many: five keys per request id')
end

local out = {}
for i = 5, #ARGV do
  local k = 5 * (i - 5)
  out[#out + 1] = request_one(action, by, now, publish, KEYS[k + 1], KEYS[k + 2],
    KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], ARGV[i])
end
return out
