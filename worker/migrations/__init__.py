"""SQL migrations of the worker, shipped as package data and applied by worker.migrate."""
