-- Delete the keys of an ended process, by compare-and-set: only when its status is
-- final, its heartbeat key is absent, it ended before the cutoff and its record is
-- still the run the caller read. A live process is never touched.
-- KEYS[1] proc hash   KEYS[2] alive   KEYS[3] request   KEYS[4] code stream
-- KEYS[5] runs list   KEYS[6] children sorted set   KEYS[7] request history
-- ARGV[1] cutoff (epoch s): ended_at must be below it   ARGV[2] started_at the caller
-- read ("" to skip that check)   ARGV[3] "1": check only, delete nothing (dry run)
-- Returns {"ok"}, {"missing"} (no record, or not a hash), {"live", status},
-- {"recent", ended_at} or {"changed"} (another run holds the name now).
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return {'missing'} end
local rec = redis.call('HMGET', KEYS[1], 'status', 'ended_at', 'started_at')
if redis.call('EXISTS', KEYS[2]) == 1 or not final[rec[1] or ''] then
  return {'live', rec[1] or ''}
end
local ended = tonumber(rec[2] or '')
if not ended or ended >= tonumber(ARGV[1]) then return {'recent', rec[2] or ''} end
if ARGV[2] ~= '' and rec[3] ~= ARGV[2] then return {'changed'} end
if ARGV[3] ~= '1' then redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]) end
return {'ok'}
