"""Resource configurations: a memory size and the CPU share that follows it."""

from __future__ import annotations

from dataclasses import dataclass

# AWS Lambda's rule: one full vCPU per 1,792 MB, at most 6.
MB_PER_CPU = 1792
MAX_CPUS = 6


@dataclass(frozen=True, order=True)
class ResourceConfig:
    memory_mb: int

    def __post_init__(self):
        if not isinstance(self.memory_mb, int) or self.memory_mb <= 0:
            raise ValueError(f"memory_mb must be a positive whole number, got {self.memory_mb!r}")

    @property
    def cpus(self) -> float:
        return round(min(self.memory_mb / MB_PER_CPU, MAX_CPUS), 2)

    @property
    def memory_gb(self) -> float:
        return self.memory_mb / 1024

    def __str__(self) -> str:
        return f"{self.memory_mb} MB / {self.cpus} CPU"


def configured() -> tuple[ResourceConfig, ...]:
    from django.conf import settings

    return tuple(ResourceConfig(mb) for mb in settings.SLAFLOW_RESOURCE_CONFIGS)


def default() -> ResourceConfig:
    from django.conf import settings

    return ResourceConfig(settings.SLAFLOW_DEFAULT_MEMORY_MB)


def validate_memory(memory_mb: int) -> ResourceConfig:
    """The configuration for ``memory_mb`` if it is one of the configured set."""
    allowed = configured()
    config = ResourceConfig(int(memory_mb))
    if config not in allowed:
        names = ", ".join(str(c.memory_mb) for c in allowed)
        raise ValueError(f"{memory_mb} MB is not a configured resource configuration (configured: {names})")
    return config


# How a configuration's branches run: a long-running Celery worker of its queue, or an AWS Lambda function.
CELERY, LAMBDA = "celery", "lambda"


def executor_of(memory_mb: int) -> str:
    """The executor of ``memory_mb``'s configuration (``SLAFLOW_LAMBDA_CONFIGS`` lists the Lambda ones)."""
    from django.conf import settings

    return LAMBDA if int(memory_mb) in settings.SLAFLOW_LAMBDA_CONFIGS else CELERY


def lambda_configured() -> tuple[ResourceConfig, ...]:
    from django.conf import settings

    return tuple(ResourceConfig(mb) for mb in settings.SLAFLOW_LAMBDA_CONFIGS)
