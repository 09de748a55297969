"""Serve plotly.js from the installed ``plotly`` package as the static file ``webui/plotly.min.js``.

No CDN (machines may be offline) and no copy in the repository: the file
always matches the installed plotly, and ``runserver``, the test live server
and ``collectstatic`` all find it through the ordinary staticfiles finders.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

STATIC_PATH = "webui/plotly.min.js"


def plotly_js_path() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class PlotlyJsFinder(BaseFinder):
    def check(self, **kwargs):
        from django.core.checks import Error

        if not plotly_js_path().is_file():
            return [
                Error(f"plotly.js not found at {plotly_js_path()}; reinstall the 'plotly' package", id="webui.E001")
            ]
        return []

    def find(self, path, find_all=False, **kwargs):
        if os.path.normpath(path) != os.path.normpath(STATIC_PATH):
            return [] if find_all else None
        found = str(plotly_js_path())
        return [found] if find_all else found

    def list(self, ignore_patterns):
        # collectstatic copies storage "plotly.min.js" to "<prefix>/plotly.min.js" = STATIC_PATH.
        storage = FileSystemStorage(location=str(plotly_js_path().parent))
        storage.prefix = os.path.dirname(STATIC_PATH)
        yield os.path.basename(STATIC_PATH), storage
