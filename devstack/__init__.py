"""Local Redis and PostgreSQL servers for tests and `make up`: real binaries, private ports."""
