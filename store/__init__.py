"""The output store: where task outputs live once they leave their branch.

Tiers behind one interface (``store.tiers``): small outputs in Redis, big ones
in the producing host's shared memory (``store.shm``), mapped without a copy
by readers on that host and fetched from its data server (``store.server``)
by readers on other hosts; Redis keeps their locations, sizes and checksums
(``store.locations``).

This package sits just above the core data modules: it imports
``orchestrator.core.codec``, the Redis keys and client (``store.keys``,
``store.redis_client``) and nothing above them.
"""
