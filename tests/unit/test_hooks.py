"""The hook chain: order of lifecycle stages, precedence of decisions, loud failures."""

import logging
from types import SimpleNamespace

import pytest

from workers.core_hooks import hooks_for
from workers.hooks import Hook, HookChain, HookError, SkipTask, StopBranch

NO_PLAN = SimpleNamespace(plan={})  # a run whose plan uses no optimization


class Record:
    def __init__(self):
        self.optimizations = {}


class Task:
    def __init__(self, node_id="t"):
        self.node_id = node_id
        self.record = Record()


def recorder(name, calls, **decisions):
    """A hook that logs every lifecycle stage it sees and answers the given decisions."""

    class Recording(Hook):
        precedence = decisions.pop("precedence", 0)

        def branch_start(self, branch):
            calls.append((name, "branch_start"))

        def before_inputs(self, branch, task):
            calls.append((name, "before_inputs"))

        def after_inputs(self, branch, task):
            calls.append((name, "after_inputs"))

        def after_complete(self, branch, task):
            calls.append((name, "after_complete"))

        def branch_end(self, branch):
            calls.append((name, "branch_end"))

    for stage, answer in decisions.items():  # a decision stage this hook answers, always the same way
        setattr(Recording, stage, lambda self, *args, _a=answer: _a)
    Recording.name = name
    return Recording()


def test_before_stages_run_in_order_and_after_stages_in_reverse():
    calls = []
    chain = HookChain([recorder("a", calls), recorder("b", calls), recorder("c", calls)])
    chain.run("branch_start", None)
    chain.run("before_inputs", None, Task())
    chain.run("after_inputs", None, Task())
    chain.run("after_complete", None, Task())
    chain.run("branch_end", None)
    assert calls == [
        ("a", "branch_start"),
        ("b", "branch_start"),
        ("c", "branch_start"),
        ("a", "before_inputs"),
        ("b", "before_inputs"),
        ("c", "before_inputs"),
        ("c", "after_inputs"),
        ("b", "after_inputs"),
        ("a", "after_inputs"),
        ("c", "after_complete"),
        ("b", "after_complete"),
        ("a", "after_complete"),
        ("c", "branch_end"),
        ("b", "branch_end"),
        ("a", "branch_end"),
    ]


def test_only_hooks_that_override_a_stage_are_called_at_it():
    class Quiet(Hook):
        name = "quiet"

    calls = []
    chain = HookChain([Quiet(), recorder("a", calls)])
    assert [h.name for h in chain.at("before_inputs")] == ["a"]
    assert chain.at("before_execute") == []


def test_a_decision_goes_to_the_highest_precedence_hook_with_an_answer():
    low = recorder("low", [], should_upload=True, precedence=0)
    high = recorder("high", [], should_upload=False, precedence=10)
    silent = recorder("silent", [], should_upload=None, precedence=20)
    for order in ([low, high, silent], [silent, high, low], [high, low, silent]):
        assert HookChain(order).decide("should_upload", None, Task()) is False  # same answer every time
    assert HookChain([low, silent]).decide("should_upload", None, Task()) is True
    assert HookChain([silent]).decide("should_upload", None, Task()) is None


def test_equal_precedence_goes_to_the_earlier_hook():
    first = recorder("first", [], local_children=3)
    second = recorder("second", [], local_children=1)
    assert HookChain([first, second]).decide("local_children", None, Task()) == 3
    assert HookChain([second, first]).decide("local_children", None, Task()) == 1


class Boom(Hook):
    name = "boom"

    def before_execute(self, branch, task):
        raise ZeroDivisionError("division by zero in a hook")

    def should_upload(self, branch, task):
        raise KeyError("missing")


def test_a_raising_hook_is_logged_with_run_task_hook_and_stage(settings, caplog):
    settings.SLAFLOW_STRICT_HOOKS = False
    task = Task("matmul-3")
    chain = HookChain([Boom(), recorder("fallback", [], should_upload=True)], run_id=42)
    with caplog.at_level(logging.ERROR, logger="slaflow.hooks"):
        chain.run("before_execute", None, task)
        # A decision whose best hook raised goes to the next one.
        assert chain.decide("should_upload", None, task) is True
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "run 42, task matmul-3, hook 'boom', stage before_execute" in m and "ZeroDivisionError" in m for m in messages
    )
    assert task.record.optimizations["hook_errors"] == [
        "boom.before_execute: division by zero in a hook",
        "boom.should_upload: 'missing'",
    ]


def test_in_strict_mode_a_raising_hook_fails_loudly(settings):
    settings.SLAFLOW_STRICT_HOOKS = True
    with pytest.raises(HookError, match=r"hook 'boom' failed at before_execute \(run 7, task t"):
        HookChain([Boom()], run_id=7).run("before_execute", None, Task())


def test_control_exceptions_pass_through_untouched(settings):
    settings.SLAFLOW_STRICT_HOOKS = True

    class Skipper(Hook):
        name = "skipper"

        def before_inputs(self, branch, task):
            raise SkipTask("another worker ran it")

        def before_upload(self, branch, task):
            raise StopBranch("run over")

    chain = HookChain([Skipper()])
    with pytest.raises(SkipTask):
        chain.run("before_inputs", None, Task())
    with pytest.raises(StopBranch):
        chain.run("before_upload", None, Task())


def test_every_branch_runs_the_core_hooks_in_order_then_the_configured_ones(settings):
    names = [h.name for h in hooks_for(NO_PLAN)]
    # tests.settings adds tests.taskfns.ProbeHook after the built-in ones.
    assert names == ["run-flags", "metrics", "plan-uploads", "keep-one-child", "probe"]
    settings.SLAFLOW_HOOKS = ()
    assert [h.name for h in hooks_for(NO_PLAN)][-1] == "keep-one-child"
    settings.SLAFLOW_HOOKS = ("orchestrator.models.Plan",)
    with pytest.raises(TypeError, match="'orchestrator.models.Plan' is not a workers.hooks.Hook subclass"):
        hooks_for(NO_PLAN)
    settings.SLAFLOW_HOOKS = ()
    chain = HookChain(hooks_for(NO_PLAN))
    assert [h.name for h in chain.at("before_inputs")] == ["run-flags", "metrics"]
    assert [h.name for h in chain.at("after_complete")] == ["metrics"]
    assert [h.name for h in chain.at("should_upload")] == ["plan-uploads"]


# --- the declared precedence of optimizations (docs/concepts/optimizations.md) ------------------------


def _readme_precedence() -> dict[str, tuple[str, ...]]:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "concepts" / "optimizations.md").read_text()
    block = text[text.index("| decision stage | precedence (winner first) |") :]
    table = {}
    for line in block.splitlines()[2:]:
        if not line.startswith("|"):
            break
        stage, names = (c.strip() for c in line.strip("|").split("|")[:2])
        table[stage.strip("`")] = tuple(n.strip() for n in names.split(","))
    return table


def test_the_docs_show_the_precedence_table_the_code_uses():
    from workers.hooks import PRECEDENCE

    assert _readme_precedence() == PRECEDENCE


def _built_in_hook_classes() -> list[type]:
    import inspect

    from workers import core_hooks

    modules = [core_hooks, *core_hooks.OPTIMIZATIONS.values()]
    return [
        cls
        for m in modules
        for _, cls in inspect.getmembers(m, inspect.isclass)
        if issubclass(cls, Hook) and cls is not Hook and cls.__module__ == m.__name__
    ]


def test_every_optimization_rule_has_its_runtime_registered_in_the_same_order():
    from orchestrator import optimizations
    from workers import core_hooks

    assert tuple(core_hooks.OPTIMIZATIONS) == optimizations.NAMES
    assert all(
        m.__name__ == f"orchestrator.optimizations.{name}.runtime" for name, m in core_hooks.OPTIMIZATIONS.items()
    )


def test_every_built_in_hook_that_answers_a_decision_is_in_the_precedence_table():
    from workers.hooks import _DECISIONS, PRECEDENCE

    classes = _built_in_hook_classes()
    assert {c.name for c in classes} >= {
        "plan-uploads",
        "keep-one-child",
        "preload",
        "taskdup",
        "prewarm",
        "clustering",
    }
    for cls in classes:
        for stage in _DECISIONS:
            if getattr(cls, stage) is not getattr(Hook, stage):
                assert cls.name in PRECEDENCE[stage], f"{cls.name} answers {stage} but is not in PRECEDENCE"


@pytest.mark.parametrize(
    "stage, winner, loser",
    [
        ("should_upload", "clustering", "plan-uploads"),
        ("local_children", "clustering", "keep-one-child"),
        ("fetch_input", "streaming", "preload"),
    ],
)
def test_the_declared_winner_answers_in_whatever_order_the_hooks_come(stage, winner, loser):
    import itertools

    hooks = [
        recorder(winner, [], **{stage: "winner's"}),
        recorder(loser, [], **{stage: "loser's"}),
        recorder("custom", [], **{stage: None}),
    ]
    for order in itertools.permutations(hooks):
        assert HookChain(order).decide(stage, None, Task()) == "winner's"
    # an unlisted hook with a precedence above 0 goes first; without one, after the listed hooks
    assert (
        HookChain(hooks + [recorder("mine", [], precedence=5, **{stage: "mine"})]).decide(stage, None, Task()) == "mine"
    )
    assert HookChain([recorder("mine", [], **{stage: "mine"})] + hooks).decide(stage, None, Task()) == "winner's"
