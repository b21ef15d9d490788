"""The one list of cost-allocation tag keys: each has its own lake columns (``x_tag_<key>``)."""

# The mandatory keys every taggable charge should carry, then the recommended ones.
MANDATORY_TAG_KEYS = ("project", "environment", "cost_center", "workload_type", "model")
RECOMMENDED_TAG_KEYS = ("team", "owner", "budget_code")
TAG_KEYS = MANDATORY_TAG_KEYS + RECOMMENDED_TAG_KEYS
