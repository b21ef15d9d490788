"""A small state file a connector keeps between runs (what it learnt of a store), in the lake.

State lives beside the data it describes, so a run started in a fresh container, or from
another working folder, finds what the last one learnt; losing it only costs a longer listing.
"""

from __future__ import annotations

from dataclasses import dataclass

from costlake.focus.lake import Lake


@dataclass(frozen=True)
class StateFile:
    """The text file ``relative`` (under ``state/``) of ``lake``."""

    lake: Lake
    relative: str

    def read(self) -> str | None:
        """The file's text, or None before the first write."""
        return self.lake.read_text(self.relative)

    def write(self, text: str) -> None:
        """Replace the file whole (a reader sees the old text or the new, never a part)."""
        self.lake.write_text(self.relative, text)
