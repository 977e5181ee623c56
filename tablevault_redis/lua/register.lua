-- Claim a process name for a new run and write its record.
-- KEYS[1] proc hash   KEYS[2] alive key   KEYS[3] request key   KEYS[4] runs list
-- KEYS[5] code stream
-- ARGV[1] heartbeat token of this run   ARGV[2] heartbeat TTL in milliseconds
-- ARGV[3] the heartbeat token of a holder the caller verified dead (same host and
--         PID namespace, PID gone), or "": only that holder may be taken over
-- ARGV[4] now (seconds since the epoch)
-- ARGV[5..] field, value pairs of the new record
-- Returns {"held", holder token} when a live process holds the name, else
-- {"ok", run, code_count, code_length, request_seq}. A record, runs list or
-- heartbeat of the wrong type is overwritten; a counter that is not an integer
-- starts over from 0 (the run's fields carry a new epoch, so it cannot be mistaken
-- for an earlier one).
-- `final` and the helpers are defined by the prelude scripts.py puts first.
local holder = get_string(KEYS[2])
if holder and holder ~= ARGV[1] and holder ~= ARGV[3] then
  return {'held', holder}
end
if key_type(KEYS[1]) ~= 'hash' then redis.call('DEL', KEYS[1]) end
local runs_type = key_type(KEYS[4])
if runs_type ~= 'none' and runs_type ~= 'list' then redis.call('DEL', KEYS[4]) end
local prev = redis.call('HGETALL', KEYS[1])
if #prev > 0 then
  local rec = {}
  for i = 1, #prev, 2 do rec[prev[i]] = prev[i + 1] end
  if not final[rec['status'] or ''] then
    -- The previous run ended without saying so: it crashed.
    rec['status'] = 'crashed'
    if (rec['ended_at'] or '') == '' then rec['ended_at'] = ARGV[4] end
    redis.call('HSET', KEYS[1], 'status', 'crashed', 'ended_at', rec['ended_at'])
    local stream = key_type(KEYS[5])
    if (rec['open_code'] or '') ~= '' and (stream == 'stream' or stream == 'none') then
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
local run = (to_seq(redis.call('HGET', KEYS[1], 'run')) or 0) + 1
redis.call('HSET', KEYS[1], 'run', run, 'status', 'running', 'ended_at', '', 'error', '',
  'interrupt_action', '', 'interrupt_request', '', 'interrupt_requested_at', '',
  'stopped_by', '', 'stopped_at', '', 'open_code', '', 'records_written', '0',
  'last_record', '', 'last_record_list', '', 'last_record_at', '',
  'unreached_action', '', 'unreached_by', '', 'unreached_at', '', 'withdrawn_action', '',
  'withdrawn_request_by', '', 'withdrawn_by', '', 'withdrawn_at', '', 'gap_from', '', 'gap_to', '', 'gaps', '0')
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'code_count', 'code_length', 'request_seq')
local counter = to_seq(h[3]) or 0
redis.call('HSET', KEYS[1], 'request_seq', counter)
return {'ok', run, to_seq(h[1]) or 0, to_seq(h[2]) or 0, counter}
