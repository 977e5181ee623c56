-- Write a description and move its word index entries, by compare-and-set on the
-- description it replaces (the caller computed the old words from it).
-- KEYS[1] descriptions hash of the item   KEYS[2 .. 1+ARGV[5]] old word sets
-- KEYS[2+ARGV[5] ..] new word sets
-- ARGV[1] description name   ARGV[2] the current JSON the caller read, or ""
-- ARGV[3] new JSON   ARGV[4] index member   ARGV[5] number of old word sets
-- Returns 1 when written, 0 when the description changed meanwhile (read again).
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if cur ~= ARGV[2] then return 0 end
local n_old = tonumber(ARGV[5])
for i = 2, 1 + n_old do redis.call('SREM', KEYS[i], ARGV[4]) end
for i = 2 + n_old, #KEYS do redis.call('SADD', KEYS[i], ARGV[4]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
