"""One module per compared service; see ../run.py for the interface."""
