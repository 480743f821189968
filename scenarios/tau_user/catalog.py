"""Which domain module builds which domain (docs/tasks.md#tau-user): the shipped ``bike_rental`` here,
tau2's ``airline`` and ``retail`` through ``tau2_domains``, imported only when asked for."""

from __future__ import annotations

from functools import cache

from scenarios.tau_user.bike_rental import bike_rental_domain
from scenarios.tau_user.domain import DOMAINS, SHIPPED_DOMAINS, TAU2_DOMAINS, Domain, domain_dir, domain_tasks


@cache
def load_domain(name: str) -> Domain:
    """The domain (built once per process); tau2's domains import tau2 here and only here."""
    if name in SHIPPED_DOMAINS:
        return bike_rental_domain(domain_dir(name), domain_tasks(name))
    if name in TAU2_DOMAINS:
        from scenarios.tau_user.tau2_domains import tau2_domain

        return tau2_domain(name, domain_dir(name), domain_tasks(name))
    raise ValueError(f"unknown domain {name!r}; known: {DOMAINS}")
