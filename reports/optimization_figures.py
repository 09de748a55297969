"""Plotly figures of the optimization dashboards, from ``reports.optimization_analysis``'s plain data.

Traces carry ``meta`` tags (``prewarm:hit``, ``onoff:<pair>``, ...) that the
browser tests count points of.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from reports.figures import BREAKDOWN_COLORS, PART_COLORS, QUALITATIVE, _base_layout

HIT, MISS, PING = "#22a35a", "#dc2626", "#6b7280"
STARTUP_COLORS = {"cold": "#4e79a7", "warm (pre-warmed)": "#59a14f", "warm": "#c6dbef"}
TASK_PART_COLORS = {
    "waiting": PART_COLORS["input wait"],
    "download": "#b07aa1",
    "exec": PART_COLORS["exec"],
    "upload": PART_COLORS["upload"],
    "other": BREAKDOWN_COLORS["other"],
}


# --- one run ---------------------------------------------------------------------------------------


def prewarm_timeline_figure(rows: Sequence[Mapping]) -> go.Figure:
    """One row per pinged target: a grey triangle when the ping left, a dot when the target branch started
    (green: it started on the process the ping warmed; red: it did not), joined by a line."""
    timed = [r for r in rows if r["sent_s"] is not None and r["start_s"] is not None]
    labels = [f"{r['target']} ← {r['sender'] or '?'}" for r in timed]
    fig = go.Figure()
    xs, ys = [], []
    for r, label in zip(timed, labels):
        xs += [r["sent_s"], r["start_s"], None]
        ys += [label, label, None]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            meta="prewarm:gap",
            hoverinfo="skip",
            showlegend=False,
            line=dict(color="#9ca3af", width=2),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[r["sent_s"] for r in timed],
            y=labels,
            mode="markers",
            name="ping sent",
            meta="prewarm:ping",
            marker=dict(symbol="triangle-right", size=12, color=PING),
            hovertemplate="%{y}: ping sent at %{x:.3f} s<extra></extra>",
        )
    )
    for hit, name, color in ((True, "target started warm (hit)", HIT), (False, "target started cold (miss)", MISS)):
        mine = [(r, label) for r, label in zip(timed, labels) if r["hit"] is hit]
        if not mine:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r["start_s"] for r, _ in mine],
                y=[label for _, label in mine],
                mode="markers",
                name=name,
                meta="prewarm:hit" if hit else "prewarm:miss",
                marker=dict(size=12, color=color),
                text=[f"{r['gap_s']:.3f}" for r, _ in mine],
                hovertemplate="%{y}: target branch started at %{x:.3f} s, %{text} s after the ping<extra></extra>",
            )
        )
    _base_layout(fig, height=max(200, 90 + 34 * len(timed)))
    fig.update_xaxes(title="seconds after the run started", rangemode="tozero")
    fig.update_yaxes(type="category", automargin=True)
    return fig


def task_parts_figure(parts: Sequence[Mapping]) -> go.Figure:
    """Per task, its observed time stacked: waiting for inputs, downloading them, exec, upload, the rest."""
    fig = go.Figure()
    names = [p["node_id"] for p in parts]
    for part, label in (
        ("waiting", "input wait: waiting"),
        ("download", "input wait: download"),
        ("exec", "exec"),
        ("upload", "upload"),
        ("other", "counters + dispatch"),
    ):
        fig.add_trace(
            go.Bar(
                y=names,
                x=[p[part] for p in parts],
                name=label,
                orientation="h",
                meta=f"task:{part}",
                marker_color=TASK_PART_COLORS[part],
                hovertemplate="%{y}: %{x:.4f} s " + label + "<extra></extra>",
            )
        )
    _base_layout(fig, height=min(1400, max(220, 80 + 16 * len(parts))), barmode="stack")
    fig.update_layout(legend=dict(traceorder="normal"))
    fig.update_xaxes(title="seconds")
    fig.update_yaxes(type="category", autorange="reversed", automargin=True)
    return fig


# --- across runs -----------------------------------------------------------------------------------


def prewarm_scatter_figure(pings: Sequence[Mapping]) -> go.Figure:
    """Every ping of every run: sent (x) against its target's actual start (y); above the diagonal = later."""
    timed = [p for p in pings if p["sent_s"] is not None and p["start_s"] is not None]
    fig = go.Figure()
    top = max([p["start_s"] for p in timed] + [p["sent_s"] for p in timed] + [1.0])
    fig.add_trace(
        go.Scatter(
            x=[0, top],
            y=[0, top],
            mode="lines",
            name="start = ping",
            meta="diagonal",
            hoverinfo="skip",
            line=dict(color="#9ca3af", dash="dot", width=1),
        )
    )
    for hit, name, color in ((True, "hit (started warm)", HIT), (False, "miss", MISS)):
        mine = [p for p in timed if p["hit"] is hit]
        if not mine:
            continue
        fig.add_trace(
            go.Scatter(
                x=[p["sent_s"] for p in mine],
                y=[p["start_s"] for p in mine],
                mode="markers",
                name=name,
                meta="pings:hit" if hit else "pings:miss",
                marker=dict(size=9, color=color),
                text=[
                    f"run #{p['run_id']} ({p['planner']}): {p['target']}, {p['gap_s']:.3f} s after the ping"
                    for p in mine
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    _base_layout(fig, height=340)
    fig.update_xaxes(title="ping sent (s after the run started)", rangemode="tozero")
    fig.update_yaxes(title="target branch started (s)", rangemode="tozero")
    return fig


def preload_starts_figure(entries: Sequence[Mapping]) -> go.Figure:
    """Per task PreLoad served: when its inputs were all in memory, with PreLoad and in runs without it."""
    fig = go.Figure()
    for side, name, color in (("with", "with PreLoad", "#59a14f"), ("without", "without PreLoad", "#9ca3af")):
        xs, ys = [], []
        for e in entries:
            xs += [e["node_id"]] * len(e[side]["ready_s"])
            ys += e[side]["ready_s"]
        fig.add_trace(
            go.Box(
                x=xs,
                y=ys,
                name=name,
                meta=f"preload:{side}",
                boxpoints="all",
                jitter=0.3,
                marker=dict(color=color, size=6),
                line=dict(color=color),
            )
        )
    _base_layout(fig, height=320, boxmode="group")
    fig.update_yaxes(title="inputs ready (s after the run started)", rangemode="tozero")
    fig.update_xaxes(type="category")
    return fig


def startups_figure(counts: Mapping[str, Mapping[str, int]]) -> go.Figure:
    """Per planner, its start-ups as shares: cold, warm because a ping warmed the process, warm otherwise."""
    fig = go.Figure()
    planners = list(counts)
    totals = {p: max(1, sum(counts[p].values())) for p in planners}
    for part, color in STARTUP_COLORS.items():
        fig.add_trace(
            go.Bar(
                x=planners,
                y=[100 * counts[p].get(part, 0) / totals[p] for p in planners],
                name=part,
                meta=f"startups:{part}",
                marker_color=color,
                text=[str(counts[p].get(part, 0)) for p in planners],
                textposition="inside",
                hovertemplate="%{x}: %{text} " + part + " start-ups (%{y:.0f} %)<extra></extra>",
            )
        )
    _base_layout(fig, height=320, barmode="stack")
    fig.update_yaxes(title="% of start-ups", range=[0, 100])
    fig.update_xaxes(type="category")
    return fig


def median_counts_figure(counts: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Median count per run of what each optimization did, one bar group per thing, a colour per -opt planner."""
    fig = go.Figure()
    for i, (planner, values) in enumerate(counts.items()):
        fig.add_trace(
            go.Bar(
                x=list(values),
                y=list(values.values()),
                name=planner,
                meta=f"optcount:{planner}",
                marker_color=QUALITATIVE[i % len(QUALITATIVE)],
                text=[f"{v:g}" for v in values.values()],
                textposition="outside",
                hovertemplate="%{x}: median %{y} per run<extra></extra>",
            )
        )
    _base_layout(fig, height=320, barmode="group")
    fig.update_yaxes(title="median per run", rangemode="tozero")
    fig.update_xaxes(type="category")
    return fig


def on_off_figure(rows: Sequence[Mapping]) -> go.Figure:
    """Change of each metric's median, optimized against plain (in %; below zero = the optimization saved)."""
    fig = go.Figure()
    for i, row in enumerate(rows):
        metrics = [m for m in row["metrics"].values() if m["change_pct"] is not None]
        fig.add_trace(
            go.Bar(
                x=[m["label"] for m in metrics],
                y=[m["change_pct"] for m in metrics],
                name=row["label"],
                meta=f"onoff:{row['label']}",
                marker_color=QUALITATIVE[i % len(QUALITATIVE)],
                text=[f"{m['change_pct']:+.0f} %" for m in metrics],
                textposition="outside",
                hovertemplate="%{x}: %{y:+.1f} % (" + row["label"] + ")<extra></extra>",
            )
        )
    fig.add_hline(y=0, line=dict(color="#6b7280", width=1))
    _base_layout(fig, height=340, barmode="group")
    fig.update_yaxes(title="on vs off, change of the median (%)")
    fig.update_xaxes(type="category")
    return fig
