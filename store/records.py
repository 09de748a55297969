"""Observed metrics of one branch, gathered in memory and written in bulk at its end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.core import startup as startup_kinds
from orchestrator.core.states import TaskStatus


@dataclass
class TaskRecord:
    node_id: str
    function: str = ""
    status: str = TaskStatus.RUNNING  # a record is made as its task begins
    memory_mb: int | None = None
    cpus: float | None = None
    worker_id: str = ""
    branch_id: str = ""
    host: str = ""
    pid: int | None = None
    startup: str = startup_kinds.NONE
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    input_wait_s: float | None = None
    download_s: float = 0.0
    input_bytes: int = 0
    inputs: list[dict[str, Any]] = field(default_factory=list)
    exec_s: float | None = None
    cpu_s: float | None = None
    output_bytes: int | None = None
    upload_s: float | None = None
    uploaded: bool | None = None
    counter_update_s: float | None = None
    dispatch_s: float | None = None
    invocations: int = 0
    optimizations: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1  # executions of the function in this delivery (1 + retries)
    attempt_errors: list[dict[str, Any]] = field(default_factory=list)
    enforced: bool | None = None
    error: str = ""
    traceback: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)  # written once, never mutated: no deep copy (``asdict`` was 0.1 ms a record)


@dataclass
class StartupRecord:
    branch_id: str
    worker_id: str
    memory_mb: int
    host: str
    pid: int
    entry_nodes: list[str]
    cold: bool
    reason: str
    requested_at: float
    started_at: float
    ready_at: float | None = None
    ended_at: float | None = None
    cpu_s: float | None = None
    tasks: int = 0
    prewarmed: bool = False
    enforced: bool | None = None
    code_s: float = 0.0  # fetching and importing pushed code before the first task (``RunContext.load_code``)

    def as_dict(self) -> dict:
        return dict(self.__dict__)
