-- Register (or update) an operation, and add one member to word index sets in the
-- same atomic step, so an indexed code item is always covered by an operation
-- until the steps after it are done. Idempotent: a retry writes the same values.
-- KEYS[1] operations hash   KEYS[2..] word index sets (may be none)
-- ARGV[1] operation id   ARGV[2] operation JSON   ARGV[3] member for the sets, or ""
-- Returns 1.
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then
  for i = 2, #KEYS do redis.call('SADD', KEYS[i], ARGV[3]) end
end
return 1
