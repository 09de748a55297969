"""Log records name the run and task they are about; JSON lines for collectors."""

import io
import json
import logging

from orchestrator.core import logs


def _logger(json_lines: bool) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(
        logs.JSONFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s%(context)s: %(message)s")
    )
    logger = logging.getLogger(f"slaflow.test-logs-{json_lines}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    return logger, stream


def test_plain_lines_carry_the_bound_run_and_task():
    logger, stream = _logger(False)
    logger.warning("outside")
    with logs.bound(run_id=42, branch="abc"):
        with logs.bound(task_id="sum-3"):
            logger.warning("inside %s", "a task")
        logger.warning("between tasks")
    assert stream.getvalue().splitlines() == [
        "WARNING slaflow.test-logs-False: outside",
        "WARNING slaflow.test-logs-False [run=42 task=sum-3]: inside a task",
        "WARNING slaflow.test-logs-False [run=42]: between tasks",
    ]


def test_json_lines_have_the_fields_and_the_traceback():
    logger, stream = _logger(True)
    with logs.bound(run_id=7, task_id="a", branch="b1"):
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("failed")
    record = json.loads(stream.getvalue())
    assert {k: record[k] for k in ("level", "logger", "message", "run_id", "task_id", "branch")} == {
        "level": "ERROR",
        "logger": "slaflow.test-logs-True",
        "message": "failed",
        "run_id": 7,
        "task_id": "a",
        "branch": "b1",
    }
    assert "ValueError: bad" in record["exc"] and record["ts"].endswith("+00:00")


def test_settings_choose_json_with_the_variable():
    assert "()" in logs.config(json_lines=True, level="INFO")["formatters"]["slaflow"]
    assert "%(context)s" in logs.config(json_lines=False, level="INFO")["formatters"]["slaflow"]["format"]
