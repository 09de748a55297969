"""diamond: one root fans out to two tasks that fan back in.

      source
      /    \\
   left    right
      \\    /
      combine
"""

from orchestrator.core.authoring import task
from slaflow.workflows import LibraryWorkflow, register


@task
def source(x: int) -> int:
    return x + 1


@task
def left(x: int) -> int:
    return x * 2


@task
def right(x: int) -> int:
    return x * 3


@task
def combine(a: int, b: int) -> int:
    return a + b


def build(x: int = 1):
    s = source(x)
    return combine(left(s), right(s))


def check(result, x: int = 1) -> bool:
    return result == 5 * (x + 1)


register(LibraryWorkflow("diamond", "1 → 2 → 1 diamond of integer arithmetic", build, check, {"x": 1}, {"x": 2**53}))
