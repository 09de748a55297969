"""Campaign arguments are checked before anything runs; the schedule is warm-ups, then a seeded shuffle."""

import pytest

from experiments.campaigns import design


def parse(**kw):
    args = dict(
        workflows=["diamond", "tree_reduction"],
        planners=["uniform", "wukong"],
        slas=["p50", "p90"],
        iterations=3,
        warmup=2,
        seed=1,
    )
    args.update(kw)
    return design.parse(**args)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(workflows=["nope"]), "unknown workflow 'nope'"),
        (dict(workflows=[]), "at least one workflow"),
        (dict(planners=["magic"]), "unknown planner 'magic'"),
        (dict(slas=["p100"]), "SLA 'p100'"),
        (dict(slas=[]), "at least one SLA"),
        (dict(iterations=0), "--iterations must be at least 1"),
        (dict(warmup=-1), "--warmup must be 0 or more"),
        (dict(params={"gemm": {"n": "8"}}), "'gemm', which is not among the campaign's workflows"),
        (dict(params={"tree_reduction": {"n": "x"}}), "tree_reduction parameter 'n' must be int"),
        (dict(params={"tree_reduction": {"m": "2"}}), "tree_reduction has no parameter 'm'"),
    ],
)
def test_bad_arguments_are_refused_naming_the_problem(kw, message):
    with pytest.raises(design.CampaignError, match=message):
        parse(**kw)


def test_params_text_is_parsed_and_checked():
    assert design.parse_params(["tree_reduction:n=8", "gemm:n=256,block=64"]) == {
        "tree_reduction": {"n": "8"},
        "gemm": {"n": "256", "block": "64"},
    }
    for bad in ("tree_reduction", "tree_reduction:n", ":n=2"):
        with pytest.raises(design.CampaignError, match="--params"):
            design.parse_params([bad])
    assert parse(params={"tree_reduction": {"n": "8"}}).params["tree_reduction"] == {"n": 8}
    assert parse().params["diamond"] == {"x": 1}  # defaults for the others


def test_the_schedule_is_warm_ups_then_every_cell_in_a_seeded_order():
    c = parse()
    slots = design.schedule(c)
    warm, measured = slots[:8], slots[8:]
    assert all(s.warmup and s.sla == "p50" for s in warm) and not any(s.warmup for s in measured)
    assert len(measured) == 2 * 2 * 2 * 3
    assert {(s.workflow, s.planner, s.sla, s.iteration) for s in measured} == {
        (w, p, s, k) for w in c.workflows for p in c.planners for s in c.slas for k in (1, 2, 3)
    }
    assert design.schedule(c) == slots  # the same seed, the same order
    assert design.run_count(c) == len(slots)  # counted without building (a web form may ask for 10^5)
    other = design.schedule(parse(seed=2))
    assert other != slots and sorted(map(repr, other)) == sorted(map(repr, slots))
    # Shuffled: one cell's runs do not all come in one block.
    cells = [(s.workflow, s.planner, s.sla) for s in measured]
    assert cells != sorted(cells)


def test_a_campaign_round_trips_through_its_stored_arguments():
    c = parse(params={"tree_reduction": {"n": "8"}})
    assert design.Campaign.from_json(c.as_json()) == c


def test_a_campaign_over_the_hard_limit_is_refused_naming_both_numbers():
    with pytest.raises(design.CampaignError, match=r"the campaign would make 100008 runs, more than 100000"):
        parse(iterations=12500)
