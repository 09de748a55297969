"""Per-task predicted sizes and durations for one assignment (memory + worker per task).

Sizes are structural predictions made once per plan (output size does not
depend on memory): input bytes = the sum of the upstreams' predicted outputs.
Durations depend on the task's memory and on locality: an input produced on
the same logical worker is in memory (no download); an output is uploaded
only when some consumer lives elsewhere; the sink's output is stored as the
run's result.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core.sla import SLA
from orchestrator.planning import uploads as upload_rule
from orchestrator.planning.dag import Dag
from orchestrator.planning.predictor import Predictor


@dataclass
class Sizes:
    input_bytes: list[int]
    output_bytes: list[int]


def predict_sizes(dag: Dag, predictor: Predictor, memory_mb: int, sla: SLA | str) -> Sizes:
    inp = [0] * dag.n
    out = [0] * dag.n
    for i in range(dag.n):
        inp[i] = sum(out[u] for u in dag.ups[i])
        out[i] = predictor.output_bytes(dag.fn[i], memory_mb, inp[i], sla)
    return Sizes(inp, out)


def uploads(dag: Dag, worker: list[int], i: int) -> bool:
    """Whether task ``i``'s output leaves it (``planning.uploads``; the sink stores its result).
    Which consumers start a new branch is only known after simulating, so here none does."""
    if i == dag.sink:
        return True

    def label(w: int) -> int | None:
        return None if w < 0 else w

    return upload_rule.uploads(
        label(worker[i]), (upload_rule.Consumer(label(worker[d]), False, len(dag.ups[d])) for d in dag.downs[i])
    )


@dataclass
class Durations:
    """Point durations in seconds, per task position."""

    download: list[float]
    exec: list[float]
    upload: list[float]
    post: list[float]
    uploads: list[bool]

    def run_time(self, i: int) -> float:
        return self.download[i] + self.exec[i] + self.upload[i]


def remote(worker: list[int], u: int, i: int) -> bool:
    """Whether task ``i`` downloads its input ``u`` (they are not on one logical worker)."""
    return worker[u] != worker[i] or worker[i] < 0


def input_downloads(
    dag: Dag, predictor: Predictor, sizes: Sizes, memory: list[int], worker: list[int], sla: SLA | str, i: int
) -> list[tuple[int, float]]:
    """(upstream, download seconds) of each input task ``i`` fetches from Redis."""
    return [
        (u, predictor.transfer_time("download", sizes.output_bytes[u], memory[i], sla))
        for u in dag.ups[i]
        if remote(worker, u, i)
    ]


def task_durations(
    dag: Dag, predictor: Predictor, sizes: Sizes, memory: list[int], worker: list[int], sla: SLA | str, i: int
) -> tuple[float, float, float, float, bool]:
    mb = memory[i]
    fn = dag.fn[i]
    dl = sum(d for _, d in input_downloads(dag, predictor, sizes, memory, worker, sla, i))
    # a mapped node: its element tasks, predicted as one, run in rounds of the executors' number
    ex = predictor.exec_time(fn, mb, sizes.input_bytes[i], sla) * predictor.history.map_rounds(dag.ids[i])
    up_flag = uploads(dag, worker, i)
    up = 0.0
    if up_flag:
        kind = "store" if i == dag.sink else "upload"
        up = predictor.transfer_time(kind, sizes.output_bytes[i], mb, sla)
    post = predictor.post_time(fn, mb, sla)
    return dl, ex, up, post, up_flag


def bottom_levels(
    dag: Dag, predictor: Predictor, sizes: Sizes, memory: list[int], sla: SLA | str, dur: Durations | None = None
) -> list[float]:
    """Longest time from a task's start to the end of the run, ignoring start-ups and worker sharing.

    Without ``dur``, every edge is remote (download + upload): the view before workers are assigned.
    """
    level = [0.0] * dag.n
    for i in reversed(range(dag.n)):
        mb = memory[i]
        if dur is None:
            own = predictor.exec_time(dag.fn[i], mb, sizes.input_bytes[i], sla) + predictor.post_time(
                dag.fn[i], mb, sla
            )
            kind = "store" if i == dag.sink else "upload"
            own += predictor.transfer_time(kind, sizes.output_bytes[i], mb, sla)
            own += sum(predictor.transfer_time("download", sizes.output_bytes[u], mb, sla) for u in dag.ups[i])
        else:
            own = dur.run_time(i) + dur.post[i]
        level[i] = own + max((level[d] for d in dag.downs[i]), default=0.0)
    return level
