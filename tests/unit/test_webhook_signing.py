"""nexus.webhooks.verify: True only for a valid signature in time; False, never an exception, otherwise."""

from __future__ import annotations

import pytest

from nexus.webhooks import sign, verify

SECRET = b"whsec-test"
BODY = b'{"id":"evt_1"}'
NOW = 1_764_151_200


def test_a_signature_made_with_the_secret_verifies_within_the_tolerance() -> None:
    assert verify(SECRET, sign(SECRET, NOW, BODY), BODY, now=NOW + 299)
    assert not verify(SECRET, sign(SECRET, NOW, BODY), BODY, now=NOW + 301)
    assert not verify(b"other", sign(SECRET, NOW, BODY), BODY, now=NOW)
    assert not verify(SECRET, sign(SECRET, NOW, BODY), BODY + b" ", now=NOW)


GOOD = sign(SECRET, NOW, BODY)
DIGEST = GOOD.split("v1=")[1]


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t=,v1=",
        f"v1={DIGEST}",
        f"t={NOW}",
        f"t={NOW},v1=é{DIGEST[1:]}",  # non-ASCII in the signature: compare_digest raised TypeError
        f"t={NOW},v1={DIGEST}é",
        f"t=١٧٦٤١٥١٢٠٠,v1={DIGEST}",  # Arabic-Indic digits: int() reads them
        f"t= {NOW},v1={DIGEST}",
        f"t=+{NOW},v1={DIGEST}",
        f"t={NOW},v1={DIGEST.upper()}",
        f"t={NOW},v1={DIGEST[:-1]}",
        f"t={NOW},v1={DIGEST}0",
        "t=9" * 10_000,
    ],
)
def test_any_malformed_header_is_false_never_an_exception(header: str) -> None:
    assert verify(SECRET, header, BODY, now=NOW) is False
