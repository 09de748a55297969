"""Running slaflow on this machine: a local cluster of workers, simulated hosts in network namespaces, an
embedded Redis, a Lambda-compatible endpoint. Tools for development, tests and benchmarks (top layer)."""
