"""HERE Data API client against the fake HERE platform (real HTTP on loopback)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evlog._errors import UsageError
from evlog._sources._http import ApiError, AuthError, RetryPolicy
from evlog._sources.here_api import (
    DataApiClient,
    OAuthTokenProvider,
    StaticToken,
    oauth1_authorization,
    oauth1_signature,
    parse_properties,
    read_credentials,
    token_provider,
)
from tests.fakes.here_server import ACCESS_KEY_ID, FakeHere, credentials_text

HRN = "hrn:here:data::olp-here:evcp2-updates-prd"
LAYER = "evse-update-stream"
FAST = RetryPolicy(attempts=4, base_s=0.01, cap_s=0.05)


@pytest.fixture
def fake() -> Iterator[FakeHere]:
    here = FakeHere(batch_size=5)
    with here.serve():
        yield here


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def _credentials(tmp_path: Path, fake: FakeHere) -> Path:
    path = tmp_path / "credentials.properties"
    path.write_text(credentials_text(f"{fake.url}/oauth2/token"))
    return path


def _api(fake: FakeHere, http: httpx.Client, tmp_path: Path) -> DataApiClient:
    tokens = OAuthTokenProvider(read_credentials(_credentials(tmp_path, fake)), http, retry=FAST)
    return DataApiClient(HRN, LAYER, tokens, client=http, lookup_url=fake.lookup_url, retry=FAST)


def test_signature_matches_rfc5849_by_hand() -> None:
    params = {"grant_type": "client_credentials", "oauth_consumer_key": "k", "oauth_nonce": "n",
              "oauth_signature_method": "HMAC-SHA256", "oauth_timestamp": "1",
              "oauth_version": "1.0"}  # fmt: skip
    base = (
        "POST&https%3A%2F%2Faccount.api.here.com%2Foauth2%2Ftoken&"
        "grant_type%3Dclient_credentials%26oauth_consumer_key%3Dk%26oauth_nonce%3Dn%26"
        "oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1%26oauth_version%3D1.0"
    )
    key = b"s%2Fx%3D&"  # percent(secret) + "&", no token secret
    expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()
    assert oauth1_signature(
        "POST", "https://account.api.here.com/oauth2/token", params, "s/x="
    ) == (expected)
    header = oauth1_authorization(
        "POST", "https://a.example/t", "k", "s", {"grant_type": "client_credentials"},
        nonce="n", timestamp=1,
    )  # fmt: skip
    assert header.startswith("OAuth ") and 'oauth_signature_method="HMAC-SHA256"' in header
    assert "grant_type" not in header  # body parameters are signed, not sent in the header


def test_properties_file(tmp_path: Path) -> None:
    props = parse_properties("# c\n! c\na.b = 1\nc:2\nd 3\ne=x=y\\\n  z\nf=\\ta\n")
    assert props == {"a.b": "1", "c": "2", "d": "3", "e": "x=yz", "f": "\ta"}
    with pytest.raises(UsageError, match="cannot read"):
        read_credentials(tmp_path / "nope.properties")
    (tmp_path / "partial").write_text("here.access.key.id=x\n")
    with pytest.raises(UsageError, match=r"here\.access\.key\.secret"):
        read_credentials(tmp_path / "partial")


def test_token_env(http: httpx.Client) -> None:
    assert token_provider(None, "TOK", http, {"TOK": "abc"}).token() == "abc"
    with pytest.raises(UsageError, match="TOK is not set"):
        token_provider(None, "TOK", http, {})


def test_token_exchange_and_refresh(fake: FakeHere, http: httpx.Client, tmp_path: Path) -> None:
    now = [1_000_000.0]
    fake.token_lifetime_s = 100
    creds = read_credentials(_credentials(tmp_path, fake))
    assert creds.access_key_id == ACCESS_KEY_ID and "secret" not in repr(creds).replace(
        "secret=***", ""
    )
    tokens = OAuthTokenProvider(creds, http, retry=FAST, clock=lambda: now[0])
    first = tokens.token()
    assert first in fake.tokens and fake.bad_signatures == 0
    now[0] += 50
    assert tokens.token() == first  # still fresh
    now[0] += 45  # within the refresh margin (10 % of 100 s) of expiry
    assert tokens.token() != first and tokens.fetched == 2


def test_bad_secret_is_a_clear_auth_error(
    fake: FakeHere, http: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "bad.properties"
    path.write_text(credentials_text(f"{fake.url}/oauth2/token").replace("odd&chars", "wrong"))
    tokens = OAuthTokenProvider(read_credentials(path), http, retry=FAST)
    with pytest.raises(AuthError, match="token request: HTTP 401"):
        tokens.token()
    assert fake.bad_signatures == 1


def test_stream_calls(fake: FakeHere, http: httpx.Client, tmp_path: Path) -> None:
    for i in range(3):
        fake.add(0, f"m{i}".encode(), 1_700_000_000_000 + i)
    fake.add(1, b"big", 1_700_000_000_000, handle=True)
    api = _api(fake, http, tmp_path)
    sub = api.subscribe("g")
    messages = api.partitions(sub)
    assert [m["offset"]["offset"] for m in messages] == [0, 1, 2, 0]
    assert base64.b64decode(messages[0]["metaData"]["data"]) == b"m0"
    assert api.fetch_blob(messages[3]["metaData"]["dataHandle"]) == b"big"
    api.commit(sub, {0: 2, 1: 0})
    assert fake.committed["g"] == {0: 2, 1: 0}
    assert api.partitions(sub) == []
    api.unsubscribe(sub)
    assert fake.subscriptions == {}
    assert fake.calls["lookup"] == 2  # stream v2 and blob v1, each looked up once


def test_retries_then_success(fake: FakeHere, http: httpx.Client, tmp_path: Path) -> None:
    fake.add(0, b"x", 1)
    fake.fail("token", 503)
    fake.fail("subscribe", 429, 503)
    fake.fail("partitions", 502)
    api = _api(fake, http, tmp_path)
    sub = api.subscribe()
    assert len(api.partitions(sub)) == 1
    assert fake.calls["subscribe"] == 3 and fake.calls["partitions"] == 2


def test_retries_are_bounded(fake: FakeHere, http: httpx.Client, tmp_path: Path) -> None:
    fake.fail("subscribe", *[503] * 10)
    with pytest.raises(ApiError, match=r"gave up after 4 tries \(HTTP 503\)"):
        _api(fake, http, tmp_path).subscribe()


def test_rejected_token(fake: FakeHere, http: httpx.Client, tmp_path: Path) -> None:
    api = DataApiClient(
        HRN, LAYER, StaticToken("not-valid"), client=http, lookup_url=fake.lookup_url, retry=FAST
    )
    with pytest.raises(AuthError, match="lookup stream/v2: HTTP 401"):
        api.subscribe()
    fake.fail("subscribe", 403)
    with pytest.raises(AuthError, match="subscribe: HTTP 403"):
        _api(fake, http, tmp_path).subscribe()


def test_expired_token_is_renewed_once(fake: FakeHere, http: httpx.Client, tmp_path: Path) -> None:
    api = _api(fake, http, tmp_path)
    sub = api.subscribe()
    fake.tokens.clear()  # the service forgets the token: 401, then a new token works
    assert api.partitions(sub) == []
    assert len(fake.tokens) == 1


def test_network_error_retried_then_reported(http: httpx.Client) -> None:
    with _closed_port() as url:
        api = DataApiClient(HRN, LAYER, StaticToken("t"), client=http, lookup_url=url, retry=FAST)
        with pytest.raises(ApiError, match="gave up after 4 tries \\(ConnectError"):
            api.subscribe()


class _closed_port:
    """A loopback URL nothing listens on."""

    def __enter__(self) -> str:
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        return f"http://127.0.0.1:{self.port}/lookup/v1"

    def __exit__(self, *exc: object) -> None:
        pass
