"""Passwords never show: not in errors, not in ``redis_url``, not in any ``repr``,
whether given in the user-info part of the URL or in its query string."""

from __future__ import annotations

import pytest
from servers import RedisServer, free_port

from tablevault_redis import TableVaultError, Vault, VaultClient
from tablevault_redis.connection import connect, redact

SECRET = "Zq9secretPW"


def test_redact_masks_every_form():
    assert redact("redis://bob:pw@h:1/0") == "redis://bob:***@h:1/0"
    assert redact("redis://h:1/0") == "redis://h:1/0"
    assert redact(f"redis://h:1/0?password={SECRET}&db=1") == "redis://h:1/0?password=***&db=1"
    assert (
        redact(f"redis+sentinel://u:{SECRET}@a:1,b:2/svc?sentinel_password={SECRET}")
        == "redis+sentinel://u:***@a:1,b:2/svc?sentinel_password=***"
    )
    assert SECRET not in redact(f"redis://u:{SECRET}@{SECRET}@h:1/0")


def _bad_urls() -> list[str]:
    closed = free_port()
    return [
        f"redis://bob:{SECRET}@127.0.0.1:{closed}/0",
        f"redis://127.0.0.1:{closed}/0?password={SECRET}",
        f"redis://bob:{SECRET}@127.0.0.1:notaport/0",
        f"redis://127.0.0.1:{closed}/abc?password={SECRET}",
        f"redis://127.0.0.1:{closed}/0?password={SECRET}&socket_timeout=soon",
        f"redis+sentinel://u:{SECRET}@127.0.0.1:{closed}/svc?sentinel_password={SECRET}",
        f"redis+sentinel://u:{SECRET}@127.0.0.1:{closed}/svc/x",
        f"http://u:{SECRET}@127.0.0.1:{closed}/0",
    ]


@pytest.mark.parametrize("url", _bad_urls())
def test_errors_name_the_url_but_not_the_password(url, clean_env):
    with pytest.raises(TableVaultError) as info:
        VaultClient(url)
    text = str(info.value)
    assert SECRET not in text and SECRET not in repr(info.value), text
    assert "\n" not in text and "127.0.0.1" in text, text
    assert "<redis" not in text and "object at 0x" not in text, text  # no client reprs


def test_malformed_urls_are_validation_errors(clean_env):
    from tablevault_redis import ValidationError

    for url in ("redis://h:notaport/0", "redis://h:1/abc", "redis://h:99999/0"):
        with pytest.raises(ValidationError, match="malformed Redis URL") as info:
            connect(url)
        assert url.split("/")[2].split(":")[0] in str(info.value)


def test_a_wrong_query_string_password_is_masked(namespace):
    with RedisServer({"requirepass": SECRET}) as server:
        wrong = f"redis://127.0.0.1:{server.port}/0?password=x{SECRET}"
        with pytest.raises(TableVaultError) as info:
            VaultClient(wrong, namespace)
        assert SECRET not in str(info.value) and "refused access" in str(info.value)

        url = f"redis://127.0.0.1:{server.port}/0?password={SECRET}"
        with VaultClient(url, namespace) as client:
            shown = [client.redis_url, repr(client), repr(client._conn)]
            vault = Vault("u", "p", redis_url=url, namespace=namespace)
            try:
                shown += [vault.redis_url, repr(vault)]
            finally:
                vault.close()
        for text in shown:
            assert SECRET not in text and "password=***" in text, text
