-- Write an interrupt request (stop, pause or resume) and announce it, atomically.
-- KEYS[1] proc hash   KEYS[2] request key   KEYS[3] alive key   KEYS[4] control channel
-- ARGV[1] action: stop | pause | resume   ARGV[2] who asks   ARGV[3] now (epoch s)
-- ARGV[4] publish command: PUBLISH or SPUBLISH (sharded, Redis 7 cluster)
-- ARGV[5] request id, unique per call: a retry after a lost reply is answered with
--         the first attempt's result instead of being applied twice
-- Returns {"ok", seq, status} or {"err", reason, detail1, detail2} with reason one of
-- not_found, ended, not_alive, conflict, not_paused. A resume of a process still
-- shown paused after an earlier resume is "ok" with the current seq (nothing new).
-- `final` (the set of final statuses) is defined by the prelude scripts.py puts first.
local action = ARGV[1]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'err', 'not_found', '', ''} end
local last = redis.call('HMGET', KEYS[1], 'last_request_id', 'last_request_seq')
if last[1] == ARGV[5] then return {'ok', tonumber(last[2]), status} end
if final[status] then return {'err', 'ended', status, ''} end
if redis.call('EXISTS', KEYS[3]) == 0 then return {'err', 'not_alive', status, ''} end
local raw = redis.call('GET', KEYS[2])
local cur = nil
if raw then cur = cjson.decode(raw) end
if action == 'stop' then
  if cur and cur['action'] == 'stop' then
    return {'err', 'conflict', cur['action'], cur['by']}
  end
elseif action == 'pause' then
  if cur then return {'err', 'conflict', cur['action'], cur['by']} end
elseif action == 'resume' then
  if cur and cur['action'] == 'stop' then
    return {'err', 'conflict', cur['action'], cur['by']}
  end
  if not cur and status == 'paused' then
    -- An earlier resume is on its way (the target has not reported running yet).
    return {'ok', tonumber(redis.call('HGET', KEYS[1], 'request_seq') or '0'), status}
  end
  if not cur then return {'err', 'not_paused', status, ''} end
else
  return redis.error_reply('unknown action ' .. action)
end
local seq = redis.call('HINCRBY', KEYS[1], 'request_seq', 1)
redis.call('HSET', KEYS[1], 'last_request_id', ARGV[5], 'last_request_seq', seq)
if action == 'resume' then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'interrupt_action', '', 'interrupt_request', '',
    'interrupt_requested_at', '')
else
  redis.call('SET', KEYS[2], cjson.encode({seq = seq, action = action, by = ARGV[2],
    at = tonumber(ARGV[3])}))
  redis.call('HSET', KEYS[1], 'interrupt_action', action, 'interrupt_request', ARGV[2],
    'interrupt_requested_at', ARGV[3])
end
redis.call(ARGV[4], KEYS[4], cjson.encode({seq = seq, action = action, by = ARGV[2]}))
return {'ok', seq, status}
