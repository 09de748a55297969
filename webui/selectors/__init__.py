"""Reads for the web UI (no writes): ``runs`` for one run and run lists, ``workflows`` across runs."""
