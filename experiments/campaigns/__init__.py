"""SLA experiment campaigns: every workflow × planner × SLA, several runs each, and their report.

``design`` checks a campaign's arguments and lays out its schedule (pure),
``execute`` stores and runs it (resumable), ``results`` turns its runs into
rows and per-cell summaries, ``report`` into figures and a self-contained
HTML page. ``manage.py run_sla_experiments`` and the web UI call these.
"""
