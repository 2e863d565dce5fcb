"""A scanner pool that cannot start its workers is an outage (503, nothing judged), never a 500 and never
a verdict. Reproduced for real: the fork server binds a Unix socket under TMPDIR, and a socket path longer
than the kernel's 107 bytes cannot be bound (it happened to a pod whose TMPDIR was a deep path)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from mirror.blobs.scanning import ScanLimits, ScanRunner
    from mirror.errors import ScannerUnavailable

    async def main() -> None:
        runner = ScanRunner(ScanLimits(timeout_s=30, memory_mb=512, workers=1, max_waiting=4,
                                       max_waiting_per_repo=4, workers_per_repo=1))
        try:
            await runner.scan(Path(sys.argv[1]), name_hint="model.safetensors")
        except ScannerUnavailable as exc:
            print("unavailable", exc.status, exc.headers.get("Retry-After"), exc.message)
        else:
            print("scanned")
        finally:
            await runner.close()

    asyncio.run(main())
    """
)


def test_a_pool_that_cannot_start_is_a_retryable_outage(tmp_path: Path) -> None:
    sample = tmp_path / "model.safetensors"
    sample.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    deep = tmp_path / ("d" * 100) / ("e" * 100)
    deep.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(sample)],
        env={"TMPDIR": str(deep), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    verdict, status, retry_after, message = done.stdout.strip().split(" ", 3)
    assert (verdict, status, retry_after) == ("unavailable", "503", "30")
    assert "AF_UNIX path too long" in message
