"""One readable mapping per cloud (aws, azure, gcp, oci) from its exports to FOCUS rows."""
