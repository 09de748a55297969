"""Layer 1, core: slaflow's data and vocabulary (graphs, specs, states, configurations); imports nothing of
slaflow above it."""
