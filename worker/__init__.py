"""worker part of the CFD exchange."""
