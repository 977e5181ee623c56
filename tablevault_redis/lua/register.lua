-- Claim a process name for a new run and write its record.
-- KEYS[1] proc hash   KEYS[2] alive key   KEYS[3] request key   KEYS[4] runs list
-- KEYS[5] code stream
-- ARGV[1] heartbeat token of this run   ARGV[2] heartbeat TTL in milliseconds
-- ARGV[3] the heartbeat token of a holder the caller verified dead (same host and
--         PID namespace, PID gone), or "": only that holder may be taken over
-- ARGV[4] now (seconds since the epoch)
-- ARGV[5..] field, value pairs of the new record
-- Returns {"held", holder token} when a live process holds the name, else
-- {"ok", run, code_count, code_length, request_seq}.
-- `final` (the set of final statuses) is defined by the prelude scripts.py puts first.
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] and holder ~= ARGV[3] then
  return {'held', holder}
end
local prev = redis.call('HGETALL', KEYS[1])
if #prev > 0 then
  local rec = {}
  for i = 1, #prev, 2 do rec[prev[i]] = prev[i + 1] end
  if not final[rec['status'] or ''] then
    -- The previous run ended without saying so: it crashed.
    rec['status'] = 'crashed'
    if (rec['ended_at'] or '') == '' then rec['ended_at'] = ARGV[4] end
    redis.call('HSET', KEYS[1], 'status', 'crashed', 'ended_at', rec['ended_at'])
    if (rec['open_code'] or '') ~= '' then
      redis.call('XADD', KEYS[5], '*', 'event', 'close', 'index', rec['open_code'],
        'status', 'crashed', 'error', 'the process died while this code item was open',
        'ended_at', ARGV[4])
    end
  end
  redis.call('RPUSH', KEYS[4], cjson.encode(rec))
end
redis.call('DEL', KEYS[3])
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
local run = redis.call('HINCRBY', KEYS[1], 'run', 1)
redis.call('HSET', KEYS[1], 'status', 'running', 'ended_at', '', 'error', '',
  'interrupt_action', '', 'interrupt_request', '', 'interrupt_requested_at', '',
  'stopped_by', '', 'stopped_at', '', 'open_code', '', 'records_written', '0',
  'last_record', '', 'last_record_list', '', 'last_record_at', '',
  'unreached_action', '', 'unreached_by', '', 'unreached_at', '', 'withdrawn_action', '',
  'withdrawn_request_by', '', 'withdrawn_by', '', 'withdrawn_at', '')
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'code_count', 'code_length', 'request_seq')
return {'ok', run, tonumber(h[1] or '0') or 0, tonumber(h[2] or '0') or 0,
  tonumber(h[3] or '0') or 0}
