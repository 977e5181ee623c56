-- The request script (request.lua) for many processes in one call: stopping or pausing
-- thousands of processes costs one script call per chunk of names instead of one per
-- name. Each name gets exactly what request.lua does for it (replies, keys, fields,
-- notification, history entry), in order, with fewer commands: type checks are the
-- errors of trapped reads and writes, and the record's fields are set in one HSET.
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
  local h = redis.pcall('HMGET', proc, 'status', 'last_request_id', 'last_request_seq',
    'request_seq', 'epoch', 'run')
  if h['err'] then return {'err', 'corrupt', key_type(proc), ''} end
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
  -- What write_request or clear_request would write, with the counter, in one HSET.
  local ia, ib, iat = '', '', ''
  if action == 'resume' then
    redis.call('DEL', key)
  else
    redis.call('SET', key, cjson.encode({seq = seq, action = action, by = by, at = now,
      epoch = epoch}))
    ia, ib, iat = action, by, tostring(now)
  end
  redis.call('HSET', proc, 'request_seq', seq, 'last_request_id', id, 'last_request_seq', seq,
    'interrupt_action', ia, 'interrupt_request', ib, 'interrupt_requested_at', iat)
  redis.call(publish, channel, cjson.encode({seq = seq, action = action, by = by,
    epoch = epoch}))
  local line = cjson.encode({event = 'request', action = action, seq = seq, by = by, at = now,
    run = to_seq(h[6]) or 0})
  local pushed = redis.pcall('LPUSH', log, line)
  if type(pushed) == 'table' and pushed['err'] then
    redis.call('DEL', log)
    redis.call('LPUSH', log, line)
  end
  redis.call('LTRIM', log, 0, 99)
  return {'ok', seq, status}
end

local out = {}
for i = 5, #ARGV do
  local k = 5 * (i - 5)
  out[#out + 1] = one(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], ARGV[i])
end
return out
