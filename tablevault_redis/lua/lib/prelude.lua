-- Helpers put before every script (after `final`). Any client holding the namespace's
-- keys can write anything into them, so a script reads keys and fields through these:
-- a key of the wrong type, a field that is not an integer or a value that is not JSON
-- counts as absent (and is overwritten), never as an error.

-- The type of key k: 'none', 'string', 'hash', ...
local function key_type(k)
  return redis.call('TYPE', k)['ok']
end

-- The value of string key k; nil when it is missing or holds another type (GET's
-- WRONGTYPE error, trapped: one command instead of TYPE and GET).
local function get_string(k)
  local v = redis.pcall('GET', k)
  if type(v) ~= 'string' then return nil end
  return v
end

-- A request sequence number: an integer 0 <= n < 10^12 (exact in a Lua number and in
-- cjson's output), from a string or a number; nil for anything else.
local function to_seq(v)
  if type(v) == 'number' then
    if v >= 0 and v < 1e12 and v == math.floor(v) then return v end
  elseif type(v) == 'string' and #v <= 12 and string.match(v, '^%d+$') then
    return tonumber(v)
  end
  return nil
end

-- The JSON object in raw; nil when raw is missing, not JSON or not an object.
local function decode(raw)
  if not raw then return nil end
  local ok, v = pcall(cjson.decode, raw)
  if ok and type(v) == 'table' then return v end
  return nil
end

-- The pending request in raw (a request key's value), or nil unless it is well formed:
-- action stop or pause, an integer seq from 1 to the record's counter, and the record's
-- epoch (a request written before epochs were kept has none). Normalised.
local function pending_request(raw, epoch, counter)
  local req = decode(raw)
  if not req then return nil end
  local seq = to_seq(req['seq'])
  if not seq or seq < 1 or seq > counter then return nil end
  if req['action'] ~= 'stop' and req['action'] ~= 'pause' then return nil end
  if req['epoch'] ~= nil and req['epoch'] ~= epoch then return nil end
  local by = req['by']
  if type(by) ~= 'string' then by = '' end
  local at = req['at']
  if type(at) ~= 'number' then at = 0 end
  return {seq = seq, action = req['action'], by = by, at = at, epoch = epoch}
end

-- Write request req into the request key and mirror it in the process hash.
local function write_request(proc, key, req)
  redis.call('SET', key, cjson.encode(req))
  redis.call('HSET', proc, 'interrupt_action', req['action'], 'interrupt_request', req['by'],
    'interrupt_requested_at', tostring(req['at']))
end

-- No request is pending: drop the key and its mirror.
local function clear_request(proc, key)
  redis.call('DEL', key)
  redis.call('HSET', proc, 'interrupt_action', '', 'interrupt_request', '',
    'interrupt_requested_at', '')
end

-- Add entry to a process's request history (a list, newest first, the last 100
-- entries); a key of another type there is replaced.
local function log_request(log, entry)
  local kind = key_type(log)
  if kind ~= 'none' and kind ~= 'list' then redis.call('DEL', log) end
  redis.call('LPUSH', log, cjson.encode(entry))
  redis.call('LTRIM', log, 0, 99)
end
