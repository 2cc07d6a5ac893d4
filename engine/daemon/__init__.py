"""The engine daemon: the imperative shell around the core (Redis Streams, snapshots, metrics).

Run it with ``python -m engine``; ``python -m engine --help`` lists every setting.
"""
