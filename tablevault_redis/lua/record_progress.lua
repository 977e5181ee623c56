-- Write a run's progress into its process record: how many records it wrote and the
-- last one. Idempotent (the count is the run's own, not an increment), so the outbox
-- may retry it; a run that no longer owns the record writes nothing.
-- KEYS[1] proc hash
-- ARGV[1] heartbeat token of the run   ARGV[2] records written by the run
-- ARGV[3] the last record, abbreviated JSON   ARGV[4] its list   ARGV[5] when (epoch s)
-- Returns 1 when written, 0 when the record belongs to another run.
if redis.call('HGET', KEYS[1], 'heartbeat_token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'records_written', ARGV[2], 'last_record', ARGV[3],
  'last_record_list', ARGV[4], 'last_record_at', ARGV[5])
return 1
