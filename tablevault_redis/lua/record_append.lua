-- Append (or, at an existing index, replace) a record of a record list, checking its
-- columns atomically; optionally create the list (first use, or create_record_list).
-- The record's lineage is written in the same step, into keys of the same hash tag.
-- KEYS[1] list meta hash   KEYS[2] records list   KEYS[3] record list names zset
-- KEYS[4] entry lineage list (parallel to KEYS[2])   KEYS[5] the writing process's
-- writes hash   KEYS[5 + i] dependents list of input item i
-- ARGV[1] list name   ARGV[2] columns JSON (creation order)   ARGV[3] column set JSON
-- (sorted)   ARGV[4] record JSON, or "" to only create   ARGV[5] now (epoch s)
-- ARGV[6] "1": create the list when missing   ARGV[7] the entry's lineage JSON
-- ARGV[8] index to write at, or "" to append   ARGV[9] writing process name, or ""
-- ARGV[10] its code item index   ARGV[11] writer id ("" for none)   ARGV[12] the
-- writer's sequence number of this write   ARGV[13 ..] per input item: collection,
-- name, start_position, end_position
-- A writer's retried write is applied once: the list meta keeps, per writer id, the
-- highest sequence number applied (field w:<writer>), and a write at or below it is
-- skipped.
-- Returns {"ok", index of the record or -1, created 0|1}, {"missing"},
-- {"columns", existing columns JSON}, {"index", number of records} or {"dup"}.
local set = redis.call('HGET', KEYS[1], 'column_set')
if not set and ARGV[6] ~= '1' then return {'missing'} end
if set and set ~= ARGV[3] then
  return {'columns', redis.call('HGET', KEYS[1], 'columns')}
end
if ARGV[11] ~= '' and ARGV[4] ~= '' then
  local last = tonumber(redis.call('HGET', KEYS[1], 'w:' .. ARGV[11]) or '0') or 0
  if tonumber(ARGV[12]) <= last then return {'dup'} end
end
local n = redis.call('LLEN', KEYS[2])
local pos = n
if ARGV[8] ~= '' then pos = tonumber(ARGV[8]) end
if ARGV[4] ~= '' and pos > n then return {'index', n} end
local created = 0
if not set then
  create_list(KEYS[1], KEYS[3], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[5], ARGV[9], ARGV[10])
  created = 1
end
if ARGV[4] == '' then return {'ok', -1, created} end
pad_lineage(KEYS[4], n)
if pos == n then
  redis.call('RPUSH', KEYS[2], ARGV[4])
  redis.call('RPUSH', KEYS[4], ARGV[7])
else
  redis.call('LSET', KEYS[2], pos, ARGV[4])
  redis.call('LSET', KEYS[4], pos, ARGV[7])
end
if ARGV[9] ~= '' then
  local span = redis.call('HGET', KEYS[5], 'e:' .. ARGV[1])
  local lo, hi = pos, pos + 1
  if span then
    local a, b = string.match(span, '^(%d+):(%d+)$')
    if a then lo, hi = math.min(lo, tonumber(a)), math.max(hi, tonumber(b)) end
  end
  redis.call('HSET', KEYS[5], 'e:' .. ARGV[1], lo .. ':' .. hi)
end
if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'w:' .. ARGV[11], ARGV[12]) end
for i = 6, #KEYS do
  local j = 13 + (i - 6) * 4
  redis.call('RPUSH', KEYS[i], cjson.encode({tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3]),
    'record_list', ARGV[1], pos, pos + 1}))
end
return {'ok', pos, created}
