"""What a running process shares with the engines: stop requests (`interrupt`), liveness
of cluster processes (`heartbeat`) and what trained a run (`provenance`)."""
