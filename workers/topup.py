"""More executors for running runs when more processes serve a configuration than when their work was queued.

A run's ready flexible tasks are popped by its executors, launched when the work is queued (up to
``store.readiness.executor_cap`` per configuration: ``SLAFLOW_FLEX_EXECUTORS``, and no more than the
cores of the hosts serving it). A host that joins while the run executes adds pool processes and
cores — its autoscaler publishes them (``store.pools``) — but the executors already running on the
other hosts would go on popping everything. So every worker's reaper, once a second, compares each
running run's executors of each configuration with the live processes serving it (summed over
hosts, and no more than those hosts' cores: a process beyond them only shares a core) and, where
that is more than the cap, while tasks have waited on the run's ready list for ``WAIT_S`` (a
burst of short tasks is done before a new executor would start), launches executors up to that
number: their messages go to the configuration's queue, where the newcomer's free processes take them.
One atomic script per run and configuration decides how many (counting those still popping), so
reapers on several hosts never launch more than that between them; an executor with nothing left to
pop retires as any other.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from store import keys, pools, readiness
from store.redis_client import get_redis, script as _script

log = logging.getLogger("slaflow.topup")

# Ready tasks must have waited this long before more executors are launched for them: a burst of short
# tasks is over before a new executor would start (cold, on a newcomer), and only adds contention.
WAIT_S = 2.0

_TOPUP = """
-- KEYS: over, ready, execs, live, registry, branches, waiting since
-- ARGV: cap, run prefix, token prefix, memory_mb, ttl, now, wait
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local ready = redis.call('LLEN', KEYS[2])
if ready == 0 then
  redis.call('DEL', KEYS[7])
  return {}
end
if redis.call('SET', KEYS[7], ARGV[6], 'NX', 'EX', ARGV[5]) then
  redis.call('SADD', KEYS[5], KEYS[7])
  return {}
end
if tonumber(ARGV[6]) - tonumber(redis.call('GET', KEYS[7])) < tonumber(ARGV[7]) then return {} end
local want = math.min(ready, tonumber(ARGV[1]) - redis.call('SCARD', KEYS[3]))
local made = {}
for i = 1, want do
  local t = ARGV[3] .. i
  redis.call('SADD', KEYS[3], t)
  redis.call('SADD', KEYS[4], t)
  redis.call('SADD', KEYS[5], K.lease(ARGV[2], t), K.held(ARGV[2], t), K.wake(ARGV[2], t))
  redis.call('HSET', KEYS[6], t, '{"e": [], "w": null, "m": ' .. ARGV[4] .. '}')
  made[#made + 1] = t
end
if #made > 0 then
  for i = 3, 6 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
end
return made
"""


def running_runs(now: float, limit: int = 10_000) -> set[int]:
    """Runs with a branch holding a live lease."""
    members = get_redis().zrangebyscore(keys.lease_index(), now, "+inf", start=0, num=limit)
    return {int(m.decode().partition("|")[0]) for m in members}


def sweep(now: float | None = None) -> list[tuple[int, str, int]]:
    """One pass; the executors launched, as (run, token, memory_mb)."""
    now = time.time() if now is None else now
    caps = {}
    several_hosts = len(pools.read_capacity(now).hosts) > 1
    for mb, processes in pools.read_pools(now).items():
        cores = readiness.core_slots(mb)
        cap = processes if cores is None else min(processes, cores)  # a process per core, not beyond
        # One host's runs got theirs when their work was queued; on several, one may have joined since.
        if cap > readiness.executor_cap(mb) or (several_hosts and cores is not None):
            caps[mb] = cap
    if not caps:
        return []  # no configuration has more processes (on their cores) than the executors runs got
    launched = []
    for run_id in sorted(running_runs(now)):
        for mb, cap in sorted(caps.items()):
            prefix = f"{readiness.executor_prefix(run_id)}{mb}-up{time.time_ns()}-"
            made = _script("topup", _TOPUP)(
                keys=[
                    keys.over(run_id),
                    keys.ready(run_id, mb),
                    keys.executors(run_id, mb),
                    keys.live(run_id),
                    keys.registry(run_id),
                    keys.branches(run_id),
                    keys.ready_since(run_id, mb),
                ],
                args=[cap, keys.run_prefix(run_id), prefix, mb, int(settings.SLAFLOW_RUN_TTL_S), repr(now), WAIT_S],
            )
            launched.extend((run_id, t.decode(), mb) for t in made)
    if launched:
        from workers import canvas

        for run_id, token, mb in launched:
            canvas.executor_signature(run_id, token, mb).apply_async()
        log.info(
            "launched %d executor(s) for processes that joined: %s",
            len(launched),
            ", ".join(f"run {r} on {mb} MB" for r, _, mb in launched),
        )
    return launched
