"""Figures and analysis over plain run records: what the web UI's pages and the SLA campaigns' report files draw
(plotly figures, medians and spreads, Pareto fronts). Pure: no database, no Redis; callers hand it rows."""
