"""Forms of the web UI: launching a library workflow and choosing SLAs to compare."""

from __future__ import annotations

from django import forms
from django.core.validators import ProhibitNullCharactersValidator

from orchestrator import planning
from orchestrator.core import sla as sla_mod
from orchestrator.services import submissions
from slaflow import workflows

SLA_SUGGESTIONS = ("average", "p50", "p90", "p95", "p99")


def parse_params_text(text: str) -> dict[str, str]:
    """'n=64 size=2' or one pair per line → {'n': '64', 'size': '2'}; names the malformed pair."""
    out = {}
    for pair in text.replace(",", " ").split():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise forms.ValidationError(f"{pair!r} is not name=value")
        out[key.strip()] = value.strip()
    return out


class LaunchForm(forms.Form):
    workflow = forms.ChoiceField(help_text="A workflow from the library.")
    params = forms.CharField(
        required=False, label="parameters", help_text="name=value pairs separated by spaces; empty for the defaults."
    )
    planner = forms.ChoiceField()
    sla = forms.CharField(label="SLA", initial="p90", help_text="'average' or a percentile p1..p99.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.library = workflows.all_workflows()
        self.fields["workflow"].choices = [(n, n) for n in self.library]
        self.fields["planner"].choices = [(n, n) for n in planning.names()]
        self.fields["workflow"].initial = "tree_reduction" if "tree_reduction" in self.library else None
        self.fields["planner"].initial = "wukong"
        # A NUL in the parameters is refused by the submission checks, with the error every way in gives.
        self.fields["params"].validators = [
            v for v in self.fields["params"].validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]

    def clean_sla(self) -> str:
        try:
            return str(sla_mod.parse(self.cleaned_data["sla"]))
        except sla_mod.SLAError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        data = super().clean()
        wf = self.library.get(data.get("workflow"))
        if wf is None or "params" in self.errors:
            return data
        try:
            raw = parse_params_text(data.get("params") or "")
            data["params"] = submissions.library_params(wf.name, raw)  # REST's checks, REST's errors
        except forms.ValidationError as exc:
            self.add_error("params", exc)
        except ValueError as exc:
            self.add_error("params", str(exc))
        return data


class CampaignForm(forms.Form):
    """An SLA experiment campaign, checked by the same rules as ``run_sla_experiments``."""

    name = forms.CharField(required=False, max_length=200)
    workflows = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    planners = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    slas = forms.CharField(label="SLAs", initial="p50 p90", help_text="space-separated: average, p1..p99")
    iterations = forms.IntegerField(initial=5, min_value=1, max_value=1000, help_text="measured runs per cell")
    warmup = forms.IntegerField(
        initial=2, min_value=0, max_value=100, help_text="runs per workflow × planner that build history first"
    )
    seed = forms.IntegerField(initial=0, help_text="shuffles the order of the runs")
    params = forms.CharField(
        required=False,
        label="parameters",
        help_text="workflow:name=value,… separated by spaces, e.g. tree_reduction:n=32",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workflows"].choices = [(n, n) for n in workflows.all_workflows()]
        self.fields["planners"].choices = [(n, n) for n in planning.names()]

    def clean(self):
        from experiments.campaigns import design

        data = super().clean()
        if self.errors:
            return data
        try:
            data["campaign"] = design.parse(
                workflows=data["workflows"],
                planners=data["planners"],
                slas=data["slas"].split(),
                iterations=data["iterations"],
                warmup=data["warmup"],
                seed=data["seed"],
                params=design.parse_params((data.get("params") or "").split()),
            )
        except design.CampaignError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data
