-- A live run puts its record back: compare-and-set on its heartbeat token.
-- Two cases: the record vanished or is unreadable (a restart without persistence,
-- FLUSHALL, a DEL, a failover to a replica that missed writes), or it is a stale copy
-- of an earlier run (another token, a final status, a lower integer `run` and an
-- earlier `started_at` than the run's fields, no live holder: restored from a copy
-- taken before this run registered; run numbers start over after data loss, so both
-- must be earlier; that run is kept in
-- the runs list, as register keeps a finished run, unless it is there already): it is
-- written again from the run's own fields ("restored"); or a cleaner marked the run
-- crashed while it was out of reach (a network partition): its status goes back
-- ("revived"). Either way the gap is recorded (gap_from, gap_to, gaps in the record,
-- and a status event in the code stream), the heartbeat is set, the request state
-- starts over in a new epoch, and a request the run still acts on is written back.
-- KEYS[1] proc hash   KEYS[2] alive key   KEYS[3] request key   KEYS[4] code stream
-- KEYS[5] runs list
-- ARGV[1] heartbeat token   ARGV[2] TTL in milliseconds   ARGV[3] now (epoch s)
-- ARGV[4] the new epoch   ARGV[5] status now: running | paused
-- ARGV[6] the request the run has pending: "", stop or pause   ARGV[7] who asked
-- ARGV[8] the run's open code item index, or ""
-- ARGV[9] the run's last heartbeat that reached the server (epoch s)
-- ARGV[10] the run's number (its record's `run`)   ARGV[11] its `started_at`
-- ARGV[12..] field, value pairs of the record, written when it is restored
-- Returns {outcome, epoch, request_seq, request JSON or ""} with outcome restored |
-- revived | kept (the record is fine: nothing written) | ended (the record is final
-- and not crashed) | taken (another run holds the name, or its record is not a stale
-- copy of an earlier run).
-- `final` and the helpers are defined by the prelude scripts.py puts first.

-- Keep earlier run `run`'s record (proc) in the runs list, as register does when a
-- name is reused, unless the list has it: the copy it was restored from may too.
local function keep_run(proc, runs, run)
  local runs_type = key_type(runs)
  if runs_type ~= 'none' and runs_type ~= 'list' then redis.call('DEL', runs) end
  for _, raw in ipairs(redis.call('LRANGE', runs, 0, -1)) do
    local kept = decode(raw)
    if kept and to_seq(kept['run']) == run then return end
  end
  local prev, rec = redis.call('HGETALL', proc), {}
  for i = 1, #prev, 2 do rec[prev[i]] = prev[i + 1] end
  redis.call('RPUSH', runs, cjson.encode(rec))
end

local token, now = ARGV[1], ARGV[3]
local holder = get_string(KEYS[2])
if holder and holder ~= token then return {'taken', '', 0, ''} end
local kind = key_type(KEYS[1])
local status = nil
if kind == 'hash' then status = redis.call('HGET', KEYS[1], 'status') end
local outcome, gap_from, counter = 'restored', ARGV[9], 0
if status and redis.call('HGET', KEYS[1], 'heartbeat_token') ~= token then
  local run, started = unpack(redis.call('HMGET', KEYS[1], 'run', 'started_at'))
  if holder or not earlier_copy(status, run, started, ARGV[10], ARGV[11]) then
    return {'taken', '', 0, ''}
  end
  keep_run(KEYS[1], KEYS[5], to_seq(run))
  status = nil
end
if status then
  if status ~= 'crashed' then
    if final[status] then return {'ended', '', 0, ''} end
    return {'kept', '', 0, ''}
  end
  outcome = 'revived'
  gap_from = redis.call('HGET', KEYS[1], 'heartbeat_at') or gap_from
  counter = to_seq(redis.call('HGET', KEYS[1], 'request_seq')) or 0
else
  if kind ~= 'none' then redis.call('DEL', KEYS[1]) end
  for i = 12, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('HSET', KEYS[1], 'status', ARGV[5], 'ended_at', '', 'error', '',
  'open_code', ARGV[8], 'epoch', ARGV[4], 'heartbeat_at', now, 'gap_from', gap_from,
  'gap_to', now)
redis.call('HSET', KEYS[1], 'gaps', (to_seq(redis.call('HGET', KEYS[1], 'gaps')) or 0) + 1)
redis.call('SET', KEYS[2], token, 'PX', ARGV[2])
local req = nil
if ARGV[6] ~= '' then
  counter = counter + 1
  req = {seq = counter, action = ARGV[6], by = ARGV[7], at = tonumber(now), epoch = ARGV[4]}
  write_request(KEYS[1], KEYS[3], req)
else
  clear_request(KEYS[1], KEYS[3])
end
redis.call('HSET', KEYS[1], 'request_seq', counter)
local stream = key_type(KEYS[4])
if stream == 'none' or stream == 'stream' then
  redis.call('XADD', KEYS[4], '*', 'event', 'status', 'status', outcome, 'index', ARGV[8],
    'gap_from', gap_from, 'gap_to', now)
end
if req then return {outcome, ARGV[4], counter, cjson.encode(req)} end
return {outcome, ARGV[4], counter, ''}
