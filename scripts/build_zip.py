"""Package ``spark_lib`` and ``jobs`` (with their resource files) into one zip for ``--py-files``.

    python scripts/build_zip.py dist/rcu.zip
"""

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_zip(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in ("spark_lib", "jobs"):
            for path in sorted((ROOT / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(ROOT))
    return target


if __name__ == "__main__":
    print(build_zip(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "dist" / "rcu.zip")))
