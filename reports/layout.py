"""DAG layout by topological layers (pure): x = layer, y = slot within the layer.

Within a layer nodes are ordered by the mean slot of their upstream nodes
(one barycenter pass, which untangles trees and fan-ins), ties kept in the
given structural order, never by name. Layers are centred on y = 0.

      a ─┐
         ├─ c        layer 0: a, b     layer 1: c
      b ─┘
"""

from __future__ import annotations

from typing import Mapping, Sequence


def layered_positions(
    order: Sequence[str], levels: Mapping[str, int], upstream: Mapping[str, Sequence[str]]
) -> dict[str, tuple[float, float]]:
    """Positions for nodes given in topological ``order`` with their ``levels`` and upstream ids.

    >>> layered_positions(["a", "b", "c"], {"a": 0, "b": 0, "c": 1}, {"c": ["a", "b"]})
    {'a': (0.0, 0.5), 'b': (0.0, -0.5), 'c': (1.0, 0.0)}
    """
    layers: dict[int, list[str]] = {}
    for nid in order:
        layers.setdefault(levels[nid], []).append(nid)
    slot: dict[str, float] = {}
    pos: dict[str, tuple[float, float]] = {}
    for level in sorted(layers):
        members = layers[level]
        rank = {nid: i for i, nid in enumerate(members)}

        def key(nid: str) -> tuple[float, int]:
            ups = [slot[u] for u in upstream.get(nid, ()) if u in slot]
            return (sum(ups) / len(ups) if ups else float(rank[nid]), rank[nid])  # noqa: B023 (sorted right below)

        members = sorted(members, key=key) if level else members
        n = len(members)
        for i, nid in enumerate(members):
            slot[nid] = float(i)
            # Top to bottom, centred: the first node gets the largest y.
            pos[nid] = (float(level), (n - 1) / 2 - i)
    return pos
