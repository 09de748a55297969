"""The progress bar of long commands: live with counts and ETA on a terminal, silent otherwise."""

import io

from experiments.progress import Progress


def test_on_a_terminal_the_bar_shows_steps_counts_and_eta_and_lines_go_above_it():
    stream = io.StringIO()
    with Progress(3, stream=stream, force_terminal=True) as bar:
        assert bar.live
        for name in ("alpha", "beta", "gamma"):
            bar.step(name)
            bar.write(f"finished {name}")
        assert bar.completed == 2  # the third step is under way
    text = stream.getvalue()
    assert "ETA" in text and "3/3" in text and "gamma" in text
    assert text.index("finished alpha") < text.index("finished gamma")


def test_off_a_terminal_or_disabled_it_prints_nothing_and_lines_go_to_the_fallback():
    for kwargs in ({}, {"enabled": False, "force_terminal": True}):
        stream, lines = io.StringIO(), []
        with Progress(2, stream=stream, fallback=lines.append, **kwargs) as bar:
            assert not bar.live
            bar.step("one")
            bar.write("a line")
        assert stream.getvalue() == "" and lines == ["a line"]


def test_a_resumed_campaign_starts_from_what_was_done():
    stream = io.StringIO()
    with Progress(10, completed=4, stream=stream, force_terminal=True) as bar:
        bar.update(5, "cell")
        assert bar.completed == 5
    assert "5/10" in stream.getvalue()
