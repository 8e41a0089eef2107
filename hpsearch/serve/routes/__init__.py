"""The service's routes, one router each: the runs API, the queue, pages and files."""
