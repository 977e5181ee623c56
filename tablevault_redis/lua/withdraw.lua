-- Withdraw a stop or pause request the target has not acted on yet, and announce it.
-- KEYS[1] proc hash   KEYS[2] request key   KEYS[3] control channel
-- KEYS[4] request history (adds {"event": "withdraw", "action", "seq" of the withdrawn
--         request, "by" who withdrew, "at", "run"})
-- ARGV[1] who withdraws   ARGV[2] now (epoch s)   ARGV[3] PUBLISH or SPUBLISH
-- Acted on means: a checkpoint raised for the stop (its "stopping" ack names the
-- request's seq in stopping_seq), or the process is paused by the pause.
-- Returns {"ok", seq, action, by, requested_at} with seq the new request_seq (the
-- target's cached request clears, as for a resume), or {"err", reason, detail, by}
-- with reason not_found, ended (detail: status), nothing_pending (detail: status),
-- acted_on (detail: the request's action).
-- `final` (the set of final statuses) is defined by the prelude scripts.py puts first.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'err', 'not_found', '', ''} end
if final[status] then return {'err', 'ended', status, ''} end
local raw = redis.call('GET', KEYS[2])
if not raw then return {'err', 'nothing_pending', status, ''} end
local ok, cur = pcall(cjson.decode, raw)
if not ok or type(cur) ~= 'table' then cur = {action = 'unknown', by = '', seq = ''} end
cur['by'] = tostring(cur['by'] or '')
local seq = tostring(cur['seq'])
if cur['action'] == 'stop' and redis.call('HGET', KEYS[1], 'stopping_seq') == seq then
  return {'err', 'acted_on', 'stop', cur['by']}
end
if cur['action'] == 'pause' and status == 'paused' then
  return {'err', 'acted_on', 'pause', cur['by']}
end
local new = redis.call('HINCRBY', KEYS[1], 'request_seq', 1)
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'interrupt_action', '', 'interrupt_request', '',
  'interrupt_requested_at', '', 'withdrawn_action', tostring(cur['action']),
  'withdrawn_request_by', cur['by'], 'withdrawn_by', ARGV[1], 'withdrawn_at', ARGV[2])
redis.call(ARGV[3], KEYS[3], cjson.encode({seq = new, action = 'withdraw', by = ARGV[1]}))
log_request(KEYS[4], {event = 'withdraw', action = tostring(cur['action']),
  seq = to_seq(cur['seq']) or 0, by = ARGV[1], at = tonumber(ARGV[2]),
  run = to_seq(redis.call('HGET', KEYS[1], 'run')) or 0})
return {'ok', new, tostring(cur['action']), cur['by'], tostring(cur['at'] or '')}
