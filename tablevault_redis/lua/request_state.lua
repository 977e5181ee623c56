-- Read the request state in one atomic step (the listener's resync).
-- KEYS[1] proc hash   KEYS[2] request key
-- Returns {request_seq, request JSON or ""}.
local seq = redis.call('HGET', KEYS[1], 'request_seq') or '0'
return {tonumber(seq) or 0, redis.call('GET', KEYS[2]) or ''}
