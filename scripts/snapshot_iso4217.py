"""Snapshot the ISO 4217 currency list into ``costlake/data/iso4217_currencies.csv``.

The list is ISO's own "List one" (current currencies and funds) as the ``iso4217`` package
ships it (``iso4217/table.xml``, public domain, https://github.com/dahlia/iso4217). costlake
never imports that package: the CSV is the list, reviewed in git like any other data, and an
ingest rejects a row whose billing currency is not in it.

Rerun it to refresh the list (bump ``ISO4217_VERSION`` first), from the repository root:

    pip download --no-deps iso4217==1.16.20260101 -d /tmp/iso4217
    python3 scripts/snapshot_iso4217.py /tmp/iso4217/iso4217-1.16.20260101-py2.py3-none-any.whl
"""

from __future__ import annotations

import csv
import json
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ISO4217_VERSION = "1.16.20260101"
DATA = Path("costlake/data")


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        root = ET.fromstring(archive.read("iso4217/table.xml"))
    codes: dict[str, tuple[str, str, str]] = {}
    for entry in root.iter("CcyNtry"):
        code = entry.findtext("Ccy")
        if code:  # countries without a universal currency (Antarctica) have no code
            number = entry.findtext("CcyNbr") or ""
            minor = entry.findtext("CcyMnrUnts") or ""
            codes[code] = (number, entry.findtext("CcyNm") or "", minor)
    with open(DATA / "iso4217_currencies.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["code", "number", "name", "minor_units"])
        for code in sorted(codes):
            writer.writerow([code, *codes[code]])
    meta = {
        "source": "ISO 4217 List one (current currency and funds)",
        "published": root.get("Pblshd"),
        "package": f"iso4217=={ISO4217_VERSION}",
        "upstream": "https://github.com/dahlia/iso4217",
        "license": "Public Domain",
        "generated_by": "scripts/snapshot_iso4217.py",
        "codes": len(codes),
    }
    (DATA / "iso4217_currencies.meta.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
