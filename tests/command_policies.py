"""Policies of the test-only programs command tasks may run (``SLAFLOW_COMMAND_POLICIES`` in tests/settings.py):
``env`` and ``id`` print what a program sees, ``sandbox_probe`` (tests/bin) tries what a program must not do."""

from pathlib import Path

from orchestrator.core.commands.programs import FLAG, Policy, takes

PROBE = str(Path(__file__).resolve().parent / "bin" / "sandbox_probe")

POLICIES = {
    "env": Policy(rest=None),
    "id": Policy(short={"u": FLAG, "g": FLAG, "G": FLAG, "n": FLAG}, rest=None),
    "sandbox_probe": Policy(
        long={"pid": takes("int"), "write": takes("text"), "connect": takes("int"), "stderr-lines": takes("int")},
        rest=None,
    ),
}
