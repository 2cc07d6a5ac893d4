"""The CFD engine: a pure, deterministic state machine (core) and the daemon around it."""
