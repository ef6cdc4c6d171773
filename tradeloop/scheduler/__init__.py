"""APScheduler wiring (``jobs``), the cycle boundary that classifies failures (``boundary``) and the
risk stops (``risk``)."""
