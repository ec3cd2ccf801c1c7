"""Erlang C: how many agents a queue needs for a service level.

With arrivals at rate λ and a mean handle time AHT, the offered load is
A = λ·AHT erlangs. With N > A agents, the chance a customer waits at all is

    P(wait) = (A^N/N! · N/(N−A)) / (Σ_{k<N} A^k/k! + A^N/N! · N/(N−A))

and the share answered within T is 1 − P(wait)·e^{−(N−A)·T/AHT}."""

from __future__ import annotations

import math


def erlang_c(agents: int, load: float) -> float:
    """Probability that an arrival has to wait (1.0 when the queue is unstable)."""
    if agents <= load:
        return 1.0
    # Sum the Poisson terms iteratively: no factorial overflow for large N.
    term, total = 1.0, 1.0
    for k in range(1, agents):
        term *= load / k
        total += term
    top = term * load / agents * agents / (agents - load)
    return top / (total + top)


def service_level(agents: int, load: float, handle_seconds: float, within_seconds: float) -> float:
    if agents <= load:
        return 0.0
    return 1 - erlang_c(agents, load) * math.exp(-(agents - load) * within_seconds / handle_seconds)


def agents_needed(
    arrivals_per_hour: float, handle_seconds: float, target: float = 0.8, within_seconds: float = 300
) -> int:
    """The fewest agents that answer `target` of arrivals within `within_seconds`."""
    if arrivals_per_hour <= 0:
        return 0
    load = arrivals_per_hour * handle_seconds / 3600
    agents = max(1, math.floor(load) + 1)
    while service_level(agents, load, handle_seconds, within_seconds) < target:
        agents += 1
    return agents
