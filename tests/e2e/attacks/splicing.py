"""What a client holding a partial file of unverified bytes gets when it asks for the rest."""

from __future__ import annotations

from tests.e2e.http import Answer, request


def assert_resume_starts_over(url: str, *, held: int, genuine: bytes) -> None:
    """A resume (`bytes=held-`) gets the whole genuine file from byte 0: the client starts again
    (huggingface_hub truncates its partial file on a 200; curl -C fails). Never the missing tail, which
    would complete the unverified prefix into a file nobody verified."""
    resume = request("GET", url, headers={"Range": f"bytes={held}-"})
    assert resume.status == 200
    assert resume.header("Content-Range") is None
    assert resume.body == genuine


def assert_window_refused(url: str, *, start: int) -> Answer:
    """A `bytes=a-b` window inside the prefix is refused (download managers fill partial files that way)."""
    window = request("GET", url, headers={"Range": f"bytes={start}-{start + 99}"})
    assert window.status == 409
    assert window.header("X-Error-Code") == "RangeRefused"
    return window
