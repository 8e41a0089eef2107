"""The study: what a study file says (`config`), its checker (`schema`), the search space
(`space`) and one trial's record (`trials`)."""
