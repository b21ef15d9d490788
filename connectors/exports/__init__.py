"""Each cloud's delivery layout: manifests, execution folders, invoice months, landing."""
