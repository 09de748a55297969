"""Values in Django's Redis cache as JSON, never pickle.

Django's Redis backend pickles every non-integer value; anything that can
write to Redis could then run code in the web process on the next read. The
cache only holds plain data here (throttle histories), so JSON is enough.
"""

from __future__ import annotations

import json


class JSONSerializer:
    def dumps(self, obj):
        # Plain integers stay raw so the backend's incr()/decr() keep working.
        if type(obj) is int:
            return obj
        return json.dumps(obj, separators=(",", ":")).encode("utf-8")

    def loads(self, data):
        try:
            return int(data)
        except ValueError:
            return json.loads(data)
