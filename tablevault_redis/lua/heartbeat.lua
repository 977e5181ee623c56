-- Refresh this run's heartbeat, check that the request state the run acts on is still
-- on the server, and read it, in one round trip.
-- KEYS[1] alive key   KEYS[2] proc hash   KEYS[3] request key
-- ARGV[1] heartbeat token   ARGV[2] TTL in milliseconds   ARGV[3] now (epoch s)
-- ARGV[4] the listener thread's last sign of life (epoch s)
-- ARGV[5] the run's epoch   ARGV[6] the last request seq the run applied
-- ARGV[7] the request the run has pending: "", stop or pause   ARGV[8] who asked
-- ARGV[9] a fresh epoch, taken when the request state must start over
-- ARGV[10] the run's number (its record's `run`)   ARGV[11] its `started_at`
-- Returns {outcome, epoch, request_seq, request JSON or ""}; outcome is
--   beat     refreshed; the rest is the request state (see request_state.lua)
--   missing  the record is gone or unreadable, or is a stale copy of an earlier run
--            (another token, a final status, a lower integer `run` and an earlier
--            `started_at`, no live holder: restored from before this run
--            registered): the run puts it back (revive)
--   crashed  a cleaner gave this run up for dead, but its token still owns the
--            record: the run revives it
--   ended    this run's record has a final status   taken  another run holds the name
-- When the record's epoch is not the run's, or its counter went back below what the
-- run applied (a restore from an older copy, a failover to a replica that missed
-- writes, a counter that is not an integer), the state starts over in epoch ARGV[9]
-- from what the server holds. A request the run still acts on whose key vanished is
-- written back, so controllers see it and can resume or override it.
-- `final` and the helpers are defined by the prelude scripts.py puts first.
local token = ARGV[1]
local holder = get_string(KEYS[1])
if holder and holder ~= token then return {'taken', '', 0, ''} end
-- A record that is not a hash fails HMGET (trapped): the beat needs no TYPE call.
local h = redis.pcall('HMGET', KEYS[2], 'status', 'heartbeat_token', 'epoch', 'request_seq',
  'run', 'started_at')
if h['err'] or not h[1] then return {'missing', '', 0, ''} end
if h[2] ~= token then
  if not holder and earlier_copy(h[1], h[5], h[6], ARGV[10], ARGV[11]) then
    return {'missing', '', 0, ''}
  end
  return {'taken', '', 0, ''}
end
if h[1] == 'crashed' then return {'crashed', '', 0, ''} end
if final[h[1]] then return {'ended', '', 0, ''} end
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
redis.call('HSET', KEYS[2], 'heartbeat_at', ARGV[3], 'listener_at', ARGV[4])
local epoch, counter = h[3] or '', to_seq(h[4])
local applied = to_seq(ARGV[6]) or 0
local req = pending_request(get_string(KEYS[3]), epoch, counter or 0)
local mine = nil
if ARGV[7] ~= '' then
  mine = {seq = 0, action = ARGV[7], by = ARGV[8], at = tonumber(ARGV[3])}
end
if epoch ~= ARGV[5] or not counter or counter < applied then
  epoch, counter = ARGV[9], counter or 0
  if not req and mine then
    if counter < 1 then counter = 1 end
    req = mine
  end
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'request_seq', counter)
  if req then
    req['seq'], req['epoch'] = math.min(req['seq'], counter), epoch
    if req['seq'] < 1 then req['seq'] = counter end
    write_request(KEYS[2], KEYS[3], req)
  else
    clear_request(KEYS[2], KEYS[3])
  end
elseif not req and mine and counter == applied and counter >= 1 then
  mine['seq'], mine['epoch'] = counter, epoch
  req = mine
  write_request(KEYS[2], KEYS[3], req)
end
if req then return {'beat', epoch, counter, cjson.encode(req)} end
return {'beat', epoch, counter, ''}
