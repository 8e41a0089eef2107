"""`hpsearch serve`: a web service over a results folder (pages, JSON API, study queue)."""
