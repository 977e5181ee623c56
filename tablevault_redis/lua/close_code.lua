-- Close the open code item with its outcome. Idempotent: only the open item closes.
-- KEYS[1] proc hash   KEYS[2] code stream
-- ARGV[1] index   ARGV[2] status: completed | failed | stopped   ARGV[3] error text
-- ARGV[4] ended_at (epoch s)
-- Returns 1 when written, 0 when that item was not open.
if redis.call('HGET', KEYS[1], 'open_code') ~= ARGV[1] then return 0 end
redis.call('XADD', KEYS[2], '*', 'event', 'close', 'index', ARGV[1], 'status', ARGV[2],
  'error', ARGV[3], 'ended_at', ARGV[4])
redis.call('HSET', KEYS[1], 'open_code', '')
return 1
