"""gateway part of the CFD exchange."""
