"""List options: spaces, commas or both, in every command (orchestrator.cliargs)."""

import argparse

import pytest
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError

from orchestrator import cliargs
from slaflow.cli import VERBS

OURS = ("orchestrator", "experiments", "workers", "webui")


def _parser(name):
    cmd = load_command_class(get_commands()[name], name)
    return cmd.create_parser("slaflow", name)


def _our_commands():
    return sorted(name for name, app in get_commands().items() if app in OURS)


def test_every_list_option_of_every_command_uses_the_shared_helper():
    found = []
    for name in _our_commands():
        for action in _parser(name)._actions:
            many = action.nargs in ("+", "*") or isinstance(action, (argparse._AppendAction, argparse._ExtendAction))
            if many and action.option_strings:
                assert isinstance(action, cliargs.ListAction), f"{name} {action.option_strings[0]}"
                found.append(f"{name} {action.option_strings[0]}")
    # the options issue 29 named, among others
    for option in (
        "run_workflow --optimizations",
        "run_workflow --param",
        "run_sla_experiments --workflows",
        "run_sla_experiments --planners",
        "run_sla_experiments --slas",
        "bench --workload",
        "bench --scenario",
        "bench --size",
        "bench --planner",
        "sla_report --sla",
        "plan --param",
    ):
        assert option in found


@pytest.mark.parametrize(
    "args",
    [
        ["--workflows", "diamond", "tree_reduction", "--planners", "uniform", "wukong", "--slas", "p50", "p90"],
        ["--workflows", "diamond,tree_reduction", "--planners", "uniform,wukong", "--slas", "p50,p90"],
        [
            "--workflows",
            "diamond,",
            "tree_reduction",
            "--planners",
            "uniform",
            "--planners",
            "wukong",
            "--slas",
            "p50, p90",
        ],
    ],
)
def test_campaign_lists_take_spaces_commas_or_both(args):
    opts = _parser("run_sla_experiments").parse_args(args + ["--out", "x"])
    assert opts.workflows == ["diamond", "tree_reduction"]
    assert opts.planners == ["uniform", "wukong"] and opts.slas == ["p50", "p90"]


def test_key_value_lists_split_only_before_a_new_key():
    assert cliargs.pairs(["n=8,size=2", "label=a,b", "tree=5"]) == ["n=8", "size=2", "label=a,b", "tree=5"]
    opts = _parser("run_workflow").parse_args(["gemm", "--param", "n=256,block=64", "--param", "k=1"])
    assert opts.param == ["n=256", "block=64", "k=1"]
    opts = _parser("bench").parse_args(["runtime", "--workload", "fanout,gemm", "--size", "fanout=20", "gemm=256"])
    assert opts.workload == ["fanout", "gemm"] and opts.size == ["fanout=20", "gemm=256"]
    opts = _parser("run_sla_experiments").parse_args(["--params", "tree_reduction:n=8,gemm:n=256,block=64"])
    from experiments.campaigns import design

    assert design.parse_params(opts.params) == {"tree_reduction": {"n": "8"}, "gemm": {"n": "256", "block": "64"}}


def test_optimizations_lists_and_the_empty_list():
    parse = _parser("run_workflow").parse_args
    assert parse(["gemm"]).optimizations is None  # the planner's own choice
    assert parse(["gemm", "--optimizations", "preload,taskdup"]).optimizations == ["preload", "taskdup"]
    assert parse(["gemm", "--optimizations", "preload", "taskdup"]).optimizations == ["preload", "taskdup"]
    assert parse(["gemm", "--optimizations", ""]).optimizations == []


def test_unknown_items_are_named_with_the_known_ones():
    with pytest.raises(CommandError, match=r"--workload: unknown 'chian'; one of .*chain"):
        _parser("bench").parse_args(["runtime", "--workload", "chain,chian"])


def test_status_is_a_verb():
    assert VERBS["status"].command == "cluster_status"
