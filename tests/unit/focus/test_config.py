"""costlake.yaml: sources per provider, validated on load, with errors that say where."""

from __future__ import annotations

import pytest
import yaml

from costlake.config import (
    BlobSource,
    FolderSource,
    ObjectStorageSource,
    S3Source,
    Settings,
    costlake_home,
    load_settings,
)

CONFIG = """
lake_root: s3://finops-lake/costlake
aws:
  - name: payer-eu
    kind: s3
    bucket: cur-exports-eu
    prefix: cur2
    region: eu-west-1
    profile: finops-read
  - name: mirror
    root: /data/cur-mirror
azure:
  - name: ea
    kind: blob
    account_url: https://acmecost.blob.core.windows.net
    container: exports
    prefix: exports/costlake-actual
  - name: mca
    kind: blob
    connection_string_env: MCA_EXPORTS_CONNECTION_STRING
    container: mca
gcp:
  - root: /data/gcp-billing
oci:
  - name: tenancy
    kind: object_storage
    bucket: ocid1.tenancy.oc1..aaaaexample
    prefix: reports/cost-csv/
    region: uk-london-1
    auth: instance_principal
"""


def write(tmp_path, text: str):
    path = tmp_path / "costlake.yaml"
    path.write_text(text)
    return path


def test_sources_of_every_kind_load_into_their_models(tmp_path):
    settings = load_settings(write(tmp_path, CONFIG))
    assert settings.lake_root == "s3://finops-lake/costlake"
    payer, mirror = settings.aws
    assert isinstance(payer, S3Source) and isinstance(mirror, FolderSource)
    assert (payer.bucket, payer.prefix, payer.region, payer.profile) == (
        "cur-exports-eu",
        "cur2",
        "eu-west-1",
        "finops-read",
    )
    assert mirror.root == "/data/cur-mirror"  # no kind: a folder, as before there were others
    ea, mca = settings.azure
    assert isinstance(ea, BlobSource) and ea.account_url.endswith(".blob.core.windows.net")
    assert mca.connection_string_env == "MCA_EXPORTS_CONNECTION_STRING"
    (tenancy,) = settings.oci
    assert isinstance(tenancy, ObjectStorageSource)
    assert (tenancy.namespace, tenancy.auth, tenancy.profile) == (
        "bling",  # OCI's usage-report namespace, the default
        "instance_principal",
        "DEFAULT",
    )
    assert settings.providers() == ["aws", "azure", "gcp", "oci"]


def test_without_a_file_the_demo_of_all_four_clouds_in_the_costlake_home(tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    # A settings file in the working folder is not looked for: it is not the one in use.
    write(work, "lake_root: /somewhere/else\noci: [{root: /r}]\n")
    monkeypatch.chdir(work)
    monkeypatch.delenv("COSTLAKE_CONFIG", raising=False)
    monkeypatch.setenv("COSTLAKE_HOME", str(home))
    settings = load_settings()
    assert settings.lake_root == str(home / "lake")
    assert {p: [s.root for s in settings.sources(p)] for p in settings.providers()} == {
        p: [str(home / "demo-data" / p)] for p in ("aws", "azure", "gcp", "oci")
    }
    assert settings.ai.request_logs == [str(home / "demo-data" / "ai")]
    assert settings.exchange_rates == str(home / "demo-data" / "exchange_rates.csv")
    assert settings.gpu.telemetry == [str(home / "demo-data" / "gpu")]
    assert settings.gpu.mapping == str(home / "demo-data" / "gpu" / "mapping.csv")


def test_the_costlake_home_is_the_users_data_folder_unless_set(tmp_path, monkeypatch):
    monkeypatch.delenv("COSTLAKE_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert costlake_home() == tmp_path / ".local" / "share" / "costlake"
    monkeypatch.setenv("COSTLAKE_HOME", "")  # empty is unset
    assert costlake_home() == tmp_path / ".local" / "share" / "costlake"
    monkeypatch.setenv("COSTLAKE_HOME", str(tmp_path / "elsewhere"))
    assert costlake_home() == tmp_path / "elsewhere"


def test_settings_built_without_a_file_take_relative_paths_from_the_home(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    settings = Settings(aws=[{"root": "exports/aws"}])
    assert settings.lake_root == str(tmp_path / "home" / "lake")
    assert settings.aws[0].root == str(tmp_path / "home" / "exports" / "aws")


@pytest.mark.parametrize("variable", ["COSTLAKE_HOME", "COSTLAKE_CONFIG"])
def test_a_relative_home_or_settings_file_in_the_environment_is_refused(variable, monkeypatch):
    monkeypatch.delenv("COSTLAKE_CONFIG", raising=False)
    monkeypatch.setenv(variable, "costlake")
    with pytest.raises(ValueError, match=f"\\${variable} must be an absolute path"):
        load_settings()


def test_the_environment_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTLAKE_CONFIG", str(write(tmp_path, "oci: [{root: /r}]\n")))
    assert load_settings().providers() == ["oci"]


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("azure: [{kind: s3, bucket: b}]", "azure.0", "does not match any of the expected tags"),
        ("oci: [{kind: object_storage, bucket: b, auth: keys}]", "oci.0.object_storage.auth", ""),
        ("aws: [{kind: s3}]", "aws.0.s3.bucket", "Field required"),
        ("azure: [{kind: blob, container: c}]", "azure.0.blob", "exactly one of account_url"),
        ("aws: [{root: a, bucket: b}]", "aws.0.folder.bucket", "Extra inputs are not permitted"),
        ("lakeroot: x", "lakeroot", "Extra inputs are not permitted"),
        ("aws: [{root: a}, {root: b}]", "", "aws: source name(s) default used twice"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_place(tmp_path, text, where, what):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        load_settings(path)
    message = str(error.value)
    assert message.startswith(f"{path}: invalid costlake configuration")
    assert where in message and what in message


def test_secrets_have_no_field_to_go_in(tmp_path):
    config = yaml.safe_load(CONFIG)
    config["aws"][0]["aws_secret_access_key"] = "do-not-put-me-here"
    with pytest.raises(ValueError, match="aws_secret_access_key") as error:
        load_settings(write(tmp_path, yaml.safe_dump(config)))
    assert "do-not-put-me-here" not in str(error.value)


# --- safe configuration: paths, YAML limits, errors that keep secrets -----------------------

CANARY = "Zq9-NOT-FOR-PRINTING-7f3c"  # a secret written by mistake; never shown anywhere


def test_relative_paths_are_relative_to_the_files_folder(tmp_path, monkeypatch):
    folder = tmp_path / "etc" / "costlake"
    folder.mkdir(parents=True)
    path = write(folder, "aws: [{root: exports/aws}]\nai: {request_logs: [logs]}\n")
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(path)
    # By hand: each relative path joined to the file's folder, not the working folder.
    assert settings.lake_root == str(folder / "lake")  # the default, too
    assert settings.aws[0].root == str(folder / "exports" / "aws")
    assert settings.ai.request_logs == [str(folder / "logs")]
    absolute = write(folder, "lake_root: /srv/lake\ngcp: [{root: /data/gcp}]\n")
    assert (load_settings(absolute).lake_root, load_settings(absolute).gcp[0].root) == (
        "/srv/lake",
        "/data/gcp",
    )


BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 10)}]\n" for n in range(8)
)  # 9 levels of 10: 10**9 strings once expanded, from 80 aliases (under the alias limit)


def test_a_billion_laughs_file_is_refused_before_it_is_expanded(tmp_path):
    assert BILLION_LAUGHS.count("*") == 80
    path = write(tmp_path, BILLION_LAUGHS)
    with pytest.raises(ValueError) as error:
        load_settings(path)
    assert str(error.value) == (
        f"{path}: cannot read costlake configuration: its aliases expand to more than 100000 values"
    )


def test_more_aliases_than_the_limit_are_refused_naming_the_line(tmp_path):
    text = "x: &x 1\nys:\n" + "".join("  - *x\n" for _ in range(101))
    with pytest.raises(ValueError, match=r"line 103: more than 100 YAML aliases"):
        load_settings(write(tmp_path, text))  # the 101st alias is on line 2 + 101 = 103


def test_a_few_anchors_still_load(tmp_path):
    text = (
        "anomalies:\n  groupings:\n    - &by_service [x_Provider, ServiceName]\n    - *by_service\n"
    )
    assert load_settings(write(tmp_path, text)).anomalies.groupings == [
        ("x_Provider", "ServiceName"),
        ("x_Provider", "ServiceName"),
    ]


def test_a_file_larger_than_the_limit_is_refused(tmp_path):
    path = write(tmp_path, "#" * (1024 * 1024) + "\n")
    with pytest.raises(ValueError, match="larger than 1048576 bytes"):
        load_settings(path)


def test_a_yaml_error_names_the_line_but_does_not_quote_it(tmp_path):
    path = write(tmp_path, f"aws:\n  - root: x\n    password: {CANARY}\n   bad: [\n")
    with pytest.raises(ValueError) as error:
        load_settings(path)
    message = str(error.value)
    assert message == (
        f"{path}: cannot read costlake configuration: line 4, column 4: while parsing a block "
        "collection: expected <block end>, but found '<block mapping start>'"
    )
    assert CANARY not in message
    assert error.value.__cause__ is None and error.value.__context__ is None


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        (f"aws: [{{root: a, password: {CANARY}}}]", "aws.0.folder.password", "Extra inputs"),
        (f"secret: {CANARY}", "secret", "Extra inputs"),
        (
            "azure: [{kind: blob, container: c, connection_string_env: "
            f"'DefaultEndpointsProtocol=https;AccountKey={CANARY}'}}]",
            "azure.0.blob.connection_string_env",
            "should match pattern",
        ),
        (
            f"anomalies: {{webhook_url_env: 'https://hooks.slack.com/services/T0/B0/{CANARY}'}}",
            "anomalies.webhook_url_env",
            "should match pattern",
        ),
        (
            f"lake_root: 's3://b/lake?region=eu-west-1&secret_key={CANARY}'",
            "lake_root",
            "secret_key",
        ),
        (
            "azure: [{kind: blob, container: c, "
            f"account_url: 'https://acct.blob.core.windows.net/?sv=2022-11-02&sig={CANARY}'}}]",
            "azure.0.blob.account_url",
            "parameter(s) sig, sv in the URL are refused",
        ),
        (
            "azure: [{kind: blob, container: c, "
            f"account_url: 'https://acct.blob.core.windows.net/?comp={CANARY}'}}]",
            "azure.0.blob",
            "must not carry a query (a SAS token)",
        ),
        (
            f"aws: [{{kind: s3, bucket: b, endpoint_url: 'https://me:{CANARY}@s3.example'}}]",
            "aws.0.s3.endpoint_url",
            "user info",
        ),
        (f"untagged_share: {{warn: {CANARY}}}", "untagged_share.warn", "valid number"),
        (f"aws: [{{kind: s3, bucket: {{token: {CANARY}}}}}]", "aws.0.s3.bucket", "valid string"),
    ],
)
def test_an_invalid_file_never_echoes_a_value(tmp_path, text, where, what):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as error:
        load_settings(path)
    message = str(error.value)
    assert message.startswith(f"{path}: invalid costlake configuration:\n")
    assert where in message and what in message
    assert CANARY not in message
    # Not chained either: Dagster keeps an exception's causes in its run records.
    assert error.value.__cause__ is None and error.value.__suppress_context__
