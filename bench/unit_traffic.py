"""Traffic from users, for the rollout simulator: a user is the unit of randomisation and of failure.

Each simulated rollout draws a population of active users: each has a bucket (uniform over the
100,000 buckets, so the plan's stages decide which arm it is in and ``bucket % 64`` its unit
group, exactly as the SDK does), an activity (requests per second, heavy-tailed: lognormal) and a
failure probability (most users a low base rate; a few "broken" users - a bad client version, a
bot - fail often, again and again, and may retry). Requests are then Poisson per user and tick,
failures binomial per request, which is what makes errors cluster by user.

Users are not simulated one by one (1,000,000 users x 200 ticks x 1,000 rollouts would take
days): per (stage slice, unit group) the population is aggregated into the total activity of its
ordinary users and of its broken users, which is all the per-tick counts depend on. The sum of a
slice-group's ordinary activities is drawn exactly for up to 64 users, and otherwise as its
heaviest 1% drawn one by one plus a normal approximation of the rest (whose variance is finite).
Broken users are drawn one by one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from statistics import NormalDist

from flagplane.metrics import UNIT_GROUPS

REQUESTS_PER_USER_S = 0.1
"""Mean requests per second of an active user (one every 10 s): 10,000 users make scenario A's 1,000/s."""

_TAIL = 0.01
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Population:
    """How failures and activity are spread over users.

    ``broken_share`` of users fail each request with ``broken_failure`` and make
    ``broken_activity`` times the requests of an ordinary user; everyone else fails with
    ``base_rate``. Activity is lognormal with log-sd ``activity_sigma`` (mean 1). A broken
    user's failed request is retried up to ``retries`` times (each retry can fail again).
    """

    name: str
    broken_share: float
    broken_failure: float
    base_rate: float
    activity_sigma: float
    retries: int = 0
    broken_activity: float = 1.0


POPULATIONS = (
    Population("1% of users fail half their requests; activity lognormal sd 1", 0.01, 0.5, 0.005, 1.0),
    Population(
        "1% of users fail half their requests and retry each failure up to 3 times; activity sd 1.5",
        0.01, 0.5, 0.001, 1.5, retries=3,
    ),
    Population("0.1% of users are bots: 10x the requests, 30% of them failing; activity sd 1", 0.001, 0.3, 0.007, 1.0,
               broken_activity=10.0),
)  # fmt: skip
"""The heterogeneity levels of scenario D; each has an overall error rate of about 1%."""


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0.0:
        return 0
    if mean >= 15.0:  # normal approximation: far below the effects studied, and fast
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    k, product = 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def binomial(rng: random.Random, n: int, p: float) -> int:
    """Binomial(n, p): exact inversion for a small mean, continuity-free normal otherwise."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1.0 - p)
    mean = n * p
    if mean >= 30.0:
        return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1.0 - p))))))
    u = rng.random()
    k = 0
    pmf = math.exp(n * math.log1p(-p))
    cdf = pmf
    odds = p / (1.0 - p)
    while u > cdf and k < n:
        pmf *= (n - k) / (k + 1) * odds
        k += 1
        cdf += pmf
    return k


class _Activity:
    """Sums of lognormal activities (mean 1) with log-sd ``sigma``."""

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma
        self.mu = -sigma * sigma / 2.0
        self.cut = math.exp(self.mu + sigma * _NORMAL.inv_cdf(1.0 - _TAIL))
        # Mean and variance of one activity below the cut (the truncated lognormal's moments).
        z = (math.log(self.cut) - self.mu) / sigma
        body = 1.0 - _TAIL
        first = math.exp(self.mu + sigma**2 / 2) * _NORMAL.cdf(z - sigma) / body
        second = math.exp(2 * self.mu + 2 * sigma**2) * _NORMAL.cdf(z - 2 * sigma) / body
        self.body_mean, self.body_var = first, second - first * first

    def one(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)

    def total(self, rng: random.Random, users: int) -> float:
        if users <= 64:
            return sum(rng.lognormvariate(self.mu, self.sigma) for _ in range(users))
        heavy = binomial(rng, users, _TAIL)
        tail = sum(
            math.exp(self.mu + self.sigma * _NORMAL.inv_cdf(1.0 - _TAIL * rng.random() * 0.999999))
            for _ in range(heavy)
        )
        light = users - heavy
        return tail + max(0.0, rng.gauss(light * self.body_mean, math.sqrt(light * self.body_var)))


@dataclass
class Cell:
    """The users of one (slice of buckets, unit group): their total ordinary and broken activity."""

    ordinary: float = 0.0
    broken: float = 0.0


def draw_population(
    rng: random.Random, population: Population, users: int, slice_edges: tuple[float, ...]
) -> list[list[Cell]]:
    """``cells[s][g]``: the users whose bucket is in slice s (between consecutive ``slice_edges``,
    in percent) and in unit group g."""
    activity = _Activity(population.activity_sigma)
    cells = []
    previous = 0.0
    for edge in slice_edges:
        width = (edge - previous) / 100.0
        previous = edge
        per_group = users * width / UNIT_GROUPS
        row = []
        for _ in range(UNIT_GROUPS):
            count = poisson(rng, per_group) if per_group < 1e4 else round(rng.gauss(per_group, math.sqrt(per_group)))
            broken = binomial(rng, count, population.broken_share)
            row.append(
                Cell(
                    ordinary=activity.total(rng, count - broken),
                    broken=sum(activity.one(rng) for _ in range(broken)) * population.broken_activity,
                )
            )
        cells.append(row)
    return cells


def arm_cells(cells: list[list[Cell]], stage: int) -> tuple[list[Cell], list[Cell]]:
    """(treatment, control) per unit group while stage ``stage`` (0-based) is served: the treatment
    has the slices up to and including ``stage`` (its buckets are below the stage's percent)."""
    treatment = [Cell() for _ in range(UNIT_GROUPS)]
    control = [Cell() for _ in range(UNIT_GROUPS)]
    for s, row in enumerate(cells):
        target = treatment if s <= stage else control
        for g, cell in enumerate(row):
            target[g].ordinary += cell.ordinary
            target[g].broken += cell.broken
    return treatment, control


def expected_rate(population: Population, cells: list[Cell]) -> float:
    """The long-run error rate of an arm's users (what its rate tends to with endless requests)."""
    q = population.broken_failure
    requests_per_first = sum(q**k for k in range(population.retries + 1))  # a first try and its retries
    failures_per_first = sum(q ** (k + 1) for k in range(population.retries + 1))
    ordinary = sum(cell.ordinary for cell in cells)
    broken = sum(cell.broken for cell in cells)
    requests = ordinary + broken * requests_per_first
    return (ordinary * population.base_rate + broken * failures_per_first) / requests if requests else 0.0


def tick_counts(
    rng: random.Random,
    population: Population,
    cells: list[Cell],
    seconds: float,
    extra_failure: float = 0.0,
    signal_loss: float = 0.0,
) -> list[tuple[int, int]]:
    """(requests, failures) per unit group over ``seconds`` for one arm's users.

    ``extra_failure``: a treatment that breaks this share of every user's otherwise successful
    requests (0.01 on a 1% population doubles the error rate: the "2x" treatment). The
    population's own failures are unchanged, so a broken user stays broken, not twice as broken.
    ``signal_loss``: the share of requests whose health signal never reaches the SDK (a crash
    before it is recorded), independent of the outcome.
    """
    scale = REQUESTS_PER_USER_S * seconds
    base = population.base_rate
    broken_failure = population.broken_failure
    out = []
    for cell in cells:
        requests = poisson(rng, cell.ordinary * scale) if cell.ordinary else 0
        failures = binomial(rng, requests, base)
        if cell.broken:
            first = poisson(rng, cell.broken * scale)
            failed = binomial(rng, first, broken_failure)
            requests += first
            failures += failed
            for _ in range(population.retries):
                if not failed:
                    break
                requests += failed
                failed = binomial(rng, failed, broken_failure)
                failures += failed
        if extra_failure and requests > failures:
            failures += binomial(rng, requests - failures, extra_failure)
        if signal_loss and requests:
            kept_failures = binomial(rng, failures, 1.0 - signal_loss)
            requests = kept_failures + binomial(rng, requests - failures, 1.0 - signal_loss)
            failures = kept_failures
        out.append((requests, failures))
    return out


def independent_counts(rng: random.Random, requests_per_s: float, seconds: float, rate: float) -> list[tuple[int, int]]:
    """(requests, failures) per unit group for independent requests from very many users."""
    mean = requests_per_s * seconds / UNIT_GROUPS
    out = []
    for _ in range(UNIT_GROUPS):
        requests = poisson(rng, mean)
        out.append((requests, binomial(rng, requests, rate)))
    return out
