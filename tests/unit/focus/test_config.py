"""costlake.yaml: sources per provider, validated on load, with errors that say where."""

from __future__ import annotations

import pytest
import yaml

from costlake.config import (
    BlobSource,
    FolderSource,
    ObjectStorageSource,
    S3Source,
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


def test_without_a_file_the_demo_folders_of_all_four_clouds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTLAKE_CONFIG", raising=False)
    settings = load_settings()
    assert settings.lake_root == "lake"
    assert {p: [s.root for s in settings.sources(p)] for p in settings.providers()} == {
        "aws": ["demo-data/aws"],
        "azure": ["demo-data/azure"],
        "gcp": ["demo-data/gcp"],
        "oci": ["demo-data/oci"],
    }


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
    with pytest.raises(ValueError, match="aws_secret_access_key"):
        load_settings(write(tmp_path, yaml.safe_dump(config)))
