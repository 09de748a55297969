"""Plotly figures for the web UI, built by pure functions: plain data in, figure out.

Nothing here reads the database; views pass the dicts that ``webui.selectors``
and ``reports.analysis`` produce. Every figure gets ``meta`` tags on the traces
the browser needs to find (live status colours, tests counting points).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from reports.analysis import BREAKDOWN_PARTS, sla_order
from reports.layout import layered_positions

QUALITATIVE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#edc948",
    "#76b7b2",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#e15759",
)
STATUS_COLORS = {
    "pending": "#d0d4da",
    "ready": "#d0d4da",
    "running": "#3b82f6",
    "succeeded": "#22a35a",
    "failed": "#dc2626",
    "cancelled": "#8b8f96",
    "skipped": "#8b8f96",
}
PART_COLORS = {
    "start-up (cold)": "#9ecae9",
    "start-up (warm)": "#c6dbef",
    "start-up": "#9ecae9",
    "input wait": "#f2b447",
    "exec": "#4e79a7",
    "upload": "#e15759",
    "counters + dispatch": "#8cd17d",
}
BREAKDOWN_COLORS = {
    "exec": "#4e79a7",
    "waiting": "#f2b447",
    "transfer": "#e15759",
    "start-up": "#9ecae9",
    "dispatch": "#8cd17d",
    "gap": "#b07aa1",
    "other": "#8cd17d",
}
PLANNED_PATH_COLOR = "#f28e2b"
OBSERVED_PATH_COLOR = "#7c3aed"
PROMISE_COLOR = "#111827"
FONT = dict(family="system-ui, -apple-system, Segoe UI, sans-serif", size=12)


def _base_layout(fig: go.Figure, *, title: str = "", height: int = 360, **extra) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        title=dict(text=title, x=0.01, font=dict(size=14)) if title else None,
        height=height,
        margin=dict(l=60, r=20, t=40 if title else 16, b=40),
        font=FONT,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        **extra,
    )
    return fig


def config_colors(memory_configs: Sequence[int]) -> dict[int, str]:
    return {mb: QUALITATIVE[i % len(QUALITATIVE)] for i, mb in enumerate(sorted(set(memory_configs)))}


def worker_colors(workers: Sequence[str]) -> dict[str, str]:
    return {w: QUALITATIVE[i % len(QUALITATIVE)] for i, w in enumerate(dict.fromkeys(workers))}


def status_color(status: str) -> str:
    return STATUS_COLORS.get(status, STATUS_COLORS["pending"])


# --- run detail ---------------------------------------------------------------------------------


def dag_figure(
    nodes: Sequence[Mapping],
    *,
    planned_path: Sequence[str] = (),
    observed_path: Sequence[str] = (),
    color_by: str = "status",
) -> go.Figure:
    """The DAG laid out by topological layers.

    ``nodes`` in topological order, each with id, function, level, upstream,
    memory_mb, worker and status. Buttons switch node colours between status,
    resource configuration and logical worker; critical paths are drawn as
    thick edges (planned: orange, observed: purple dashed).
    """
    order = [n["id"] for n in nodes]
    pos = layered_positions(order, {n["id"]: n["level"] for n in nodes}, {n["id"]: n["upstream"] for n in nodes})
    fig = go.Figure()

    def edge_trace(pairs, name, color, width, dash="solid", meta="edges", showlegend=False):
        xs, ys = [], []
        for a, b in pairs:
            if a in pos and b in pos:
                xs += [pos[a][0], pos[b][0], None]
                ys += [pos[a][1], pos[b][1], None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=name,
                meta=meta,
                hoverinfo="skip",
                line=dict(color=color, width=width, dash=dash),
                showlegend=showlegend,
            )
        )

    edge_trace([(u, n["id"]) for n in nodes for u in n["upstream"]], "edges", "#c4c9d0", 1)
    for path, which, color, width, dash in (
        (planned_path, "planned", PLANNED_PATH_COLOR, 5, "solid"),
        (observed_path, "observed", OBSERVED_PATH_COLOR, 3, "dash"),
    ):
        if len(path) > 1:
            edge_trace(
                zip(path, path[1:]),
                f"{which} critical path",
                color,
                width,
                dash=dash,
                meta=f"{which}-path",
                showlegend=True,
            )

    cfg = config_colors([n["memory_mb"] for n in nodes if n.get("memory_mb")])
    wrk = worker_colors([n["worker"] or "flexible" for n in nodes])
    colors = {
        "status": [status_color(n["status"]) for n in nodes],
        "config": [cfg.get(n.get("memory_mb"), "#d0d4da") for n in nodes],
        "worker": [wrk[n["worker"] or "flexible"] for n in nodes],
    }
    on_path = set(planned_path) | set(observed_path)
    hover = [
        f"<b>{n['id']}</b><br>{n['function']}<br>status: {n['status']}<br>"
        f"config: {n.get('memory_mb') or '?'} MB<br>worker: {n['worker'] or 'flexible'}"
        for n in nodes
    ]
    fig.add_trace(
        go.Scatter(
            x=[pos[i][0] for i in order],
            y=[pos[i][1] for i in order],
            mode="markers",
            name="tasks",
            meta="nodes",
            customdata=order,
            hovertext=hover,
            hoverinfo="text",
            showlegend=False,
            marker=dict(
                size=[16 if i in on_path else 12 for i in order],
                color=colors[color_by],
                line=dict(
                    color=["#111827" if i in on_path else "#6b7280" for i in order],
                    width=[2.5 if i in on_path else 1 for i in order],
                ),
            ),
        )
    )
    node_index = len(fig.data) - 1
    dups = [i for i in order if next(n for n in nodes if n["id"] == i).get("duplicated")]
    if dups:  # TaskDup: where a waiting worker ran a straggler itself
        fig.add_trace(
            go.Scatter(
                x=[pos[i][0] for i in dups],
                y=[pos[i][1] for i in dups],
                mode="markers+text",
                name="duplicated",
                meta="dups",
                text=["dup"] * len(dups),
                textposition="top center",
                hoverinfo="skip",
                showlegend=False,
                marker=dict(size=24, color="rgba(0,0,0,0)", line=dict(color="#dc2626", width=2.5)),
            )
        )
    clustered = [n for n in nodes if n.get("clustered")]
    if clustered:  # task clustering: a child run in its producer's branch, its input never uploaded
        edge_trace(
            [(n["clustered"], n["id"]) for n in clustered], "clustered", "#59a14f", 4, dash="dot", meta="cluster-edges"
        )
        fig.add_trace(
            go.Scatter(
                x=[pos[n["id"]][0] for n in clustered],
                y=[pos[n["id"]][1] for n in clustered],
                mode="markers+text",
                name="clustered",
                meta="clustered",
                text=["clustered"] * len(clustered),
                textposition="bottom center",
                hoverinfo="skip",
                showlegend=False,
                marker=dict(size=22, symbol="square", color="rgba(0,0,0,0)", line=dict(color="#59a14f", width=2.5)),
            )
        )
    labels = {"status": "colour: status", "config": "colour: resource config", "worker": "colour: worker"}
    fig.update_layout(
        updatemenus=[
            dict(
                type="buttons",
                direction="right",
                x=0.0,
                xanchor="left",
                y=1.0,
                yanchor="bottom",
                showactive=True,
                active=list(labels).index(color_by),
                pad=dict(r=4, t=0, b=4),
                font=dict(size=11),
                buttons=[
                    dict(label=labels[k], method="restyle", args=[{"marker.color": [colors[k]]}, [node_index]])
                    for k in labels
                ],
            )
        ]
    )
    n_layers = 1 + max((n["level"] for n in nodes), default=0)
    widest = max((sum(1 for n in nodes if n["level"] == lv) for lv in range(n_layers)), default=1)
    # The page draws the legend (statuses, configs, paths) in HTML next to the buttons.
    _base_layout(fig, height=max(260, min(900, 80 + 18 * widest)), showlegend=False)
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def gantt_figure(
    bars: Sequence[Mapping], *, promise_s: float | None = None, makespan_s: float | None = None
) -> go.Figure:
    """Task stream: one row per logical worker, a bar per part of each task (and start-up).

    ``bars``: dicts with row, part, start, end, planned (bool) and hover text.
    Planned bars sit beside the observed ones in the same row (offset groups).
    """
    fig = go.Figure()
    rows = list(dict.fromkeys(b["row"] for b in sorted(bars, key=lambda b: (b["start"], b["row"]))))
    groups: dict[tuple[bool, str], list[Mapping]] = {}
    for b in bars:
        groups.setdefault((b["planned"], b["part"]), []).append(b)
    part_rank = {p: i for i, p in enumerate(PART_COLORS)}
    for planned, part in sorted(groups, key=lambda k: (k[0], part_rank.get(k[1], 99))):
        items = groups[(planned, part)]
        fig.add_trace(
            go.Bar(
                y=[b["row"] for b in items],
                x=[max(b["end"] - b["start"], 0.0) for b in items],
                base=[b["start"] for b in items],
                orientation="h",
                name=f"{part} (planned)" if planned else part,
                meta=f"{'planned' if planned else 'observed'}:{part}",
                offsetgroup="planned" if planned else "observed",
                legendgroup="planned" if planned else "observed",
                marker=dict(
                    color=PART_COLORS.get(part, "#999"),
                    opacity=0.45 if planned else 1.0,
                    line=dict(width=0.5 if not planned else 1, color="#374151" if planned else "white"),
                    pattern=dict(shape="/" if planned else ""),
                ),
                hovertext=[b.get("text", "") for b in items],
                hoverinfo="text",
            )
        )
    for x, label, color in ((makespan_s, "makespan", "#6b7280"), (promise_s, "promise", PROMISE_COLOR)):
        if x is not None:
            fig.add_vline(
                x=x,
                line=dict(color=color, dash="dot", width=1.5),
                annotation=dict(text=label, font=dict(size=10, color=color)),
            )
    _base_layout(fig, height=max(220, min(1400, 90 + 20 * len(rows))), barmode="group", bargap=0.25)
    fig.update_yaxes(categoryorder="array", categoryarray=rows[::-1], title=None, tickfont=dict(size=10))
    fig.update_xaxes(title="seconds after the run started", rangemode="tozero")
    return fig


def breakdown_figure(parts: Mapping[str, float], *, title: str = "") -> go.Figure:
    """A pie of where time went (seconds summed over tasks)."""
    labels = [p for p in parts if parts[p] > 0]
    fig = go.Figure(
        go.Pie(
            labels=labels,
            values=[parts[p] for p in labels],
            hole=0.45,
            sort=False,
            meta="pie",
            marker=dict(colors=[BREAKDOWN_COLORS.get(p, "#999") for p in labels]),
            textposition="inside",
            texttemplate="%{label} %{percent}",
            hovertemplate="%{label}: %{value:.4f} s (%{percent})<extra></extra>",
        )
    )
    _base_layout(fig, title=title, height=300, uniformtext=dict(minsize=10, mode="hide"))
    fig.update_layout(legend=dict(orientation="v", x=1.0, xanchor="left", y=0.5, yanchor="middle"))
    return fig


def critical_path_figure(steps: Sequence[Mapping], *, title: str = "") -> go.Figure:
    """Stacked bar per task on the observed critical path: hand-off gap, waiting, transfer, exec, other."""
    fig = go.Figure()
    ids = [s["node_id"] for s in steps]
    for part, label in (
        ("gap", "hand-off (dispatch, queue, start-up)"),
        ("waiting", "waiting"),
        ("transfer", "transfer"),
        ("exec", "exec"),
        ("other", "counters + dispatch"),
    ):
        fig.add_trace(
            go.Bar(
                x=ids,
                y=[s[part] for s in steps],
                name=label,
                meta=part,
                marker_color=BREAKDOWN_COLORS[part],
                hovertemplate="%{x}: %{y:.4f} s",
            )
        )
    _base_layout(fig, title=title, height=300, barmode="stack")
    fig.update_yaxes(title="seconds")
    return fig


# --- workflow analysis ---------------------------------------------------------------------------


def box_figure(
    groups: Mapping[str, Sequence[float]],
    *,
    y_title: str,
    title: str = "",
    markers: Mapping[str, Sequence[float]] | None = None,
    marker_name: str = "promise",
) -> go.Figure:
    """Box plots per group label, optionally with markers (e.g. each run's promise) beside them."""
    fig = go.Figure()
    for i, (label, values) in enumerate(groups.items()):
        fig.add_trace(
            go.Box(
                y=list(values),
                name=label,
                meta=f"box:{label}",
                boxpoints="all",
                jitter=0.3,
                marker=dict(color=QUALITATIVE[i % len(QUALITATIVE)], size=5),
                showlegend=False,
            )
        )
    if markers:
        xs, ys = [], []
        for label, values in markers.items():
            xs += [label] * len(values)
            ys += list(values)
        if ys:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="markers",
                    name=marker_name,
                    meta="markers",
                    marker=dict(
                        symbol="line-ew-open", size=30, color=PROMISE_COLOR, line=dict(width=2.5, color=PROMISE_COLOR)
                    ),
                )
            )
    _base_layout(fig, title=title, height=340)
    fig.update_yaxes(title=y_title, rangemode="tozero")
    return fig


def sla_success_figure(rows: Sequence[Mapping], *, title: str = "") -> go.Figure:
    """Bars of SLA success rate (share of runs within their promise) per SLA, one colour per planner."""
    fig = go.Figure()
    planners = list(dict.fromkeys(r["planner"] for r in rows))
    for i, planner in enumerate(planners):
        mine = sorted(
            (r for r in rows if r["planner"] == planner and r["rate"] is not None), key=lambda r: sla_order(r["sla"])
        )
        fig.add_trace(
            go.Bar(
                x=[r["sla"] for r in mine],
                y=[100 * r["rate"] for r in mine],
                name=planner,
                meta=f"sla:{planner}",
                marker_color=QUALITATIVE[i % len(QUALITATIVE)],
                text=[f"{r['within']}/{r['judged']}" for r in mine],
                textposition="outside",
                hovertemplate="%{x}: %{y:.0f}% of runs within the promise (%{text})",
            )
        )
    _base_layout(fig, title=title, height=320, barmode="group")
    fig.update_yaxes(title="% runs within promise", range=[0, 110])
    fig.update_xaxes(title="SLA", type="category")
    return fig


def prediction_error_figure(series: Mapping[str, Sequence[tuple[int, float]]], *, title: str = "") -> go.Figure:
    """Relative error (actual − promised) / promised over successive runs, one line per planner · SLA."""
    fig = go.Figure()
    for i, (label, points) in enumerate(series.items()):
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[100 * p[1] for p in points],
                mode="lines+markers",
                name=label,
                meta=f"err:{label}",
                line=dict(color=QUALITATIVE[i % len(QUALITATIVE)]),
            )
        )
    fig.add_hline(y=0, line=dict(color="#6b7280", dash="dot", width=1))
    _base_layout(fig, title=title, height=320)
    fig.update_yaxes(title="error vs promise (%)")
    fig.update_xaxes(title="run # of this planner · SLA")
    return fig


def stacked_figure(
    groups: Mapping[str, Mapping[str, float]], *, y_title: str, title: str = "", colors: Mapping[str, str] | None = None
) -> go.Figure:
    """One stacked bar per group (e.g. planner) of named parts (e.g. time breakdown, warm vs cold)."""
    fig = go.Figure()
    parts = list(dict.fromkeys(p for g in groups.values() for p in g))
    for i, part in enumerate(parts):
        fig.add_trace(
            go.Bar(
                x=list(groups),
                y=[groups[g].get(part, 0.0) for g in groups],
                name=part,
                meta=f"part:{part}",
                marker_color=(colors or {}).get(part, QUALITATIVE[i % len(QUALITATIVE)]),
            )
        )
    _base_layout(fig, title=title, height=320, barmode="stack")
    fig.update_yaxes(title=y_title)
    fig.update_xaxes(type="category")
    return fig


def time_breakdown_by_group_figure(groups: Mapping[str, Mapping[str, float]], *, title: str = "") -> go.Figure:
    ordered = {g: {p: parts.get(p, 0.0) for p in BREAKDOWN_PARTS} for g, parts in groups.items()}
    return stacked_figure(ordered, y_title="seconds per run (mean)", title=title, colors=BREAKDOWN_COLORS)


# --- compare planners and experiments --------------------------------------------------------------


def pareto_figure(points: Sequence[Mapping], *, title: str = "") -> go.Figure:
    """Predicted makespan vs cost per planner × SLA; the Pareto front joined by a line.

    ``points``: dicts with planner, sla, cost (GB-s), makespan (s), source
    ("predicted" or "history": observed medians for planners that predict
    nothing) and pareto (bool). Filled markers are predictions, open ones history.
    """
    fig = go.Figure()
    planners = list(dict.fromkeys(p["planner"] for p in points))
    for i, planner in enumerate(planners):
        # SLAs that give one planner the same point (e.g. WUKONG, which ignores the SLA) share a marker.
        merged: dict[tuple, dict] = {}
        for p in points:
            if p["planner"] == planner:
                key = (round(p["cost"], 9), round(p["makespan"], 9), p["source"] == "predicted")
                merged.setdefault(key, dict(p, slas=[]))["slas"].append(p["sla"])
        mine = list(merged.values())
        color = QUALITATIVE[i % len(QUALITATIVE)]
        fig.add_trace(
            go.Scatter(
                x=[p["cost"] for p in mine],
                y=[p["makespan"] for p in mine],
                mode="markers+text",
                name=planner,
                meta=f"planner:{planner}",
                text=[", ".join(p["slas"]) for p in mine],
                textposition="top center",
                marker=dict(
                    size=13,
                    color=color,
                    line=dict(width=2, color=color),
                    symbol=["circle" if p["source"] == "predicted" else "circle-open" for p in mine],
                ),
                customdata=[p["source"] for p in mine],
                hovertemplate=f"<b>{planner}</b> %{{text}}<br>makespan %{{y:.3f}} s<br>cost %{{x:.3f}} GB-s"
                "<br>%{customdata}<extra></extra>",
            )
        )
    front = sorted({(p["cost"], p["makespan"]) for p in points if p.get("pareto")})
    if len(front) > 1:
        fig.add_trace(
            go.Scatter(
                x=[c for c, _ in front],
                y=[m for _, m in front],
                mode="lines",
                name="Pareto front",
                meta="front",
                hoverinfo="skip",
                line=dict(color="#6b7280", dash="dot"),
            )
        )
    _base_layout(fig, title=title, height=420)
    fig.update_xaxes(title="cost (GB-seconds)", rangemode="tozero")
    fig.update_yaxes(title="makespan (s)", rangemode="tozero")
    return fig


def sla_matrix_figure(rows: Sequence[Mapping], *, title: str = "") -> go.Figure:
    """Heatmap of SLA success rate, planner × SLA, annotated with within/judged counts."""
    planners = sorted({r["planner"] for r in rows})
    slas = sorted({r["sla"] for r in rows}, key=sla_order)
    cell = {(r["planner"], r["sla"]): r for r in rows}
    z, text = [], []
    for planner in planners:
        z.append(
            [
                100 * cell[(planner, s)]["rate"]
                if (planner, s) in cell and cell[(planner, s)]["rate"] is not None
                else None
                for s in slas
            ]
        )
        text.append(
            [
                f"{cell[(planner, s)]['within']}/{cell[(planner, s)]['judged']}" if (planner, s) in cell else ""
                for s in slas
            ]
        )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=slas,
            y=planners,
            text=text,
            texttemplate="%{text}",
            zmin=0,
            zmax=100,
            colorscale="RdYlGn",
            meta="matrix",
            colorbar=dict(title="% within"),
            hovertemplate="%{y} at %{x}: %{z:.0f}% (%{text})<extra></extra>",
        )
    )
    _base_layout(fig, title=title, height=max(220, 90 + 50 * len(planners)))
    fig.update_xaxes(type="category", title="SLA")
    fig.update_yaxes(type="category")
    return fig
