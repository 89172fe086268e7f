"""Regenerate the built-in profiles from the shipped certificates.

    python -m fleetsim.profiles.build          # rewrite builtin/<id>.json
    python -m fleetsim.profiles.build --check  # exit 1 if any file would change

Each ``certificates/*.txt`` is parsed and written to ``builtin/<id>.json``.
Silent by design (this package never prints): the exit status tells.  A test
re-runs the rendering and compares, so the committed files cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fleetsim.profiles.builtin import encode_profile
from fleetsim.profiles.certificate import parse_certificate

PACKAGE_DIR = Path(__file__).parent
CERTIFICATES_DIR = PACKAGE_DIR / "certificates"
BUILTIN_DIR = PACKAGE_DIR / "builtin"


def render_all(certificates_dir: Path = CERTIFICATES_DIR) -> dict[str, bytes]:
    """File name -> content of every built-in profile, from the certificates."""
    rendered: dict[str, bytes] = {}
    for certificate in sorted(certificates_dir.glob("*.txt")):
        profile = parse_certificate(certificate.read_text(encoding="utf-8")).profile
        name = f"{profile.id}.json"
        if name in rendered:
            raise ValueError(f"{certificate.name}: profile id {profile.id!r} is already taken")
        rendered[name] = encode_profile(profile)
    return rendered


def stale_files(builtin_dir: Path = BUILTIN_DIR) -> list[str]:
    """Built-in files that differ from what the certificates give (or are extra)."""
    rendered = render_all()
    existing = {path.name: path.read_bytes() for path in builtin_dir.glob("*.json")}
    return sorted(name for name in rendered.keys() | existing.keys() if rendered.get(name) != existing.get(name))


def write_all(builtin_dir: Path = BUILTIN_DIR) -> list[Path]:
    rendered = render_all()
    builtin_dir.mkdir(exist_ok=True)
    for stale in builtin_dir.glob("*.json"):
        if stale.name not in rendered:
            stale.unlink()
    written = []
    for name, content in rendered.items():
        path = builtin_dir / name
        path.write_bytes(content)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        return 1 if stale_files() else 0
    if argv:
        return 2
    write_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
