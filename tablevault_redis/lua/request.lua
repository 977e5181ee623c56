-- Write an interrupt request (stop, pause or resume) and announce it, atomically.
-- KEYS[1] proc hash   KEYS[2] request key   KEYS[3] alive key   KEYS[4] control channel
-- KEYS[5] request history (a new request adds {"event": "request", "action", "seq",
--         "by", "at", "run"})
-- ARGV[1] action: stop | pause | resume   ARGV[2] who asks   ARGV[3] now (epoch s)
-- ARGV[4] publish command: PUBLISH or SPUBLISH (sharded, Redis 7 cluster)
-- ARGV[5] request id, unique per call: a retry after a lost reply is answered with
--         the first attempt's result instead of being applied twice
-- Returns {"ok", seq, status} or {"err", reason, detail1, detail2} with reason one of
-- not_found, corrupt (the record is not a hash), ended, not_alive, conflict,
-- not_paused. A resume of a process still shown paused after an earlier resume is
-- "ok" with the current seq (nothing new). A request key or a request_seq that is
-- not well formed counts as absent and is overwritten. The request key and the
-- notification carry the record's epoch; the notification is only a hint: the
-- target reads the request key.
-- `final` and the helpers are defined by the prelude scripts.py puts first.
local action = ARGV[1]
if action ~= 'stop' and action ~= 'pause' and action ~= 'resume' then
  return redis.error_reply('unknown action ' .. action)
end
local kind = key_type(KEYS[1])
if kind == 'none' then return {'err', 'not_found', '', ''} end
if kind ~= 'hash' then return {'err', 'corrupt', kind, ''} end
local h = redis.call('HMGET', KEYS[1], 'status', 'last_request_id', 'last_request_seq',
  'request_seq', 'epoch', 'run')
local status = h[1]
if not status then return {'err', 'not_found', '', ''} end
if h[2] == ARGV[5] and to_seq(h[3]) then return {'ok', to_seq(h[3]), status} end
if final[status] then return {'err', 'ended', status, ''} end
if key_type(KEYS[3]) == 'none' then return {'err', 'not_alive', status, ''} end
local epoch = h[5] or ''
local counter = to_seq(h[4]) or 0
local cur = pending_request(get_string(KEYS[2]), epoch, counter)
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
redis.call('HSET', KEYS[1], 'request_seq', seq, 'last_request_id', ARGV[5],
  'last_request_seq', seq)
if action == 'resume' then
  clear_request(KEYS[1], KEYS[2])
else
  write_request(KEYS[1], KEYS[2],
    {seq = seq, action = action, by = ARGV[2], at = tonumber(ARGV[3]), epoch = epoch})
end
redis.call(ARGV[4], KEYS[4], cjson.encode({seq = seq, action = action, by = ARGV[2],
  epoch = epoch}))
log_request(KEYS[5], {event = 'request', action = action, seq = seq, by = ARGV[2],
  at = tonumber(ARGV[3]), run = to_seq(h[6]) or 0})
return {'ok', seq, status}
