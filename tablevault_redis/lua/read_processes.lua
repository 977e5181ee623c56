-- Read many process records in one step (list_processes and the like).
-- KEYS  pairs: proc hash, alive key, for each process
-- ARGV  the record fields to read
-- Returns one entry per process: {value or false per field, then 1 or 0 (heartbeat
-- present)} (every value false: no record), or {-1} when its record is not a hash
-- (written by something else).
local out = {}
for i = 1, #KEYS, 2 do
  local row = redis.pcall('HMGET', KEYS[i], unpack(ARGV))
  if row.err then
    out[#out + 1] = {-1}
  else
    row[#row + 1] = redis.call('EXISTS', KEYS[i + 1])
    out[#out + 1] = row
  end
end
return out
