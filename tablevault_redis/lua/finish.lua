-- Write a final status by compare-and-set: a final status is never overwritten.
-- Closes the open code item, clears the request, drops this run's heartbeat.
-- KEYS[1] proc hash   KEYS[2] request key   KEYS[3] alive key   KEYS[4] code stream
-- ARGV[1] status: stopped | completed | failed | crashed   ARGV[2] now (epoch s)
-- ARGV[3] error text   ARGV[4] stopped_by   ARGV[5] heartbeat token of the run ending,
-- or "" when a cleaner ends a dead process   ARGV[6] "1": only if the heartbeat expired
-- ARGV[7] status of the open code item, ARGV[8] its error text
-- A cleaner's end (ARGV[6] "1") is dated at the last heartbeat, when the process was
-- last seen alive, as readers already show it; a run's own end is dated now.
-- Returns {"set", status} or {"kept", status already there, or the record of another
-- run} or {"alive", status}.
-- A record that is not a hash counts as missing.
-- `final` and the helpers are defined by the prelude scripts.py puts first.
-- The record's fields are read in one trapped HMGET (a record that is not a hash is
-- its error) before anything is written, and written in one HSET.
local f = redis.pcall('HMGET', KEYS[1], 'status', 'open_code', 'heartbeat_at', 'started_at',
  'stopping_seq', 'heartbeat_token')
if f['err'] then return {'missing', ''} end
local status = f[1]
if not status then return {'missing', ''} end
if final[status] then return {'kept', status} end
local holder = get_string(KEYS[3])
if ARGV[6] == '1' and holder then return {'alive', status} end
if ARGV[5] ~= '' and ((holder and holder ~= ARGV[5]) or f[6] ~= ARGV[5]) then
  -- Another run took the name over after this one was given up as dead (and may have
  -- died since: its record is still its own).
  return {'kept', status}
end
local ended = ARGV[2]
if ARGV[6] == '1' then
  ended = (f[3] ~= false and f[3] ~= '' and f[3])
    or (f[4] ~= false and f[4] ~= '' and f[4]) or ended
end
local open = f[2]
if open and open ~= '' then
  local stream = key_type(KEYS[4])
  if stream == 'stream' or stream == 'none' then
    redis.call('XADD', KEYS[4], '*', 'event', 'close', 'index', open, 'status', ARGV[7],
      'error', ARGV[8], 'ended_at', ended)
  end
end
local fields = {'status', ARGV[1], 'ended_at', ended, 'error', ARGV[3], 'open_code', '',
  'interrupt_action', '', 'interrupt_request', '', 'interrupt_requested_at', '',
  'paused_at', ''}
-- A notebook keeps the name of whoever stopped one of its cells.
if ARGV[4] ~= '' then
  fields[#fields + 1] = 'stopped_by'
  fields[#fields + 1] = ARGV[4]
end
if ARGV[1] == 'stopped' then
  fields[#fields + 1] = 'stopped_at'
  fields[#fields + 1] = ended
end
redis.call('HSET', KEYS[1], unpack(fields))
-- A request still pending that no checkpoint acted on: say so in the record, or the
-- stop that was asked for would leave no trace.
local raw = redis.call('GET', KEYS[2])
local ok, cur = pcall(cjson.decode, raw or '')
if ok and type(cur) == 'table' and cur['action'] then
  local acted = cur['action'] == 'stop' and f[5] == tostring(cur['seq'])
  if not acted then
    redis.call('HSET', KEYS[1], 'unreached_action', tostring(cur['action']),
      'unreached_by', tostring(cur['by'] or ''), 'unreached_at', tostring(cur['at'] or ''))
  end
end
redis.call('DEL', KEYS[2])
if holder and (ARGV[5] == '' or holder == ARGV[5]) then redis.call('DEL', KEYS[3]) end
return {'set', ARGV[1]}
