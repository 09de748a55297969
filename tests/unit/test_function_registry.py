"""Code only from where it belongs: a submission names functions of registered workflow modules, and
validating it never imports a module that is not one (issue 23, row 2)."""

import importlib.util
import sys

import pytest

from orchestrator.core.graph import Node, Ref
from slaflow import workflows
from tests.conftest import PLANTED
from workers import functions


def test_a_module_planted_in_an_allowed_package_is_refused_and_never_imported(planted):
    # the file is really there to be found: the old prefix rule would have imported it
    assert importlib.util.find_spec("slaflow.workflows.pwned_module") is not None
    graph = {"a": Node("a", "slaflow.workflows.pwned_module.escalate")}
    with pytest.raises(
        functions.DisallowedFunctionError,
        match=r"function 'slaflow.workflows.pwned_module.escalate': module "
        r"'slaflow.workflows.pwned_module' is not a registered workflow module \(the "
        r"library's task modules and SLAFLOW_WORKFLOW_MODULES: slaflow.workflows.\*, "
        r"tests.taskfns\); it was not imported",
    ):
        functions.check_graph(graph, allowed_modules=functions.registered_modules())
    assert not planted.exists() and "slaflow.workflows.pwned_module" not in sys.modules


def test_a_module_planted_beside_a_configured_one_is_refused_and_never_imported(tmp_path, settings):
    marker = tmp_path / "imported"
    pkg = tmp_path / "sitepkg" / "plantpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks.py").write_text("def double(x):\n    return 2 * x\n")
    (pkg / "planted.py").write_text(PLANTED.format(marker=str(marker)))
    sys.path.insert(0, str(pkg.parent))
    try:
        settings.SLAFLOW_WORKFLOW_MODULES = ("plantpkg.tasks",)
        allowed = functions.registered_modules()
        functions.check_graph({"a": Node("a", "plantpkg.tasks.double", args=(1,))}, allowed_modules=allowed)
        for path in ("plantpkg.planted.escalate", "plantpkg.escalate"):
            with pytest.raises(functions.DisallowedFunctionError, match=r"is not a registered workflow module"):
                functions.check_graph({"a": Node("a", path)}, allowed_modules=allowed)
        assert not marker.exists() and "plantpkg.planted" not in sys.modules
    finally:
        sys.path.remove(str(pkg.parent))
        for name in ("plantpkg", "plantpkg.tasks", "plantpkg.planted"):
            sys.modules.pop(name, None)


def test_the_registry_is_the_library_s_task_modules_and_the_configured_ones_exactly():
    registered = functions.registered_modules()
    assert registered[-1] == "tests.taskfns" and "slaflow.workflows" not in registered
    assert set(workflows.task_modules()) <= set(registered)
    assert "slaflow.workflows._cold_stage_tasks" in registered  # cold_stage's tasks live there
    for name in workflows.all_workflows():  # every library graph names registered functions only
        wf = workflows.get(name)
        from orchestrator.core.authoring import build_graph

        functions.check_graph(build_graph(wf.build(**wf.params)), allowed_modules=registered)


@pytest.mark.parametrize(
    "path", ["orchestrator.executables.run", "orchestrator.core.sinks.collect", "orchestrator.core.sinks.collect_list"]
)
def test_built_ins_are_allowed_by_exact_name(path):
    node = Node("a", path, args=(["sort"],)) if path.endswith(".run") else Node("a", path)
    functions.check_graph({"a": node}, allowed_modules=functions.registered_modules())


@pytest.mark.parametrize(
    "path, needle",
    [
        ("orchestrator.executables.command", "module 'orchestrator.executables' is not a registered"),
        ("orchestrator.core.sinks.joined", "module 'orchestrator.core.sinks' is not a registered"),
        ("tests.taskfns.__loader__", "'__loader__' is not a task function"),
        ("slaflow.workflows.diamond.register", "defined in 'slaflow.workflows', outside the registered"),
    ],
)
def test_other_functions_of_built_in_or_workflow_modules_are_refused(path, needle):
    with pytest.raises(functions.DisallowedFunctionError, match=needle):
        functions.check_graph({"a": Node("a", path)}, allowed_modules=functions.registered_modules())


def test_library_task_functions_in_a_spec_take_only_constants_within_bounds_for_bounded_parameters():
    """What a workflow's own parameters refuse, a spec naming its tasks is refused too; a bounded parameter
    never takes a task's output, not even a seed (``_frame`` computes ``seed * 1000``: a list of a million
    readings would become a billion)."""
    registered = functions.registered_modules()
    within = {"p": Node("p", "slaflow.workflows.big_fanout.make", kwargs={"seed": 1, "size_mb": 256})}
    functions.check_bounds(within)
    over = {"p": Node("p", "slaflow.workflows.big_fanout.make", kwargs={"seed": 1, "size_mb": 257})}
    with pytest.raises(functions.DisallowedFunctionError, match=r"'size_mb' .* is 257, more than its bound of 256"):
        functions.check_bounds(over)
    chapters = {"c": Node("c", "slaflow.workflows.text_analysis.make_chapter", args=(1, 0, 10**7, 1000, 1000))}
    with pytest.raises(functions.DisallowedFunctionError, match=r"'n' .* is 10000000, more than its bound of 1024"):
        functions.check_bounds(chapters)
    readings = Node("r", "slaflow.workflows.sensor_report.readings", kwargs={"n": 1_000_000, "seed": 1})
    frames = Node("f", "slaflow.workflows.stream_pipeline.frames", args=(Ref("r"), 1, 1, 0.0))
    graph = {"r": readings, "f": frames}
    functions.check_graph(graph, allowed_modules=registered)  # its functions are registered ones
    with pytest.raises(functions.DisallowedFunctionError, match=r"'seed' .* give a constant, not a task's output"):
        functions.check_bounds(graph)
