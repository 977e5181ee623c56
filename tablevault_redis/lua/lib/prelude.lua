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

-- A record of another run (status, run, started_at as read) is a stale copy of an
-- earlier run, restored from before the run own_run (started own_started) registered:
-- ended, and earlier by number and by start (numbers start over after data loss).
local function earlier_copy(status, run, started, own_run, own_started)
  run, started = to_seq(run), tonumber(started)
  return final[status] ~= nil and run ~= nil and started ~= nil
    and run < (to_seq(own_run) or 0) and started < (tonumber(own_started) or 0)
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
-- entries); a key of another type there is replaced. Trimmed only once it is longer
-- (LPUSH answers the length): a command less per request while it is not.
local function log_request(log, entry)
  local line = cjson.encode(entry)
  local pushed = redis.pcall('LPUSH', log, line)
  if type(pushed) == 'table' and pushed['err'] then  -- WRONGTYPE, trapped
    redis.call('DEL', log)
    pushed = redis.call('LPUSH', log, line)
  end
  if pushed > 100 then redis.call('LTRIM', log, 0, 99) end
end


-- A record list's first append: its meta hash, its entry in the namespace's index and,
-- when a process wrote it, the process's "wrote" lineage entry.
local function create_list(meta, index, wrote, name, columns, column_set, created_at,
                           process, process_index)
  redis.call('HSET', meta, 'columns', columns, 'column_set', column_set,
    'created_at', created_at, 'process', process, 'process_index', process_index)
  redis.call('ZADD', index, created_at, name)
  if process ~= '' then redis.call('HSET', wrote, 'c:' .. name, process_index) end
end

-- Lists written before lineage was kept have no entries in their lineage list: pad it
-- to the list's length n.
local function pad_lineage(lineage, n)
  for _ = redis.call('LLEN', lineage) + 1, n do redis.call('RPUSH', lineage, '{}') end
end

-- Request `action` (stop, pause, resume) by `by` at `now` of one process: request.lua's
-- and request_many.lua's work, see request.lua's header for the replies. Type checks
-- are the errors of trapped reads, and the record's fields are set in one HSET
-- (stopping 10,000 processes runs this 10,000 times: each command counts).
local function request_one(action, by, now, publish, proc, key, alive, channel, log, id)
  local h = redis.pcall('HMGET', proc, 'status', 'last_request_id', 'last_request_seq',
    'request_seq', 'epoch', 'run')
  if h['err'] then return {'err', 'corrupt', key_type(proc), ''} end
  local status = h[1]
  if not status then return {'err', 'not_found', '', ''} end
  if h[2] == id and to_seq(h[3]) then return {'ok', to_seq(h[3]), status} end
  if final[status] then return {'err', 'ended', status, ''} end
  if redis.call('EXISTS', alive) == 0 then return {'err', 'not_alive', status, ''} end
  local epoch = h[5] or ''
  local counter = to_seq(h[4]) or 0
  local cur = pending_request(get_string(key), epoch, counter)
  if action == 'stop' then
    if cur and cur['action'] == 'stop' then
      return {'err', 'conflict', cur['action'], cur['by']}
    end
  elseif action == 'pause' then
    if cur then return {'err', 'conflict', cur['action'], cur['by']} end
  else
    if cur and cur['action'] == 'stop' then
      return {'err', 'conflict', cur['action'], cur['by']}
    end
    if not cur and status == 'paused' then
      -- An earlier resume is on its way (the target has not reported running yet).
      return {'ok', counter, status}
    end
    if not cur then return {'err', 'not_paused', status, ''} end
  end
  local seq = counter + 1
  -- What write_request or clear_request would write, with the counter, in one HSET.
  local ia, ib, iat = '', '', ''
  if action == 'resume' then
    redis.call('DEL', key)
  else
    redis.call('SET', key, cjson.encode({seq = seq, action = action, by = by, at = now,
      epoch = epoch}))
    ia, ib, iat = action, by, tostring(now)
  end
  redis.call('HSET', proc, 'request_seq', seq, 'last_request_id', id, 'last_request_seq', seq,
    'interrupt_action', ia, 'interrupt_request', ib, 'interrupt_requested_at', iat)
  redis.call(publish, channel, cjson.encode({seq = seq, action = action, by = by,
    epoch = epoch}))
  log_request(log, {event = 'request', action = action, seq = seq, by = by, at = now,
    run = to_seq(h[6]) or 0})
  return {'ok', seq, status}
end
