-- End an operation: completed (its steps all happened) or rolled back (undo its
-- index entries). With an expected JSON this is a compare-and-set, so two cleaners
-- racing resolve each operation exactly once.
-- KEYS[1] operations hash   KEYS[2..] word index sets to undo (rollback only)
-- ARGV[1] operation id   ARGV[2] expected operation JSON, or "" for any
-- ARGV[3] mode: complete | rollback   ARGV[4] member to remove from the sets
-- Returns 1 when this call ended the operation, 0 when it was gone or had changed.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
if ARGV[2] ~= '' and cur ~= ARGV[2] then return 0 end
if ARGV[3] == 'rollback' and ARGV[4] ~= '' then
  for i = 2, #KEYS do redis.call('SREM', KEYS[i], ARGV[4]) end
end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
