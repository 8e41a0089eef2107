"""A run: its folder (`rundir`), opening or resuming it and running the engines (`runner`),
the live files (`live`), the console (`progress`, `status`) and joining as a worker (`worker`)."""
