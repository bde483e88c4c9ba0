"""Shared test configuration: headless plotting, quick notebooks, hypothesis profile."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("DSE_QUICK", "1")
# Keep the suite out of the user's cache (the co-design reference front is cached on disk);
# one folder per session so its cache tests start from a known state.
os.environ["DSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="dse-test-cache-")

from hypothesis import HealthCheck, settings

# Wall-clock deadlines make property tests flaky on a loaded 2-core machine; example
# counts stay modest so the whole suite keeps within its time budget.
settings.register_profile(
    "dse", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dse"))
