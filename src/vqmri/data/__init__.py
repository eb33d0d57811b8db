"""Reading MRI slices from the layouts users really have (see layouts.discover)."""
