"""The shared rate limits of a cluster (user messages, uploads, logins) on
Redis: one token bucket per key for all the processes, so a user's or an
address's budget is the same however many processes serve it. The
per-socket limits stay in each process (chatbot/ratelimit.py).

One small Lua script does a bucket's read, refill, spend and write in one
step on the Redis server (atomic: two processes never spend one token),
called by EVALSHA through redis-py's `register_script` (it loads the script
again by itself after a Redis restart). Not the `limits` package: it has
fixed, moving and sliding windows but no token bucket (our limits are a
burst and a refill rate, docs/security.md), it reads time.time() and Redis
TTLs where we inject the clock, its async Redis default is another client
(coredis), and it brings three packages more. The script is under 20 lines.

Time is the app's injected clock (chatbot/clock.py), passed to the script,
never Redis TIME, so tests move it instead of sleeping. Processes whose
clocks disagree cannot mint tokens from it: a bucket's time never goes back.
A bucket expires (in Redis's real time) once it would be full again anyway,
so forgetting it only forgives, as the in-memory buckets' clearing does.

Redis unreachable: the limits fail open to this process's own buckets (the
embedded limits, per process), with one warning a minute, and Redis is tried
again after `RETRY_SECONDS`; rate limiting never takes the chat down."""

from __future__ import annotations

import logging
import math

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..clock import Clock
from ..ratelimit import Limit, Limiter, RateLimited

log = logging.getLogger(__name__)

PREFIX = "chatbot:limit"
TIMEOUT_SECONDS = 0.5  # a limit check never holds a request longer than this on a Redis that hangs
RETRY_SECONDS = 5.0  # after a failure, the local buckets for this long before Redis is tried again
WARN_SECONDS = 60.0  # at most one warning this often while Redis is down

# KEYS[1] the bucket (a hash: tokens, at); ARGV burst, tokens a second, now (s).
# Returns {1, tokens left} or {0, tokens}, as strings (Lua numbers leave Redis as integers).
TOKEN_BUCKET = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
if tokens < 1 then
  return {0, tostring(tokens)}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens + 1) / rate * 1000) + 1000)
return {1, tostring(tokens - 1)}
"""


class RedisLimiters:
    """The cluster's shared limits: `Limits(clock, shared=RedisLimiters(url, clock))`.
    The connection opens at the first check and closes with `close()`."""

    def __init__(self, url: str, clock: Clock, *, prefix: str = PREFIX) -> None:
        self.clock = clock
        self.prefix = prefix
        # One try per check, no retries with backoff (redis-py's default): the local buckets are the fallback.
        self.redis: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )
        self.script = self.redis.register_script(TOKEN_BUCKET)
        self.down_until = -math.inf  # clock seconds: the local buckets until then
        self.warned_at = -math.inf

    def limiter(self, name: str, limit: Limit) -> RedisLimiter:
        return RedisLimiter(self, f"{self.prefix}:{name}", limit)

    async def close(self) -> None:
        await self.redis.aclose()

    def failed(self, error: Exception) -> None:
        now = self.clock.now().timestamp()
        self.down_until = now + RETRY_SECONDS
        if now - self.warned_at >= WARN_SECONDS:
            self.warned_at = now
            log.warning("rate limits: Redis unreachable (%s); each process counts on its own until it is back", error)

    def recovered(self) -> None:
        if self.down_until > -math.inf:
            self.down_until = self.warned_at = -math.inf
            log.warning("rate limits: Redis is back; the limits span the cluster again")


class RedisLimiter:
    """One of the shared limits: a bucket per key on Redis, and this
    process's own buckets for while Redis cannot be reached."""

    def __init__(self, limiters: RedisLimiters, prefix: str, limit: Limit) -> None:
        self.limiters = limiters
        self.prefix = prefix
        self.limit = limit
        self.local = Limiter(limiters.clock, limit)

    async def hit(self, key: str, what: str = "requests") -> None:
        """Spend one token of `key` in the cluster, or raise RateLimited."""
        now = self.limiters.clock.now().timestamp()
        if now < self.limiters.down_until:
            self.local.hit(key, what)
            return
        try:
            allowed, tokens = await self.limiters.script(
                keys=[f"{self.prefix}:{key}"], args=[self.limit.burst, self.limit.per_second, repr(now)]
            )
        except (RedisError, OSError) as error:
            self.limiters.failed(error)
            self.local.hit(key, what)
            return
        self.limiters.recovered()
        if not int(allowed):
            wait = (1 - float(tokens)) / self.limit.per_second
            raise RateLimited(f"too many {what}: try again in {max(1, round(wait))} s")
