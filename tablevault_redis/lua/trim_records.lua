-- Remove the oldest records of a record list (and their lineage entries): those
-- before the last ARGV[1], and those at the head whose lineage time is before
-- ARGV[2]. At most ARGV[3] per call, so a large trim never blocks the server long.
-- The list meta counts every record removed so far in its field "trimmed".
-- KEYS[1] list meta hash   KEYS[2] records list   KEYS[3] lineage list
-- ARGV[1] records to keep ("" for no count rule)   ARGV[2] cutoff, epoch s ("" for
-- no age rule)   ARGV[3] the most to remove in this call
-- Returns the number removed; -1 when the list does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('LLEN', KEYS[2])
-- Lists written before lineage was kept have fewer lineage entries: pad them first.
for _ = redis.call('LLEN', KEYS[3]) + 1, n do redis.call('RPUSH', KEYS[3], '{}') end
local most = tonumber(ARGV[3])
local drop = 0
if ARGV[1] ~= '' then drop = math.max(0, n - tonumber(ARGV[1])) end
if ARGV[2] ~= '' then
  local cutoff = tonumber(ARGV[2])
  local old = 0
  for _, raw in ipairs(redis.call('LRANGE', KEYS[3], 0, math.min(n, most) - 1)) do
    local ok, entry = pcall(cjson.decode, raw)
    local at = ok and type(entry) == 'table' and tonumber(entry['at'])
    if not at or at >= cutoff then break end
    old = old + 1
  end
  drop = math.max(drop, old)
end
drop = math.min(drop, most, n)
if drop > 0 then
  redis.call('LTRIM', KEYS[2], drop, -1)
  redis.call('LTRIM', KEYS[3], drop, -1)
  redis.call('HINCRBY', KEYS[1], 'trimmed', drop)
end
return drop
