-- Close the open code item with its outcome. Idempotent: only the open item of the
-- given run closes, so a cleaner acting for a dead run never closes a newer run's item.
-- KEYS[1] proc hash   KEYS[2] code stream
-- ARGV[1] index   ARGV[2] status: completed | failed | stopped | crashed
-- ARGV[3] error text   ARGV[4] ended_at (epoch s)   ARGV[5] run that opened it
-- Returns 1 when written, 0 when that item was not open.
local cur = redis.call('HMGET', KEYS[1], 'open_code', 'run')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[5] then return 0 end
redis.call('XADD', KEYS[2], '*', 'event', 'close', 'index', ARGV[1], 'status', ARGV[2],
  'error', ARGV[3], 'ended_at', ARGV[4])
redis.call('HSET', KEYS[1], 'open_code', '')
return 1
