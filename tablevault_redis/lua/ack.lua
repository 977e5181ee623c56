-- The target reports that it acted on a request: it is now paused, running again,
-- a checkpoint raised for a stop (it is stopping: the stop can no longer be
-- withdrawn), or it consumed a stop that ended a notebook cell (the kernel lives on).
-- KEYS[1] proc hash   KEYS[2] request key   KEYS[3] request history (a step that
-- changed something adds {"event": kind, "seq", "by", "at", "run"})
-- ARGV[1] kind: paused | running | stopping | stop_consumed   ARGV[2] request seq acted on
-- ARGV[3] now (epoch s)   ARGV[4] who asked
-- Returns the status after the step ("" when the record is missing or unreadable);
-- for stopping: "stopping" when recorded, "superseded" when the stop was withdrawn;
-- for paused: "paused" only when this step recorded it, else "unchanged" (a
-- checkpoint verifying an announced pause pauses only on "paused").
-- A request key that is not well formed counts as absent.
-- `final` and the helpers are defined by the prelude scripts.py puts first.
-- A record that is not a hash is the error of a trapped read (one command, not TYPE
-- and HMGET); stopping_seq is read with the rest, before anything is written.
local h = redis.pcall('HMGET', KEYS[1], 'status', 'epoch', 'request_seq', 'run', 'stopping_seq')
if h['err'] then return '' end
local status = h[1]
if not status then return '' end
local kind = ARGV[1]
local function logged()
  log_request(KEYS[3], {event = kind, seq = to_seq(ARGV[2]) or 0, by = ARGV[4],
    at = tonumber(ARGV[3]), run = to_seq(h[4]) or 0})
end
local cur = pending_request(get_string(KEYS[2]), h[2] or '', to_seq(h[3]) or 0)
if kind == 'paused' then
  if status == 'running' and cur and cur['action'] == 'pause'
      and tostring(cur['seq']) == ARGV[2] then
    -- paused_seq tells a waiting controller which pause this is.
    redis.call('HSET', KEYS[1], 'status', 'paused', 'paused_at', ARGV[3],
      'paused_seq', ARGV[2])
    logged()
    return 'paused'
  end
  return 'unchanged'
elseif kind == 'running' then
  if status == 'paused' then
    redis.call('HSET', KEYS[1], 'status', 'running', 'paused_at', '')
    logged()
    return 'running'
  end
elseif kind == 'stopping' then
  if cur and cur['action'] == 'stop' and tostring(cur['seq']) == ARGV[2] then
    if h[5] ~= ARGV[2] then logged() end
    redis.call('HSET', KEYS[1], 'stopping_seq', ARGV[2])
    return 'stopping'
  end
  -- Not this stop, and a newer request number: it was withdrawn first (nothing else
  -- replaces a pending stop; later requests may follow the withdrawal), so the
  -- checkpoint must not act on it.
  if (to_seq(h[3]) or 0) > (tonumber(ARGV[2]) or 0) then return 'superseded' end
elseif kind == 'stop_consumed' then
  if cur and cur['action'] == 'stop' and tostring(cur['seq']) == ARGV[2] then
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[1], 'interrupt_action', '', 'interrupt_request', '',
      'interrupt_requested_at', '', 'stopped_by', ARGV[4], 'stopped_at', ARGV[3])
    if status == 'paused' then redis.call('HSET', KEYS[1], 'status', 'running') end
    logged()
    return redis.call('HGET', KEYS[1], 'status')
  end
else
  return redis.error_reply('unknown ack ' .. kind)
end
return status
