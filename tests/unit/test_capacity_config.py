"""Where a plan's capacity comes from: SLAFLOW_HOST_CORES, else the workers (integration tests)."""

import pytest

from orchestrator.core import envconfig
from orchestrator.services import planning as service


def test_host_cores_setting_parses_numbers_and_unlimited_and_names_bad_values():
    assert envconfig.host_cores("") is None and envconfig.host_cores(None) is None
    assert envconfig.host_cores(" 2.5 ") == 2.5
    assert envconfig.host_cores("Unlimited") == envconfig.UNLIMITED
    for bad in ("two", "0", "-1", "inf"):
        with pytest.raises(envconfig.ConfigError, match="SLAFLOW_HOST_CORES"):
            envconfig.host_cores(bad)


def test_the_setting_overrides_what_workers_publish(settings):
    settings.SLAFLOW_HOST_CORES = 3.0
    assert service.capacity() == (3.0, "SLAFLOW_HOST_CORES")
    config = service.planner_config("uniform", "p50")
    assert config.cores == 3.0 and config.capacity_source == "SLAFLOW_HOST_CORES"
    settings.SLAFLOW_HOST_CORES = envconfig.UNLIMITED
    assert service.planner_config("uniform", "p50").cores is None
