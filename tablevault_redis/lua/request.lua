-- Write an interrupt request (stop, pause or resume) and announce it, atomically.
-- KEYS[1] proc hash   KEYS[2] request key   KEYS[3] alive key   KEYS[4] control channel
-- KEYS[5] request history (a new request adds {"event": "request", "action", "seq",
--         "by", "at", "run"})
-- ARGV[1] action: stop | pause | resume   ARGV[2] who asks   ARGV[3] now (epoch s)
-- ARGV[4] publish command: PUBLISH or SPUBLISH (sharded, Redis 7 cluster)
-- ARGV[5] request id, unique per call: a retry after a lost reply is answered with
--         the first attempt's result instead of being applied twice
-- Returns {"ok", seq, status} or {"err", reason, detail1, detail2} with reason one of
-- not_found, corrupt (the record is not a hash), ended, not_alive, conflict,
-- not_paused. A resume of a process still shown paused after an earlier resume is
-- "ok" with the current seq (nothing new). A request key or a request_seq that is
-- not well formed counts as absent and is overwritten. The request key and the
-- notification carry the record's epoch; the notification is only a hint: the
-- target reads the request key.
-- `final` and the helpers (request_one does the work) are defined by the prelude
-- scripts.py puts first.
local action = ARGV[1]
if action ~= 'stop' and action ~= 'pause' and action ~= 'resume' then
  return redis.error_reply('unknown action ' .. action)
end
return request_one(action, ARGV[2], tonumber(ARGV[3]), ARGV[4], KEYS[1], KEYS[2], KEYS[3],
  KEYS[4], KEYS[5], ARGV[5])
