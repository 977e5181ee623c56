-- Clear the interrupt request addressed to a process that is not alive.
-- KEYS[1] proc hash   KEYS[2] request key   KEYS[3] alive key
-- Returns 1 when a request was cleared, 0 when the process is alive or had none.
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('DEL', KEYS[2]) == 0 then return 0 end
if key_type(KEYS[1]) == 'hash' then
  redis.call('HSET', KEYS[1], 'interrupt_action', '', 'interrupt_request', '',
    'interrupt_requested_at', '')
end
return 1
