"""The app's stacks side by side, each a short file that only wires constructs together (the
constructs stay grouped by concern in ``modules/``)."""
