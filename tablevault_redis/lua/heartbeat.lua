-- Refresh this run's heartbeat and read the request state in the same round trip.
-- KEYS[1] alive key   KEYS[2] proc hash   KEYS[3] request key
-- ARGV[1] heartbeat token   ARGV[2] TTL in milliseconds   ARGV[3] now (epoch s)
-- ARGV[4] the listener thread's last sign of life (epoch s)
-- Returns {beat, request_seq, request JSON or ""} with beat 1 when refreshed and 0
-- when the name now belongs to another run or this run has ended.
-- `final` (the set of final statuses) is defined by the prelude scripts.py puts first.
local beat = 0
local holder = redis.call('GET', KEYS[1])
local status = redis.call('HGET', KEYS[2], 'status')
if (holder == ARGV[1] or not holder) and status and not final[status] then
  if not holder and redis.call('HGET', KEYS[2], 'heartbeat_token') ~= ARGV[1] then
    beat = 0
  else
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    redis.call('HSET', KEYS[2], 'heartbeat_at', ARGV[3], 'listener_at', ARGV[4])
    beat = 1
  end
end
local seq = redis.call('HGET', KEYS[2], 'request_seq') or '0'
local req = redis.call('GET', KEYS[3]) or ''
return {beat, tonumber(seq) or 0, req}
