-- Applies one batch's counts to the buckets of one hash tag, each bucket at most once: only a
-- bucket whose `batches` set does not hold the batch id yet is counted, so a retried or repeated
-- batch changes nothing. See src/insights/keys.ts for the layout.
--
-- KEYS: four per bucket, in the order of ARGV's buckets: stats, users, devices, batches.
-- ARGV[1]: JSON {"batch": "<batch id>", "buckets": [{"expireAt": <epoch s>, "users": [..],
--          "devices": [..], "fields": [["<hash field>", <increment>], ..]}, ..]}
-- Returns how many buckets were new to this batch (0 when it had been applied before).

local input = cjson.decode(ARGV[1])
local applied = 0
-- unpack() passes at most a few thousand values at once: add HyperLogLog members in slices.
local SLICE = 500

local function addAll(hll, members)
  for first = 1, #members, SLICE do
    redis.call('PFADD', hll, unpack(members, first, math.min(first + SLICE - 1, #members)))
  end
end

for index, bucket in ipairs(input.buckets) do
  local base = (index - 1) * 4
  local stats, users, devices, batches = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4]
  if redis.call('SADD', batches, input.batch) == 1 then
    addAll(users, bucket.users)
    addAll(devices, bucket.devices)
    for _, field in ipairs(bucket.fields) do
      redis.call('HINCRBY', stats, field[1], field[2])
    end
    for _, key in ipairs({ stats, users, devices, batches }) do
      if redis.call('EXISTS', key) == 1 then redis.call('EXPIREAT', key, bucket.expireAt) end
    end
    applied = applied + 1
  else
    -- Applied by an earlier attempt: still write (the same expiry), so that a WAIT after this
    -- script covers the earlier attempt's writes too, whichever connection made them.
    redis.call('EXPIREAT', batches, bucket.expireAt)
  end
end
return applied
