-- Open a code item. Idempotent: a retry after a lost reply writes nothing twice.
-- KEYS[1] proc hash   KEYS[2] code stream
-- ARGV[1] index   ARGV[2] run   ARGV[3] text   ARGV[4] start_position
-- ARGV[5] code_length after this item   ARGV[6] started_at (epoch s)
-- Returns 1 when written, 0 when it was there already.
local count = tonumber(redis.call('HGET', KEYS[1], 'code_count') or '0') or 0
if count > tonumber(ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], '*', 'event', 'open', 'index', ARGV[1], 'run', ARGV[2],
  'text', ARGV[3], 'start_position', ARGV[4], 'started_at', ARGV[6])
redis.call('HSET', KEYS[1], 'code_count', tonumber(ARGV[1]) + 1, 'code_length', ARGV[5],
  'open_code', ARGV[1])
return 1
