"""Hypothesis settings for a shared 2-core machine: no per-example deadline, no slowness checks."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("ci")
