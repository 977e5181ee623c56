-- Append a run of records to one record list in one step: the writer thread's batch
-- of appends from one Vault, same columns, no index and no input items. Same checks
-- and effects as record_append, record by record, at the cost of one call.
-- KEYS[1] list meta hash   KEYS[2] records list   KEYS[3] record list names zset
-- KEYS[4] entry lineage list (parallel to KEYS[2])   KEYS[5] the writing process's
-- writes hash
-- ARGV[1] list name   ARGV[2] columns JSON (creation order)   ARGV[3] column set JSON
-- (sorted)   ARGV[4] now (epoch s)   ARGV[5] writing process name, or ""   ARGV[6] its
-- code item index   ARGV[7] writer id   ARGV[8 ..] per record, in order: the writer's
-- sequence number (increasing), record JSON, the entry's lineage JSON
-- A record numbered at or below the writer's last applied one (field w:<writer>) was
-- written by an earlier try and is skipped.
-- Returns {"ok", index of the first record written, created 0|1, records written}
-- (written 0: all were applied before) or {"columns", existing columns JSON}.
local set = redis.call('HGET', KEYS[1], 'column_set')
if set and set ~= ARGV[3] then
  return {'columns', redis.call('HGET', KEYS[1], 'columns')}
end
local last = tonumber(redis.call('HGET', KEYS[1], 'w:' .. ARGV[7]) or '0') or 0
local records, lineages = {}, {}
for i = 8, #ARGV, 3 do
  local seq = tonumber(ARGV[i])
  if seq > last then
    records[#records + 1] = ARGV[i + 1]
    lineages[#lineages + 1] = ARGV[i + 2]
    last = seq
  end
end
local n = redis.call('LLEN', KEYS[2])
local created = 0
if not set then
  create_list(KEYS[1], KEYS[3], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
  created = 1
end
if #records == 0 then return {'ok', n, created, 0} end
pad_lineage(KEYS[4], n)
for i = 1, #records, 100 do  -- unpack() in steps, well inside Lua's stack
  local j = math.min(i + 99, #records)
  redis.call('RPUSH', KEYS[2], unpack(records, i, j))
  redis.call('RPUSH', KEYS[4], unpack(lineages, i, j))
end
if ARGV[5] ~= '' then
  local span = redis.call('HGET', KEYS[5], 'e:' .. ARGV[1])
  local lo, hi = n, n + #records
  if span then
    local a, b = string.match(span, '^(%d+):(%d+)$')
    if a then lo, hi = math.min(lo, tonumber(a)), math.max(hi, tonumber(b)) end
  end
  redis.call('HSET', KEYS[5], 'e:' .. ARGV[1], lo .. ':' .. hi)
end
redis.call('HSET', KEYS[1], 'w:' .. ARGV[7], last)
return {'ok', n, created, #records}
