-- The request script (request.lua) for many processes in one call: stopping or pausing
-- thousands of processes costs one script call per chunk of names instead of one per
-- name. Each name gets exactly what request.lua does for it, in order.
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

local function one(proc, key, alive, channel, log, id)
  local kind = key_type(proc)
  if kind == 'none' then return {'err', 'not_found', '', ''} end
  if kind ~= 'hash' then return {'err', 'corrupt', kind, ''} end
  local h = redis.call('HMGET', proc, 'status', 'last_request_id', 'last_request_seq',
    'request_seq', 'epoch', 'run')
  local status = h[1]
  if not status then return {'err', 'not_found', '', ''} end
  if h[2] == id and to_seq(h[3]) then return {'ok', to_seq(h[3]), status} end
  if final[status] then return {'err', 'ended', status, ''} end
  if key_type(alive) == 'none' then return {'err', 'not_alive', status, ''} end
  local epoch = h[5] or ''
  local counter = to_seq(h[4]) or 0
  local cur = pending_request(get_string(key), epoch, counter)
  if action == 'stop' then
    if cur and cur['action'] == 'stop' then
      return {'err', 'conflict', cur['action'], cur['by']}
    end
  elseif action == 'pause' then
    if cur then return {'err', 'conflict', cur['action'], cur['by']} end
  else
    if cur and cur['action'] == 'stop' then
      return {'err', 'conflict', cur['action'], cur['by']}
    end
    if not cur and status == 'paused' then
      -- An earlier resume is on its way (the target has not reported running yet).
      return {'ok', counter, status}
    end
    if not cur then return {'err', 'not_paused', status, ''} end
  end
  local seq = counter + 1
  redis.call('HSET', proc, 'request_seq', seq, 'last_request_id', id, 'last_request_seq', seq)
  if action == 'resume' then
    clear_request(proc, key)
  else
    write_request(proc, key, {seq = seq, action = action, by = by, at = now, epoch = epoch})
  end
  redis.call(publish, channel, cjson.encode({seq = seq, action = action, by = by,
    epoch = epoch}))
  log_request(log, {event = 'request', action = action, seq = seq, by = by, at = now,
    run = to_seq(h[6]) or 0})
  return {'ok', seq, status}
end

local out = {}
for i = 5, #ARGV do
  local k = 5 * (i - 5)
  out[#out + 1] = one(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], ARGV[i])
end
return out
