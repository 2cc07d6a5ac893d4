"""poller part of the CFD exchange."""
