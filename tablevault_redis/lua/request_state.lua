-- Read the request state in one atomic step (the listener's read after a
-- notification or a (re)subscribe).
-- KEYS[1] proc hash   KEYS[2] request key
-- Returns {epoch, request_seq, request JSON or ""}: the record's epoch and counter
-- ("" and 0 when the record is missing or unreadable, 0 for a counter that is not an
-- integer) and the pending request, only when it is well formed (see the prelude's
-- pending_request), normalised.
-- A record that is not a hash is the error of a trapped read (one command, not TYPE
-- and HMGET); a missing one reads as no fields, which gives the same reply.
local h = redis.pcall('HMGET', KEYS[1], 'epoch', 'request_seq')
if h['err'] then return {'', 0, ''} end
local epoch, counter = h[1] or '', to_seq(h[2]) or 0
local req = pending_request(get_string(KEYS[2]), epoch, counter)
if req then return {epoch, counter, cjson.encode(req)} end
return {epoch, counter, ''}
