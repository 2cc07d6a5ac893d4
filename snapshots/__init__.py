"""snapshots part of the CFD exchange."""
