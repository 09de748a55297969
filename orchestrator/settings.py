"""Django settings for slaflow, all read from the environment (see envconfig)."""

from __future__ import annotations

import os
import tempfile

from orchestrator.core import envconfig as env, logs

BASE_DIR = env.BASE_DIR
VAR_DIR = env.VAR_DIR

# Local mode (the default) is a developer's machine; SLAFLOW_MODE=production (the image and
# docker-compose set it) refuses to start with DEBUG on, a default SECRET_KEY, any or no allowed host,
# cookies over plain HTTP or Flower's default login (envconfig.check_production names the variable).
MODE = env.mode()
PRODUCTION = MODE == "production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", env.LOCAL_SECRET_KEY)
DEBUG = env.env_bool("DJANGO_DEBUG", not PRODUCTION)
# Local mode answers any Host; production wants the site's names listed.
ALLOWED_HOSTS = list(env.host_list(os.environ.get("DJANGO_ALLOWED_HOSTS"), () if PRODUCTION else ("*",)))
CSRF_TRUSTED_ORIGINS = list(env.host_list(os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS"), ()))
# Session and CSRF cookies only over HTTPS (production: always; it refuses the setting off).
SLAFLOW_SECURE_COOKIES = env.env_bool("SLAFLOW_SECURE_COOKIES", PRODUCTION)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SLAFLOW_SECURE_COOKIES
# Flower's basic auth "user:password" (empty: none). Local mode's default is public; production has none and
# refuses it, and Flower will not start in production without one (workers.flower).
SLAFLOW_FLOWER_BASIC_AUTH = os.environ.get("SLAFLOW_FLOWER_BASIC_AUTH", "" if PRODUCTION else env.DEFAULT_FLOWER_AUTH)
env.check_production(
    mode=MODE,
    exposure=env.Exposure(
        debug=DEBUG,
        secret_key=SECRET_KEY,
        allowed_hosts=tuple(ALLOWED_HOSTS),
        flower_auth=SLAFLOW_FLOWER_BASIC_AUTH,
        secure_cookies=SLAFLOW_SECURE_COOKIES,
    ),
)
# HTTPS answers tell browsers to use HTTPS only, this long (production: a year; 0 turns it off).
SECURE_HSTS_SECONDS = env.env_count("DJANGO_SECURE_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
# Behind a TLS-terminating proxy: the header it sets on HTTPS requests, e.g. "X-Forwarded-Proto: https".
SECURE_PROXY_SSL_HEADER = env.proxy_ssl_header(os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER"))
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",  # REST API tokens (issue 4)
    "drf_spectacular",  # OpenAPI schema (issue 4)
    "drf_spectacular_sidecar",  # Swagger UI assets served locally, no CDN (issue 4)
    "orchestrator",
    "workers",
    "experiments",
    "webui",
]

MIDDLEWARE = [
    "orchestrator.api.middleware.BodySizeLimitMiddleware",  # 413 before anything reads an API body (issue 4)
    "django.middleware.security.SecurityMiddleware",
    # Serves collected static files (plotly.js included) when not in DEBUG, e.g. in docker-compose.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The three login forms (web UI, admin, browsable API): attempts per username and per address (issue 23).
    "orchestrator.api.throttles.LoginThrottleMiddleware",
]

ROOT_URLCONF = "orchestrator.urls"
WSGI_APPLICATION = "orchestrator.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.database_from_url(os.environ.get("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it even before collectstatic
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# slaflow's loggers; records carry the run and task they are about (JSON lines with SLAFLOW_LOG_JSON=1).
LOGGING = logs.config(
    json_lines=env.env_bool("SLAFLOW_LOG_JSON", False), level=os.environ.get("SLAFLOW_LOG_LEVEL", "INFO")
)

# --- slaflow -----------------------------------------------------------------

REDIS = env.redis_target(os.environ.get("REDIS_URL"))
SLAFLOW_RESOURCE_CONFIGS = env.resource_configs(os.environ.get("SLAFLOW_RESOURCE_CONFIGS"))
# The configuration WUKONG and the no-history fallback use.
SLAFLOW_DEFAULT_MEMORY_MB = env.env_int("SLAFLOW_DEFAULT_MEMORY_MB", SLAFLOW_RESOURCE_CONFIGS[-1])
# Exact modules whose task functions a submission may name, beside the library's (``workers.functions``).
SLAFLOW_WORKFLOW_MODULES = env.module_list(os.environ.get("SLAFLOW_WORKFLOW_MODULES"))
# Pushed workflow code (``orchestrator.services.code``, docs/howto/push-code.md): the largest upload (a module or
# wheel; it must fit SLAFLOW_API_MAX_BODY_BYTES too through REST), the most a wheel may hold unpacked, and where
# workers cache code by hash.
SLAFLOW_CODE_MAX_BYTES = env.env_int("SLAFLOW_CODE_MAX_BYTES", 1024 * 1024)
SLAFLOW_CODE_MAX_UNPACKED_BYTES = env.env_int("SLAFLOW_CODE_MAX_UNPACKED_BYTES", 16 * 1024 * 1024)
SLAFLOW_CODE_CACHE_DIR = os.environ.get("SLAFLOW_CODE_CACHE_DIR") or os.path.join(
    tempfile.gettempdir(), f"slaflow-code-{os.getuid()}"
)
# Dynamic fan-outs (``orchestrator.core.mapping``): a mapped task over a longer list fails the run.
SLAFLOW_MAP_MAX_WIDTH = env.env_int("SLAFLOW_MAP_MAX_WIDTH", 1000)
# Command tasks (``orchestrator.executables``): the programs they may run (names found on the trusted PATH, or
# absolute paths), each with a declared policy of options and operands (more in SLAFLOW_COMMAND_POLICIES:
# dotted paths of dicts {program: Policy}); how they run (a sandbox: auto|bwrap|none, the user when the worker
# is root), and how much stdout a program may write before it is stopped.
SLAFLOW_ALLOWED_EXECUTABLES = env.executables(
    os.environ.get("SLAFLOW_ALLOWED_EXECUTABLES"), ("sort", "uniq", "wc", "tr", "cut", "head", "tail", "grep", "cat")
)
SLAFLOW_COMMAND_POLICIES = env.module_list(os.environ.get("SLAFLOW_COMMAND_POLICIES"))
SLAFLOW_COMMAND_ALLOW_UNSANDBOXED = env.env_bool("SLAFLOW_COMMAND_ALLOW_UNSANDBOXED", False)
SLAFLOW_COMMAND_SANDBOX = env.command_sandbox(
    os.environ.get("SLAFLOW_COMMAND_SANDBOX"), mode=MODE, allow_unsandboxed=SLAFLOW_COMMAND_ALLOW_UNSANDBOXED
)
SLAFLOW_COMMAND_USER = env.command_user(os.environ.get("SLAFLOW_COMMAND_USER"))
SLAFLOW_COMMAND_MAX_STDOUT_BYTES = env.env_int("SLAFLOW_COMMAND_MAX_STDOUT_BYTES", 64 * 1024 * 1024)
# A pool process that has not served a workflow for this long starts it cold.
SLAFLOW_KEEPALIVE_S = env.env_float("SLAFLOW_KEEPALIVE_S", 7.0)
# Upper bound on autoscaled pool processes per resource-config queue. A process per branch: a planned run's
# branches that wait for inputs keep theirs, so a wide plan needs many; the bodies that run at once are bounded
# by the cores, not by this (``store.cores``, ``readiness.executor_cap``). With 6, a 291-job Montage's branches
# queued for processes (median 3.3 s from request to first task, no body running half the run): 26.6 s; 16: 11.8 s.
SLAFLOW_MAX_POOL = env.env_int("SLAFLOW_MAX_POOL", 16)
# Cores the workers' pool processes share, for the timing model (``planning.sharing``): empty = what the
# workers publish (this host's when none does); a number overrides it; "unlimited" models no sharing (FaaS).
SLAFLOW_HOST_CORES = env.host_cores(os.environ.get("SLAFLOW_HOST_CORES", ""))
# Whose past runs plan a run: "owner" (the run owner's only; runs without an owner form their own scope), or
# "shared" (every run of the shape: one user's slow runs then move everyone's promises).
SLAFLOW_HISTORY_SCOPE = env.history_scope(os.environ.get("SLAFLOW_HISTORY_SCOPE"))
# Pool processes each configuration's worker keeps standing (its autoscale minimum).
SLAFLOW_MIN_POOL = env.env_int("SLAFLOW_MIN_POOL", 1)
# Executors (flexible branches popping a run's ready flexible tasks) per run and configuration at most:
# as many as the processes that serve a configuration, so more only queue behind them.
SLAFLOW_FLEX_EXECUTORS = env.env_int("SLAFLOW_FLEX_EXECUTORS", SLAFLOW_MAX_POOL)
# And no more than the whole cores of the hosts serving the configuration (CPU-bound tasks beyond them only share
# them, each one slower); off: up to SLAFLOW_FLEX_EXECUTORS and the live processes whatever the cores (tasks that
# mostly wait, on I/O or other services).
SLAFLOW_EXECUTORS_WITHIN_CORES = env.env_bool("SLAFLOW_EXECUTORS_WITHIN_CORES", True)
# Outputs at least this large travel only when the counters' call finds a consumer outside the branch
# (one round trip more when they do; no write of megabytes nobody reads when they do not).
SLAFLOW_LAZY_UPLOAD_BYTES = env.env_int("SLAFLOW_LAZY_UPLOAD_BYTES", 64 * 1024)
# A branch writes its task records in batches of this many as it goes (the rest at its end).
SLAFLOW_RECORD_BATCH = env.env_int("SLAFLOW_RECORD_BATCH", 100)
# Live tracking and SLA alerts (orchestrator.services.alerts, planning.live): a run is at risk when its live
# prediction exceeds the promise by more than this share; the pace of a run counts once this share of its plan
# is done; webhook POSTs time out after this long and are tried this many times.
SLAFLOW_LIVE_MARGIN = env.env_float("SLAFLOW_LIVE_MARGIN", 0.05)
SLAFLOW_LIVE_MIN_PROGRESS = env.env_float("SLAFLOW_LIVE_MIN_PROGRESS", 0.25)
# Never worse than no plan (planning.guard): uniform and non-uniform compare their plan with the WUKONG run simulated
# on the same model and keep the faster at equal cost or the cheaper within the SLA (0: keep the plan as made).
SLAFLOW_COMPARE_WUKONG = env.env_bool("SLAFLOW_COMPARE_WUKONG", True)
# Rescue (planning.rescue): a run predicted to miss its promise re-plans its tasks not started yet onto the largest
# configuration (0: off; a run may turn it on or off alone: rescue=True/False).
SLAFLOW_RESCUE = env.env_bool("SLAFLOW_RESCUE", False)
SLAFLOW_WEBHOOK_TIMEOUT_S = env.env_float("SLAFLOW_WEBHOOK_TIMEOUT_S", 2.0)
SLAFLOW_WEBHOOK_ATTEMPTS = env.env_int("SLAFLOW_WEBHOOK_ATTEMPTS", 3)
# Webhooks go to public addresses only: a URL whose host is (or resolves to) a loopback, private,
# link-local or otherwise non-public address is refused, unless inside one of these CIDRs.
SLAFLOW_WEBHOOK_ALLOWED_NETWORKS = env.networks(
    os.environ.get("SLAFLOW_WEBHOOK_ALLOWED_NETWORKS"), "SLAFLOW_WEBHOOK_ALLOWED_NETWORKS"
)
# Optimizations' rule parameters (orchestrator/optimizations; docs/concepts/optimizations.md).
SLAFLOW_PRELOAD_MIN_INPUTS = env.env_int("SLAFLOW_PRELOAD_MIN_INPUTS", 2)
SLAFLOW_PRELOAD_MIN_DOWNLOAD_S = env.env_float("SLAFLOW_PRELOAD_MIN_DOWNLOAD_S", 0.02)
SLAFLOW_PREWARM_LATENCY_S = env.env_float("SLAFLOW_PREWARM_LATENCY_S", 0.5)
SLAFLOW_PREWARM_PREFERENCE = env.env_float("SLAFLOW_PREWARM_PREFERENCE", 0.75)
SLAFLOW_TASKDUP_THRESHOLD_S = env.env_float("SLAFLOW_TASKDUP_THRESHOLD_S", 0.15)
SLAFLOW_TASKDUP_MAX_EXEC_S = env.env_float("SLAFLOW_TASKDUP_MAX_EXEC_S", 1.0)
SLAFLOW_TASKDUP_MAX_INPUT_BYTES = env.env_int("SLAFLOW_TASKDUP_MAX_INPUT_BYTES", 1 << 20)
SLAFLOW_TASKDUP_MIN_OUTPUT_BYTES = env.env_int("SLAFLOW_TASKDUP_MIN_OUTPUT_BYTES", 256 << 10)
# Task clustering (wukong-opt): an output this big runs up to MAX_FANOUT ready children where it was made;
# delayed I/O waits up to DELAYED_IO_S for children not ready yet before uploading it.
SLAFLOW_CLUSTER_MIN_OUTPUT_BYTES = env.env_int("SLAFLOW_CLUSTER_MIN_OUTPUT_BYTES", 1 << 20)
SLAFLOW_CLUSTER_MAX_FANOUT = env.env_int("SLAFLOW_CLUSTER_MAX_FANOUT", 8)
SLAFLOW_DELAYED_IO_S = env.env_float("SLAFLOW_DELAYED_IO_S", 0.5)
# Output streaming (the -opt planners): an output this big that must travel is written in chunks its
# consumers read while it is written; a reader gives up after STALL_S without a new chunk.
SLAFLOW_STREAM_MIN_BYTES = env.env_int("SLAFLOW_STREAM_MIN_BYTES", 16 << 20)
SLAFLOW_STREAM_CHUNK_BYTES = env.env_int("SLAFLOW_STREAM_CHUNK_BYTES", 1 << 20)
SLAFLOW_STREAM_STALL_S = env.env_float("SLAFLOW_STREAM_STALL_S", 30.0)
# A hook that raises (other than SkipTask / StopBranch) fails the run instead of being logged only.
SLAFLOW_STRICT_HOOKS = env.env_bool("SLAFLOW_STRICT_HOOKS", False)
# Extra runtime hooks (dotted paths of workers.hooks.Hook subclasses) every branch runs after the built-in ones.
SLAFLOW_HOOKS = env.module_list(os.environ.get("SLAFLOW_HOOKS"))
# A Redis command that meets a restart or outage is tried again for this long (back-off) before it fails.
SLAFLOW_REDIS_RETRY_S = env.env_float("SLAFLOW_REDIS_RETRY_S", 30.0)
# A database call that meets a restart (a broken connection) is made again for this long before it fails.
SLAFLOW_DB_RETRY_S = env.env_float("SLAFLOW_DB_RETRY_S", 30.0)
# The output store (store/, docs/concepts/data-plane.md "Where outputs live"): an output that travels and is at least
# SHM_MIN_BYTES is written once into the host's shared memory under SHM_DIR and read there by mapping it
# (0: no shared-memory tier, every output in Redis); its location in Redis names the host (HOST_ID, else
# the hostname) and the host's data server, which listens on HOST_ADDRESS; a reader fetches from hosts on
# loopback or in DATA_NETWORKS (CIDRs) only.
# 128 KiB: where one write and one read cost about the same either way (measured on this machine: below
# it a file's open/rename/map costs more than moving the bytes through Redis; above it, less per reader).
SLAFLOW_SHM_MIN_BYTES = env.env_int("SLAFLOW_SHM_MIN_BYTES", 128 * 1024)
SLAFLOW_SHM_DIR = os.environ.get("SLAFLOW_SHM_DIR") or "/dev/shm/slaflow"
SLAFLOW_HOST_ID = os.environ.get("SLAFLOW_HOST_ID", "")
SLAFLOW_HOST_ADDRESS = os.environ.get("SLAFLOW_HOST_ADDRESS") or "127.0.0.1"
SLAFLOW_DATA_NETWORKS = env.networks(os.environ.get("SLAFLOW_DATA_NETWORKS"))
# The Lambda executor (docs/howto/lambda.md): configurations listed in LAMBDA_CONFIGS run their branches as
# asynchronous invocations of the function deployed for that memory size, named FUNCTION_PREFIX-<memory_mb>
# (region AWS_REGION; ENDPOINT_URL for a Lambda-compatible endpoint such as localcluster/lambda_local.py); a fan-out's
# invocations go out on INVOKE_THREADS threads. Operator settings only: nothing a REST user sends picks a
# function, an endpoint or a bucket. `slaflow deploy lambda` reads the rest (role, timeout, VPC, runtime).
SLAFLOW_LAMBDA_CONFIGS = env.lambda_configs(os.environ.get("SLAFLOW_LAMBDA_CONFIGS"), SLAFLOW_RESOURCE_CONFIGS)
SLAFLOW_LAMBDA_FUNCTION_PREFIX = env.lambda_prefix(os.environ.get("SLAFLOW_LAMBDA_FUNCTION_PREFIX"))
SLAFLOW_LAMBDA_ENDPOINT_URL = os.environ.get("SLAFLOW_LAMBDA_ENDPOINT_URL") or None
SLAFLOW_AWS_REGION = os.environ.get("SLAFLOW_AWS_REGION") or "us-east-1"
SLAFLOW_LAMBDA_INVOKE_THREADS = env.env_int("SLAFLOW_LAMBDA_INVOKE_THREADS", 32)
SLAFLOW_LAMBDA_TIMEOUT_S = env.env_int("SLAFLOW_LAMBDA_TIMEOUT_S", 900)
SLAFLOW_LAMBDA_ROLE_ARN = os.environ.get("SLAFLOW_LAMBDA_ROLE_ARN", "")
SLAFLOW_LAMBDA_SUBNETS = env.module_list(os.environ.get("SLAFLOW_LAMBDA_SUBNETS"))
SLAFLOW_LAMBDA_SECURITY_GROUPS = env.module_list(os.environ.get("SLAFLOW_LAMBDA_SECURITY_GROUPS"))
SLAFLOW_LAMBDA_RUNTIME = os.environ.get("SLAFLOW_LAMBDA_RUNTIME") or "python3.11"
# The local endpoint's idle-environment keep-alive and per-function concurrency limit (localcluster/lambda_local.py).
SLAFLOW_LAMBDA_LOCAL_KEEPALIVE_S = env.env_float("SLAFLOW_LAMBDA_LOCAL_KEEPALIVE_S", 60.0)
SLAFLOW_LAMBDA_LOCAL_CONCURRENCY = env.env_int("SLAFLOW_LAMBDA_LOCAL_CONCURRENCY", 4)
# The object-store tier (store/objects.py): with a BUCKET and any Lambda configuration, outputs that travel and
# are at least MIN_BYTES go to this S3-compatible bucket (ENDPOINT_URL for one that is not AWS's) instead of a
# host's shared memory, which a Lambda cannot reach; smaller ones stay in Redis.
SLAFLOW_OBJECT_STORE_BUCKET = os.environ.get("SLAFLOW_OBJECT_STORE_BUCKET", "")
SLAFLOW_OBJECT_STORE_ENDPOINT_URL = os.environ.get("SLAFLOW_OBJECT_STORE_ENDPOINT_URL") or None
SLAFLOW_OBJECT_STORE_MIN_BYTES = env.env_int("SLAFLOW_OBJECT_STORE_MIN_BYTES", 128 * 1024)
# A host none of whose workers has said it is alive for this long, and whose data server cannot be reached,
# is dead: the outputs that lived only there are recomputed from their inputs (workers.lineage).
SLAFLOW_HOST_DEAD_S = env.env_float("SLAFLOW_HOST_DEAD_S", 10.0)
# Redis keys of a run expire after this long even if the run never ends.
SLAFLOW_RUN_TTL_S = env.env_int("SLAFLOW_RUN_TTL_S", 24 * 3600)
# Longest a planned branch blocks a pool slot waiting for a remote input before it yields.
SLAFLOW_MAX_WAIT_S = env.env_float("SLAFLOW_MAX_WAIT_S", 30.0)
# A running branch holds a lease this long, refreshed every third of it; a duplicate waits, and a branch
# whose lease lapsed (its worker died) is sent again by any worker's reaper within about this long.
SLAFLOW_LEASE_S = env.env_float("SLAFLOW_LEASE_S", 6.0)
# Every task's time limit unless its run or the task itself sets one (0: none). Finite by default, so a
# program that never ends (``tail -f /dev/null``) cannot hold a pool slot for ever (issue 23).
SLAFLOW_TASK_TIMEOUT_S = env.env_float("SLAFLOW_TASK_TIMEOUT_S", 3600.0) or None
# A branch message delivered this many times (its worker died each time) fails the run.
SLAFLOW_MAX_DELIVERIES = env.env_int("SLAFLOW_MAX_DELIVERIES", 3)
# The watchdog (workers.watchdog): every worker's reaper looks this often at the runs running for at least the
# grace, and fails one that can no longer finish (its Redis state gone, or stalled) once two looks in a row agree.
SLAFLOW_WATCHDOG_EVERY_S = env.env_float("SLAFLOW_WATCHDOG_EVERY_S", 5.0)
SLAFLOW_WATCHDOG_GRACE_S = env.env_float("SLAFLOW_WATCHDOG_GRACE_S", 10.0)
# Results larger than this are rejected at the sink with a clear error.
SLAFLOW_MAX_RESULT_BYTES = env.env_int("SLAFLOW_MAX_RESULT_BYTES", 256 * 1024 * 1024)
# A result (encoded) at least this large is published in the output store before its durable copy is written
# into the database (workers/results.py): clients on its host read it from there at once; the run succeeds
# once the durable copy exists. 0: never (every result is read from the database, after the run succeeded).
# 128 KiB, the shared-memory tier's own threshold: a durable copy costs 6.7 ms at 128 KiB, 13 ms at 1 MiB, 0.41 s
# at 32 MiB, publishing 0.3 ms, 0.5 ms and 28 ms (medians of 7, this machine under load): from there it always wins.
SLAFLOW_RESULT_PUBLISH_MIN_BYTES = env.env_int("SLAFLOW_RESULT_PUBLISH_MIN_BYTES", 128 * 1024)
# Turn off per-process cgroups (CPU quota / memory limit); runs are then marked unenforced.
SLAFLOW_ENFORCE_RESOURCES = env.env_bool("SLAFLOW_ENFORCE_RESOURCES", True)

# --- observability (issue 29): /metrics and OpenTelemetry tracing ---------------

# /metrics (Prometheus text format) wants "Authorization: Bearer <this>" when set; staff sessions always
# pass; with no token, production mode answers staff only and local mode anyone.
SLAFLOW_METRICS_TOKEN = os.environ.get("SLAFLOW_METRICS_TOKEN", "")
# /metrics describes runs submitted this long ago at most (bounded queries), and is computed at most
# once per CACHE_S per web process.
SLAFLOW_METRICS_WINDOW_S = env.env_float("SLAFLOW_METRICS_WINDOW_S", 3600.0)
SLAFLOW_METRICS_CACHE_S = env.env_float("SLAFLOW_METRICS_CACHE_S", 5.0)
# OpenTelemetry tracing of runs (workers.tracing; the `otel` extra): off unless SLAFLOW_OTEL is true.
# Spans go to OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP) when set, and/or as JSON lines to SLAFLOW_OTEL_FILE.
SLAFLOW_OTEL = env.env_bool("SLAFLOW_OTEL", False)
SLAFLOW_OTEL_FILE = os.environ.get("SLAFLOW_OTEL_FILE", "")
SLAFLOW_OTEL_SERVICE = os.environ.get("OTEL_SERVICE_NAME", "slaflow")

# --- Celery (read by orchestrator.celery with namespace CELERY) --------------

CELERY_BROKER_URL = REDIS.broker_url
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_EVENT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Above the longest task: an unacked message is redelivered after this.
    "visibility_timeout": env.env_int("SLAFLOW_VISIBILITY_TIMEOUT_S", 1800),
}
CELERY_TASK_ROUTES = ("orchestrator.core.router.route_task",)
# Celery's Django fix-up closes the database connection before and after every task unless this is
# set; reconnecting cost ~10 ms per branch. Connections are kept, and checked before each use
# (``CONN_HEALTH_CHECKS`` + ``close_old_connections`` in the metrics writer).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_TIMEZONE = "UTC"

# --- REST API, accounts and throttling (issue 4) --------------------------------

# Request bodies above this many bytes get 413 on /api/ (a 10,000-task spec is about 1 MB).
SLAFLOW_API_MAX_BODY_BYTES = env.env_int("SLAFLOW_API_MAX_BODY_BYTES", 2 * 1024 * 1024)
# Largest graph one API request may build or submit (library params included), and the most tasks a
# user's run may expand to at run time, mapped elements counted (a larger expansion fails the run).
SLAFLOW_API_MAX_TASKS = env.env_int("SLAFLOW_API_MAX_TASKS", 10_000)
# Largest graph spec (constants included) a run may store, whatever the way in (REST, Python API, commands):
# it is kept in Postgres and read from Redis by every branch (services.submissions).
SLAFLOW_MAX_SPEC_BYTES = env.env_int("SLAFLOW_MAX_SPEC_BYTES", 32 * 1024 * 1024)
# Submissions per user (DRF rate: N/second|minute|hour|day); empty turns throttling off.
SLAFLOW_API_SUBMIT_RATE = os.environ.get("SLAFLOW_API_SUBMIT_RATE", "60/minute")
# Anonymous /healthz callers are answered from a report the web processes make at most this often (seconds).
SLAFLOW_HEALTH_CACHE_S = env.env_float("SLAFLOW_HEALTH_CACHE_S", 5.0)
# Login attempts (the token exchange and the three login forms), per username and per client address each.
SLAFLOW_LOGIN_RATE = os.environ.get("SLAFLOW_LOGIN_RATE", "10/minute")
# Trusted proxies in front of the web service: the client address is the one the last of them saw in
# X-Forwarded-For. 0 (the default): X-Forwarded-For is ignored, a client cannot pick its own address.
SLAFLOW_NUM_PROXIES = env.env_count("SLAFLOW_NUM_PROXIES", 0)

# --- fair sharing: per-user quotas (orchestrator/services/quotas.py; docs/security.md) -------------

# 0 turns a quota off. They bind users (REST, web forms, campaigns); runs without an owner (the operator's
# Python code and commands) are not counted, and staff are exempt unless SLAFLOW_QUOTA_STAFF_EXEMPT=0.
# Runs of one user that are pending, planning or running at once.
SLAFLOW_QUOTA_CONCURRENT_RUNS = env.env_int("SLAFLOW_QUOTA_CONCURRENT_RUNS", 10)
# Runs one user may submit in any hour (campaign runs included).
SLAFLOW_QUOTA_RUNS_PER_HOUR = env.env_int("SLAFLOW_QUOTA_RUNS_PER_HOUR", 600)
# Runs one campaign of a user may schedule (warm-ups included).
SLAFLOW_QUOTA_CAMPAIGN_RUNS = env.env_int("SLAFLOW_QUOTA_CAMPAIGN_RUNS", 1000)
# Campaigns of one user pending or running at once (each runs in a process of its own).
SLAFLOW_QUOTA_ACTIVE_CAMPAIGNS = env.env_int("SLAFLOW_QUOTA_ACTIVE_CAMPAIGNS", 1)
# The longest task time limit a user may ask for (a run's timeout_s, a task's options.timeout_s).
SLAFLOW_QUOTA_MAX_TIMEOUT_S = env.env_float("SLAFLOW_QUOTA_MAX_TIMEOUT_S", 6 * 3600.0)
SLAFLOW_QUOTA_STAFF_EXEMPT = env.env_bool("SLAFLOW_QUOTA_STAFF_EXEMPT", True)


def redis_caches(target) -> dict:
    """The shared cache (throttle counters) in the configured Redis, values as JSON, never pickle."""
    from store import keys as _keys

    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": target.client_url,
            "KEY_PREFIX": _keys.CACHE_PREFIX,
            "OPTIONS": {"serializer": "orchestrator.cache.JSONSerializer"},
        }
    }


CACHES = redis_caches(REDIS)

REST_FRAMEWORK = {
    # Token first: an unauthenticated request then gets 401 with WWW-Authenticate: Token.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["orchestrator.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "orchestrator.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "orchestrator.api.common.exception_handler",
    "NUM_PROXIES": SLAFLOW_NUM_PROXIES,  # throttles' client address (orchestrator.api.throttles)
}

SPECTACULAR_SETTINGS = {
    "TITLE": "slaflow API",
    "DESCRIPTION": "Submit DAG workflows of Python functions, planned to meet a completion-time SLA, and follow "
    "their runs. Authenticate with `Authorization: Token <key>` (slaflow token USER).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "orchestrator.api.schema.add_links",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "orchestrator.core.states.RunStatus",
        "TaskStatusEnum": "orchestrator.core.states.TaskStatus",
        "PlannerEnum": "orchestrator.api.fields.PLANNER_CHOICES",
        "ExperimentStatusEnum": "orchestrator.models.Experiment.Status",
    },
}

# --- web UI (webui) -------------------------------------------------------------

# plotly.js is served from the installed plotly package (webui.staticfinders), never a CDN.
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "webui.staticfinders.PlotlyJsFinder",
]
LOGOUT_REDIRECT_URL = "/accounts/login/"
# Celery's autoscaler, also publishing each pool's size for the planner (workers.autoscale).
CELERY_WORKER_AUTOSCALER = "workers.autoscale:PoolAutoscaler"
