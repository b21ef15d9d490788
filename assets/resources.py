"""The Dagster resource that hands assets the validated costlake settings."""

from dagster import ConfigurableResource

from costlake.config import Settings, load_settings
from costlake.focus.lake import Lake
from costlake.tags.rules import TagRules, load_tag_rules


class CostlakeResource(ConfigurableResource):
    """Settings file to use (empty: ``$COSTLAKE_CONFIG``, else the built-in settings).

    The path is its only configuration: the settings are read by each step, never copied into
    run config, tags or metadata, which Dagster keeps in its run records."""

    config_path: str = ""

    def settings(self) -> Settings:
        """The validated settings."""
        return load_settings(self.config_path or None)

    def lake(self) -> Lake:
        """The lake the settings point at."""
        return Lake(self.settings().lake_root)

    def tag_rules(self) -> TagRules:
        """The tag rules the settings name, or the shipped default."""
        return load_tag_rules(self.settings().tags)
