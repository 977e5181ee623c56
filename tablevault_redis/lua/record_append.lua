-- Append a record to a record list, checking its columns atomically; optionally
-- create the list (first use, or create_record_list).
-- KEYS[1] list meta hash   KEYS[2] records list   KEYS[3] record list names zset
-- ARGV[1] list name   ARGV[2] columns JSON (creation order)   ARGV[3] column set JSON
-- (sorted)   ARGV[4] record JSON, or "" to only create   ARGV[5] now (epoch s)
-- ARGV[6] "1": create the list when missing
-- Returns {"ok", index of the record or -1, created 0|1}, {"missing"} or
-- {"columns", existing columns JSON}.
local set = redis.call('HGET', KEYS[1], 'column_set')
local created = 0
if not set then
  if ARGV[6] ~= '1' then return {'missing'} end
  redis.call('HSET', KEYS[1], 'columns', ARGV[2], 'column_set', ARGV[3],
    'created_at', ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
  created = 1
elseif set ~= ARGV[3] then
  return {'columns', redis.call('HGET', KEYS[1], 'columns')}
end
if ARGV[4] == '' then return {'ok', -1, created} end
local n = redis.call('RPUSH', KEYS[2], ARGV[4])
return {'ok', n - 1, created}
