"""Run the public FOCUS validator (PyPI ``focus-validator``) on a Parquet file from the tests.

The validator needs Python >= 3.12 and pins ``numpy<2``, so it cannot share the project's
3.11 venv: it lives in ``<repo>/.venv-validator`` (made by ``scripts/setup_validator_env.sh``)
and is driven here as a subprocess. This is a helper module, not a test file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
VALIDATOR_ENV_VAR = "COSTLAKE_FOCUS_VALIDATOR"
DEFAULT_VALIDATOR = REPO_ROOT / ".venv-validator" / "bin" / "focus-validator"
FOCUS_VERSION = "1.2"
TIMEOUT_SECONDS = 600

# Without applicability criteria the validator skips every rule gated by one, with its
# children: 441 of 578 rules are skipped, among them all of Tags, SkuId, SkuPriceId,
# SkuPriceDetails, ListUnitPrice, ContractedUnitPrice, ConsumedQuantity, Commitment*,
# Region*, Resource*, SubAccount*, PricingCurrency*. With "ALL" 210 are skipped (mostly the
# 165 "Dynamic" rules, which the validator never runs).
STRICT_CRITERIA = "ALL"

# Rules of the 1.2.0.1 rule model that fail on correct data, so they are not reported:
# - InvoiceId-C-004-C / -C-005-C ("MUST be null when not invoiced" / "MUST NOT be null when
#   invoiced") are checked without their conditions: one of the pair always fails.
# - CommitmentDiscountStatus-C-004-C's condition is inverted in the model (it demands a
#   status where CommitmentDiscountId IS null), contradicting -C-003-C.
# - CapacityReservationStatus-C-004-C's condition is malformed in the model and ignored,
#   so it demands a status on every row, contradicting -C-003-C.
# Composite rules that fail only because of these are not reported either (see _reportable).
ACCEPTED_FAILURES = frozenset(
    {
        "InvoiceId-C-004-C",
        "InvoiceId-C-005-C",
        "CommitmentDiscountStatus-C-004-C",
        "CapacityReservationStatus-C-004-C",
    }
)

# The validator opens this path relative to its working directory.
_CURRENCY_CODES = Path("focus_validator") / "rules" / "currency_codes.csv"

# Without LOGGING_CONFIG the validator appends a DEBUG log to its cwd (site-packages); this
# sends warnings and worse to stderr instead, so a crash report can quote them.
_LOGGING_YAML = """\
version: 1
disable_existing_loggers: false
formatters:
  plain:
    format: "%(levelname)s %(name)s: %(message)s"
handlers:
  stderr:
    class: logging.StreamHandler
    stream: ext://sys.stderr
    formatter: plain
    level: WARNING
root:
  level: WARNING
  handlers: [stderr]
"""


class FocusValidatorError(RuntimeError):
    """The validator could not be run, crashed, or wrote no usable report."""


def validator_executable() -> Path | None:
    """Return the ``focus-validator`` entry point to use, or None when there is none.

    ``$COSTLAKE_FOCUS_VALIDATOR`` (a path, or a command name on PATH) wins over the repo's
    ``.venv-validator``; an explicit setting that points nowhere gives None rather than
    silently falling back to another validator.
    """
    configured = os.environ.get(VALIDATOR_ENV_VAR, "").strip()
    if configured:
        found = shutil.which(configured)
        return Path(found) if found else None
    if DEFAULT_VALIDATOR.is_file() and os.access(DEFAULT_VALIDATOR, os.X_OK):
        return DEFAULT_VALIDATOR
    return None


def _site_packages(executable: Path) -> Path:
    """Find the site-packages folder holding the validator, its required working directory."""
    venv = executable.parent.parent
    for candidate in sorted(venv.glob("lib/python3*/site-packages")):
        if (candidate / _CURRENCY_CODES).is_file():
            return candidate
    # Not a plain venv layout: ask the interpreter named in the entry point's shebang.
    lines = executable.read_text(encoding="utf-8", errors="replace").splitlines()
    if lines and lines[0].startswith("#!"):
        probe = subprocess.run(
            [
                *lines[0][2:].split(),
                "-c",
                "import focus_validator, pathlib; "
                "print(pathlib.Path(focus_validator.__file__).parent.parent)",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        candidate = Path(probe.stdout.strip())
        if probe.returncode == 0 and (candidate / _CURRENCY_CODES).is_file():
            return candidate
    raise FocusValidatorError(f"cannot find focus_validator's site-packages for {executable}")


def _model_rules(site_packages: Path) -> dict[str, Any]:
    """The validator's bundled rule model for FOCUS_VERSION (empty if it cannot be found)."""
    rules_dir = site_packages / "focus_validator" / "rules"
    models = sorted(rules_dir.glob(f"model-{FOCUS_VERSION}.*.json"))
    if not models:
        return {}
    return json.loads(models[-1].read_text(encoding="utf-8")).get("ModelRules", {})


def _referenced_rules(node: Any) -> set[str]:
    """The rule ids a composite rule's requirement is built from."""
    if isinstance(node, list):
        return set().union(*(_referenced_rules(item) for item in node))
    if not isinstance(node, dict):
        return set()
    found = set().union(*(_referenced_rules(value) for value in node.values()))
    if node.get("CheckFunction") == "CheckModelRule" and "ModelRuleId" in node:
        found.add(node["ModelRuleId"])
    return found


def _read_report(report: Path) -> list[tuple[str, str, str]]:
    """Return (rule id, "failure" | "error", message) for each failed rule in the JUnit XML."""
    try:
        root = ET.parse(report).getroot()
    except ET.ParseError as exc:
        raise FocusValidatorError(f"unreadable validator report {report}: {exc}") from exc
    testcases = root.findall(".//testcase")
    if not testcases:
        raise FocusValidatorError(f"validator report {report} holds no rule results")
    failed = []
    for testcase in testcases:
        rule_id = testcase.get("name", "?").split(" :: ", 1)[0]
        for outcome in (*testcase.findall("failure"), *testcase.findall("error")):
            failed.append((rule_id, outcome.tag, outcome.get("message") or ""))
    return failed


def _reportable(failed: list[tuple[str, str, str]], rules: dict[str, Any]) -> list[str]:
    """Keep the root causes: drop accepted model bugs and the failures that only follow others.

    Dropped: composite rules with a failed child rule (the child is listed, or accepted), and
    errors of rules that did not run because a rule upstream of them failed.
    """
    failed_ids = {rule_id for rule_id, _, _ in failed}
    reportable = []
    for rule_id, kind, message in failed:
        criteria = rules.get(rule_id, {}).get("ValidationCriteria", {})
        failed_children = _referenced_rules(criteria.get("Requirement")) & failed_ids
        upstream_failed = kind == "error" and "Upstream dependency failed" in message
        if rule_id in ACCEPTED_FAILURES or failed_children or upstream_failed:
            continue
        # The report's own message is only e.g. "Nullability check for X": add the rule text.
        must = criteria.get("MustSatisfy", "")
        reportable.append(f"{rule_id} [{kind}]: {' | '.join(filter(None, (must, message)))}")
    return reportable


def focus_validation_failures(
    parquet_path: Path, *, applicability_criteria: str | None = STRICT_CRITERIA
) -> list[str]:
    """Validate a Parquet file against FOCUS 1.2 and return its failed rules.

    Each entry is ``"<rule id> [failure|error]: <rule text> | <validator message>"``; errors
    are rules the validator could not run (e.g. a missing column). Accepted model bugs
    (ACCEPTED_FAILURES) are left out. ``applicability_criteria`` is passed to the validator
    (comma-separated criteria, "ALL", or None for the validator's default of skipping every
    conditional rule). The validator exits 0 even when rules fail, so the verdict is read
    from its JUnit report; a crash or a missing report raises FocusValidatorError, a missing
    validator FileNotFoundError.
    """
    executable = validator_executable()
    if executable is None:
        raise FileNotFoundError(
            f"no focus-validator: set ${VALIDATOR_ENV_VAR} or run scripts/setup_validator_env.sh"
        )
    data_file = Path(parquet_path).resolve()
    if not data_file.is_file():
        raise FileNotFoundError(data_file)
    site_packages = _site_packages(executable)
    with tempfile.TemporaryDirectory(prefix="focus-validator-") as tmp:
        report = Path(tmp) / "report.xml"
        logging_config = Path(tmp) / "logging.yaml"
        logging_config.write_text(_LOGGING_YAML, encoding="utf-8")
        command = [
            str(executable),
            "--data-file",
            str(data_file),
            "--validate-version",
            FOCUS_VERSION,
            "--block-download",
            "--output-type",
            "unittest",
            "--output-destination",
            str(report),
        ]
        if applicability_criteria:
            command += ["--applicability-criteria", applicability_criteria]
        try:
            run = subprocess.run(
                command,
                cwd=site_packages,
                env={**os.environ, "LOGGING_CONFIG": str(logging_config)},
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise FocusValidatorError(f"focus-validator timed out after {exc.timeout}s") from exc
        output = (run.stdout + run.stderr).strip()[-4000:]
        if run.returncode != 0:
            raise FocusValidatorError(
                f"focus-validator exited {run.returncode} on {data_file}:\n{output}"
            )
        if not report.is_file():
            raise FocusValidatorError(f"focus-validator wrote no report for {data_file}:\n{output}")
        failed = _read_report(report)
    return _reportable(failed, _model_rules(site_packages))
