"""Web UI views: thin. Reads through ``webui.selectors``, the launch through ``experiments.runner``,
figures from ``reports.figures`` (pure). Every page needs a login; users see their own runs, staff all."""

from __future__ import annotations

import io
import json

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import json_script
from django.views.decorators.http import require_GET, require_http_methods

from experiments import runner
from experiments.campaigns import design, execute, report, results
from localcluster.launcher import served_queues
from orchestrator import planning
from orchestrator.api.throttles import preview_refusal
from orchestrator.core import router
from orchestrator.models import Experiment
from orchestrator.services import alerts, previews, selectors
from orchestrator.services.runs import SubmissionError
from reports import analysis, figures, optimization_analysis as opt_analysis, optimization_figures as opt_figures
from store.redis_client import RedisUnavailable
from webui.forms import SLA_SUGGESTIONS, CampaignForm, LaunchForm
from webui.selectors import optimizations as opt_sel, runs as run_sel, workflows as wf_sel


def figure_script(fig, element_id: str) -> str:
    """The figure as a JSON <script> the page's JS renders with Plotly.newPlot."""
    return json_script(json.loads(fig.to_json()), element_id)


def figures_context(**figs) -> dict:
    return {name: figure_script(fig, f"fig-{name}-data") for name, fig in figs.items() if fig is not None}


# --- runs --------------------------------------------------------------------------------------------


@login_required
@require_GET
def runs(request):
    filters = {k: request.GET.get(k, "").strip() for k in run_sel.RUN_FILTERS}
    page = run_sel.run_page(request.user, filters, request.GET.get("page"))
    return render(
        request,
        "webui/runs.html",
        {
            "runs": page.object_list,
            "page": page,
            "filters": filters,
            "choices": run_sel.filter_choices(request.user),
            "filtered": any(filters.values()),
        },
    )


def _run_or_404(request, run_id: int):
    return get_object_or_404(run_sel.visible_runs(request.user), pk=run_id)


def _run_body_context(run) -> dict:
    detail = run_sel.run_detail(run)
    r = detail["run"]
    color_by = "config" if r["finished"] else "status"
    bars = analysis.gantt_bars(detail["tasks"], detail["startups"])
    steps = analysis.critical_path_steps(detail["observed_path"], {t["node_id"]: t for t in detail["tasks"]})
    breakdown = analysis.time_breakdown(detail["tasks"], detail["startups"])
    cfg_colors = figures.config_colors([n["memory_mb"] for n in detail["nodes"] if n["memory_mb"]])
    opt = opt_analysis.run_panels(detail)
    timed_pings = [p for p in opt["prewarm"] if p["sent_s"] is not None and p["start_s"] is not None]
    figs = figures_context(
        prewarm=opt_figures.prewarm_timeline_figure(opt["prewarm"]) if timed_pings else None,
        taskparts=opt_figures.task_parts_figure(opt["task_parts"]) if opt["task_parts"] else None,
        dag=figures.dag_figure(
            detail["nodes"],
            planned_path=detail["planned_path"],
            observed_path=detail["observed_path"],
            color_by=color_by,
        ),
        gantt=figures.gantt_figure(bars, promise_s=r["predicted_makespan_s"], makespan_s=r["makespan_s"])
        if bars
        else None,
        breakdown=figures.breakdown_figure(breakdown) if any(breakdown.values()) else None,
        critical=figures.critical_path_figure(steps) if steps else None,
    )
    return {
        "detail": detail,
        "r": r,
        "figs": figs,
        "breakdown": breakdown,
        "critical_totals": analysis.critical_path_totals(steps) if steps else None,
        "critical_steps": steps,
        "comparison": analysis.task_comparison(detail["tasks"], detail["startup_of"]),
        "functions": analysis.per_function(detail["tasks"]),
        "has_predictions": analysis.has_predictions(detail["tasks"]),
        "events": run_sel.optimization_events(detail),
        "opt": opt,
        "status_colors": figures.STATUS_COLORS,
        "config_colors": cfg_colors,
        "planned_path_color": figures.PLANNED_PATH_COLOR,
        "observed_path_color": figures.OBSERVED_PATH_COLOR,
        "gantt_bar_count": len(bars),
        "banner": _sla_banner(run, r),
    }


def _sla_banner(run, r: dict) -> str:
    """The run page's SLA banner: predicted to miss its promise while it runs, missed once it ended."""
    live = alerts.live_of(run)
    promise = r["predicted_makespan_s"]
    if live is None or not promise or not live["will_miss"]:
        return ""
    late = live["predicted_makespan_s"] - promise
    if live["final"]:
        return f"Missed its promise by {late:.2f} s ({live['predicted_makespan_s']:.2f} s for {promise:.2f} s)."
    return (
        f"Predicted to miss its promise by {late:.2f} s (predicted {live['predicted_makespan_s']:.2f} s, "
        f"promise {promise:.2f} s)."
    )


@login_required
@require_GET
def run_detail(request, run_id: int):
    run = _run_or_404(request, run_id)
    version = run_sel.live_status(run)["version"]  # the page refetches its panels when this changes
    return render(request, "webui/run_detail.html", _run_body_context(run) | {"version": version})


@login_required
@require_GET
def run_body(request, run_id: int):
    """The run page's content alone, fetched by the page while the run is live."""
    run = _run_or_404(request, run_id)
    return render(request, "webui/_run_body.html", _run_body_context(run))


@login_required
@require_GET
def run_live(request, run_id: int):
    run = _run_or_404(request, run_id)
    data = run_sel.live_status(run)
    data["colors"] = {n: figures.status_color(s) for n, s in data["states"].items()}
    return JsonResponse(data)


# --- workflows -------------------------------------------------------------------------------------


def _workflow_or_404(request, workflow_id: int):
    wf = wf_sel.visible_workflow(request.user, workflow_id)
    if wf is None:
        raise Http404("no such workflow")
    return wf


@login_required
@require_GET
def workflows(request):
    return render(request, "webui/workflows.html", {"workflows": run_sel.visible_workflows(request.user)})


@login_required
@require_GET
def workflow_analysis(request, workflow_id: int):
    wf = _workflow_or_404(request, workflow_id)
    a = wf_sel.workflow_analysis(request.user, wf)
    figs = {}
    if a["done"]:
        figs = figures_context(
            makespan=figures.box_figure(a["makespans"], y_title="makespan (s)", markers=a["promises"]),
            sla=figures.sla_success_figure(a["sla_success"]) if any(g["judged"] for g in a["sla_success"]) else None,
            errors=figures.prediction_error_figure(a["errors"]) if a["errors"] else None,
            gb=figures.box_figure(a["gb_seconds"], y_title="GB-seconds") if a["gb_seconds"] else None,
            breakdown=figures.time_breakdown_by_group_figure(a["breakdown"]),
        )
        o = opt_sel.workflow_optimizations(a["succeeded"])
        figs |= figures_context(
            warmcold=opt_figures.startups_figure(o["startups"]) if o["startups"] else None,
            pings=opt_figures.prewarm_scatter_figure(o["pings"]) if o["pings"] else None,
            preload=opt_figures.preload_starts_figure(o["preload_starts"]) if o["preload_starts"] else None,
            optcounts=opt_figures.median_counts_figure(o["median_counts"])
            if any(o["median_counts"].values())
            else None,
            onoff=opt_figures.on_off_figure(o["on_off"]) if o["on_off"] else None,
        )
    else:
        o = None
    durations = selectors.duration_percentiles(request.user, wf.pk)
    return render(request, "webui/workflow.html", {"a": a, "wf": wf, "figs": figs, "o": o, "durations": durations})


@login_required
@require_GET
def preview(request, workflow_id: int):
    wf = _workflow_or_404(request, workflow_id)
    refused = preview_refusal(request)  # it plans: counted as the REST preview is
    if refused is not None:
        return refused
    chosen = request.GET.getlist("sla") or list(SLA_SUGGESTIONS[1:3])
    slas, errors = wf_sel.parse_slas(chosen)
    try:
        previews.check_count(len(planning.names()), len(slas))  # the REST preview's limit, not more
    except SubmissionError as exc:
        slas, errors = [], errors + [str(exc)]
    rows = wf_sel.preview_plans(request.user, wf, slas) if slas else []
    placed = [r for r in rows if r["makespan"] is not None]
    figs = figures_context(pareto=figures.pareto_figure(placed)) if placed else {}
    return render(
        request,
        "webui/preview.html",
        {
            "wf": wf,
            "rows": rows,
            "slas": slas,
            "errors": errors,
            "figs": figs,
            "placed": len(placed),
            "suggestions": SLA_SUGGESTIONS,
            "planners": planning.names(),
        },
    )


# --- launch and experiments ------------------------------------------------------------------------


@login_required
def launch(request):
    form = LaunchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            handle, _ = runner.submit_library(
                d["workflow"], planner=d["planner"], sla=d["sla"], params=d["params"], owner=request.user
            )
        except SubmissionError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        except RedisUnavailable as exc:
            form.add_error(None, str(exc))
        except ValueError as exc:  # the library workflow rejected its parameters while building
            form.add_error("params", str(exc))
        else:
            return redirect("webui:run", run_id=handle.id)
    library = [{"name": n, "description": wf.description, "params": wf.params} for n, wf in form.library.items()]
    return render(
        request,
        "webui/launch.html",
        {
            "form": form,
            "library": library,
            "sla_suggestions": SLA_SUGGESTIONS,
            # Queues no worker consumes: runs planned there would wait (checked on GET only, it takes 0.5 s).
            "unserved": sorted(set(router.all_queues()) - served_queues(timeout_s=0.5))
            if request.method == "GET"
            else [],
            "defaults": {item["name"]: " ".join(f"{k}={v}" for k, v in item["params"].items()) for item in library},
        },
    )


def experiments(request):
    """Campaigns, the form that launches one, and SLA success over all the user's runs."""
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            exp = execute.create(
                form.cleaned_data["campaign"],
                out_dir=execute.default_out_dir(),
                owner=request.user,
                name=form.cleaned_data.get("name") or "",
            )
        except design.CampaignError as exc:
            form.add_error(None, str(exc))
        else:
            execute.launch_in_background(exp)
            return redirect("webui:experiment", experiment_id=exp.pk)
    res = wf_sel.experiment_results(request.user)
    figs = figures_context(matrix=figures.sla_matrix_figure(res["overall"])) if res["judged"] else {}
    return render(
        request,
        "webui/experiments.html",
        {
            "res": res,
            "figs": figs,
            "form": form,
            "page": Paginator(selectors.visible_experiments(request.user), 50).get_page(request.GET.get("page")),
        },
    )


experiments = login_required(require_http_methods(["GET", "POST"])(experiments))


def _experiment_or_404(request, experiment_id: int):
    try:
        return selectors.visible_experiments(request.user).get(pk=experiment_id)
    except Experiment.DoesNotExist:
        raise Http404(f"no experiment {experiment_id}") from None


@login_required
@require_GET
def experiment(request, experiment_id: int):
    exp = _experiment_or_404(request, experiment_id)
    rows = results.rows(exp)
    return render(
        request,
        "webui/experiment.html",
        {
            "exp": exp,
            "cells": results.cells(rows),
            "facts": results.campaign_facts(exp, rows),
            "figures": report.figure_payloads(rows),
            "active": exp.status in ("pending", "running"),
        },
    )


@login_required
@require_GET
def experiment_csv(request, experiment_id: int):
    exp = _experiment_or_404(request, experiment_id)
    buf = io.StringIO()
    results.write_csv_to(buf, results.rows(exp))
    response = HttpResponse(buf.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="experiment-{exp.pk}-results.csv"'
    return response
