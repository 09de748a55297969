"""Benchmarks: slaflow's runtime side by side with Dask (``manage.py bench runtime``)."""
