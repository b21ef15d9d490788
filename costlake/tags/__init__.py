"""Tag governance: rules that normalize each cloud's tags, and the tag coverage marts."""
