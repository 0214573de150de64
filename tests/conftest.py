"""Settings shared by every test: Hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` selects a derandomised profile (the same examples on every run, so a CI
failure reproduces); the default profile explores new examples each run. Neither has a deadline:
timings on a shared CI machine vary too much for per-example limits to mean anything.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
