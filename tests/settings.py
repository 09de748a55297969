"""Settings for the test suite: the project's settings on a Redis DB of its own.

Tests and the workers they start share this module, so both sides talk to the
same Redis database (``SLAFLOW_TEST_REDIS_DB``, default 13) and never touch a
developer's queues or runs in DB 0.
"""

import os

from orchestrator.core import envconfig as _env
from orchestrator.settings import *  # noqa: F401,F403
from tests.command_policies import PROBE as _PROBE

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # The flush after each committing test deletes rows, not truncates tables (tests/testdb/postgresql/base.py).
    # The engine's name ends as Django's own does, which localcluster.relays looks at.
    DATABASES["default"]["ENGINE"] = "tests.testdb.postgresql"  # noqa: F405
REDIS = _env.redis_target(os.environ.get("REDIS_URL"), db=int(os.environ.get("SLAFLOW_TEST_REDIS_DB", "13")))
CELERY_BROKER_URL = REDIS.broker_url
CACHES = redis_caches(REDIS)  # noqa: F405  (the throttle cache follows the test Redis DB)
SLAFLOW_WORKFLOW_MODULES = SLAFLOW_WORKFLOW_MODULES + ("tests.taskfns",)  # noqa: F405
# Test-only programs: `sleep` (a command to time out), `env`, `id` and the sandbox probe (what a program sees).
SLAFLOW_ALLOWED_EXECUTABLES = SLAFLOW_ALLOWED_EXECUTABLES + ("sleep", "env", "id", _PROBE)  # noqa: F405
SLAFLOW_COMMAND_POLICIES = ("tests.command_policies.POLICIES",)
# Short leases so take-over after a killed process is quick in tests.
SLAFLOW_LEASE_S = float(os.environ.get("SLAFLOW_LEASE_S", "3"))
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A hook that raises fails its run (and so its test) instead of only being logged.
SLAFLOW_STRICT_HOOKS = True
SLAFLOW_HOOKS = ("tests.taskfns.ProbeHook",)
# Many tests sign in through the forms from 127.0.0.1 within a minute; the throttle tests set their own rates.
SLAFLOW_LOGIN_RATE = "600/minute"
# The alert tests' receiver listens on 127.0.0.1 (webhooks go to public addresses only unless allowed).
SLAFLOW_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8",)
# Integration tests check the planners' own layouts (workers, uploads, start-ups): the comparison with WUKONG
# (planning.guard) is off here, and on in the tests of it (tests/unit/test_planning_guard.py, the suite's).
SLAFLOW_COMPARE_WUKONG = False
