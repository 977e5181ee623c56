-- Remove a pruned process from the namespace's indexes, by compare-and-set: only
-- while its entry in the processes index still has the start time of the run that
-- was pruned (or is gone already), so a new run of the same name keeps its entries.
-- Safe to repeat; large removals are sent in several calls.
-- KEYS[1] processes sorted set   KEYS[2] its descriptions hash   KEYS[3] its wrote
-- hash   KEYS[4] its dependents list   KEYS[5 ..] word index sets
-- ARGV[1] process name   ARGV[2] started_at of the pruned run   ARGV[3 ..] one member
-- per word index set of KEYS[5 ..], removed from it
-- Returns 1 when removed, 0 when the name belongs to a newer run.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
for i = 5, #KEYS do redis.call('SREM', KEYS[i], ARGV[i - 2]) end
return 1
